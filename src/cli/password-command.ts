// --password-command CMD (msmtp's passwordeval): the secret is the first line of a command's output.
// Kept in its own module so that the account file's `passwordeval` runs the same code.
import { spawn } from "node:child_process";
import { CliError } from "./common.js";
import { EXIT } from "./exit-codes.js";

/** A password manager or token helper that has not answered in a minute is not going to. */
const COMMAND_TIMEOUT_MS = 60_000;
/** A password or token is a line; more output than this is not a password command. */
const MAX_OUTPUT = 64 * 1024;

/**
 * Runs `command` with /bin/sh (as msmtp does), with no stdin and its stderr passed through (a password
 * manager may prompt there), and resolves with the first line of its stdout. A command that fails, times
 * out or prints nothing is a configuration error (78); the message names `label` and the exit status, and
 * never quotes the output.
 */
export function runPasswordCommand(command: string, label = "--password-command"): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new CliError(EXIT.CONFIG, `${label}: ${why}`));
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLong = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) {
        tooLong = true;
        child.kill("SIGKILL");
      } else chunks.push(chunk);
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(`could not run /bin/sh (${error.code ?? error.name})`);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (tooLong) return fail(`the command printed more than ${MAX_OUTPUT} bytes`);
      if (signal !== null)
        return fail(`the command was ended by ${signal} (it has ${COMMAND_TIMEOUT_MS / 1000} s)`);
      if (code !== 0) return fail(`the command failed (exit status ${code})`);
      const line = Buffer.concat(chunks).toString("utf8").split(/\r?\n/, 1)[0] ?? "";
      if (line === "") return fail("the command printed nothing");
      resolve(line);
    });
  });
}

// Where a password comes from besides a prompt: a command's output (--password-command, msmtp's
// passwordeval) or the desktop keyring through secret-tool, looked up with msmtp's attributes so that a
// password msmtp stored is found. Secrets never pass through the command line of a process we start.
import { spawn } from "node:child_process";
import { CliError } from "./common.js";
import { EXIT } from "./exit-codes.js";

/** A password command may wait for gpg-agent's pinentry; a user answers within two minutes. */
const COMMAND_TIMEOUT_MS = 120_000;
/** secret-tool answers from the session's keyring daemon, or not at all. */
const KEYRING_TIMEOUT_MS = 15_000;
/** Far more than any password or access token; a command printing more is not a password command. */
const MAX_OUTPUT = 64 * 1024;

interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
}

/** Runs `file args` (no shell) or `sh -c command`, stdin closed, with a deadline and bounded output. */
function run(file: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: CommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) child.kill("SIGKILL");
      else into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error: NodeJS.ErrnoException) =>
      finish({ code: null, signal: null, stdout: "", stderr: "", error }),
    );
    child.on("close", (code, signal) =>
      finish({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
  });
}

/**
 * The first line of `command`'s standard output, run by /bin/sh with stdin closed (msmtp: passwordeval
 * "must not mess with standard input"). `source` names it in errors ("--password-command",
 * "passwordeval (~/.msmtprc:12)"). Any failure is a configuration error (78) that says what happened;
 * the output itself is never quoted.
 */
export async function passwordFromCommand(command: string, source: string): Promise<string> {
  const result = await run("/bin/sh", ["-c", command], COMMAND_TIMEOUT_MS);
  const fail = (what: string): never => {
    throw new CliError(EXIT.CONFIG, `${source} failed: ${what}`);
  };
  if (result.error) fail(`cannot run /bin/sh: ${result.error.code ?? result.error.message}`);
  if (result.signal === "SIGKILL")
    fail(`no answer within ${COMMAND_TIMEOUT_MS / 1000} s, or more than ${MAX_OUTPUT} bytes of output`);
  if (result.code !== 0) {
    const said = firstLine(result.stderr);
    fail(
      `exit status ${result.code ?? result.signal}${said ? ` (${said.slice(0, 200)})` : ""}; run the command by hand to see why`,
    );
  }
  const password = firstLine(result.stdout);
  if (password === "") fail("it printed nothing on its standard output");
  return password;
}

/**
 * The password the keyring holds for `host`/`user` under msmtp's attributes (`host H service smtp user U`,
 * as `secret-tool store --label=msmtp host H service smtp user U` stores it), or undefined when secret-tool
 * is not installed or holds none. A keyring that fails in another way is a configuration error.
 */
export async function passwordFromKeyring(host: string, user: string): Promise<string | undefined> {
  const result = await run(
    "secret-tool",
    ["lookup", "host", host, "service", "smtp", "user", user],
    KEYRING_TIMEOUT_MS,
  );
  if (result.error?.code === "ENOENT") return undefined;
  if (result.error) throw new CliError(EXIT.CONFIG, `secret-tool failed: ${result.error.code}`);
  if (result.signal === "SIGKILL")
    throw new CliError(
      EXIT.CONFIG,
      `secret-tool lookup did not answer within ${KEYRING_TIMEOUT_MS / 1000} s`,
    );
  // secret-tool exits 1 with no output when nothing matches
  if (result.code === 1 && result.stdout === "") return undefined;
  if (result.code !== 0) {
    const said = firstLine(result.stderr).slice(0, 200);
    throw new CliError(
      EXIT.CONFIG,
      `secret-tool lookup failed: exit status ${result.code ?? result.signal}${said ? ` (${said})` : ""}`,
    );
  }
  const password = firstLine(result.stdout);
  return password === "" ? undefined : password;
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0] ?? "";
}

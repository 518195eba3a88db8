// What the sendmail-mode tests share: a private directory with account files, running a program with a
// message on stdin, and the delivered messages' headers.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, type Run } from "../helpers/cli-runner.js";
import { type PostfixServer, startPostfix } from "../helpers/servers/postfix.js";

/**
 * The Postfix harness with AUTH for `users` and a submission port, keeping Bcc headers: Postfix drops them
 * itself by default (message_drop_headers), which would hide a Bcc that smtpkit failed to remove.
 */
export function startPostfixKeepingBcc(users: Record<string, string>): Promise<PostfixServer> {
  return startPostfix({
    auth: { users },
    submission: true,
    mainCf: { message_drop_headers: "content-length, return-path" },
  });
}

/** A temporary directory (removed by `remove`), with a `sendmail` symlink to the built CLI. */
export function workDir(prefix: string): { dir: string; sendmail: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755); // the Postfix harness's helpers (git, mutt) run as root anyway; others may read
  const sendmail = join(dir, "sendmail");
  symlinkSync(BIN, sendmail);
  return { dir, sendmail, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes an account file (mode 0600 unless told) and returns its path. */
export function writeConfig(dir: string, name: string, lines: string[], mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join("\n")}\n`, { mode });
  chmodSync(file, mode); // the umask does not apply to chmod
  return file;
}

/** Runs `file args` with `input` on stdin and `env` added; killed after 60 s. */
export function runProgram(
  file: string,
  args: string[],
  options: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // a program that exits before reading all of stdin
    child.stdin.end(options.input ?? "");
  });
}

/** The header block of a delivered message (text up to the first empty line), unfolded lines. */
export function headerLines(message: Buffer): string[] {
  const text = message.toString("utf8");
  const end = text.search(/\r?\n\r?\n/);
  return (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/);
}

/** The value of the first header called `name`, or undefined. */
export function header(message: Buffer, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}:`;
  const line = headerLines(message).find((l) => l.toLowerCase().startsWith(prefix));
  return line?.slice(prefix.length).trim();
}

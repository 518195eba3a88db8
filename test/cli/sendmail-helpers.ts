// What the sendmail-mode tests share: a private directory with account files, and the delivered messages'
// headers. (Running a program with a message on stdin: runProgram in test/helpers/cli-runner.ts.)
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "../helpers/cli-runner.js";
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

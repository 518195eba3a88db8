// Runs the BUILT command (dist/cli/main.js, from `npm run build`) in a child process and collects its
// exit status and output. Resolved from this module, so it works from test/ (tsx) and from build-test/
// (compiled).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { fixturePath } from "./servers/common.js";

/** The repository root: the nearest folder above this file whose package.json is smtpkit's (works from
 * test/ under tsx and from build-test/test/ compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "smtpkit")
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("smtpkit's package.json not found above the test file");
    dir = parent;
  }
}

/** The repository root (package.json, README.md, dist/). */
export const REPO_ROOT = repoRoot();
/** The built CLI's entry point. */
export const BIN = join(REPO_ROOT, "dist", "cli", "main.js");
/** The test CA's certificate file, for `--tls-ca`. */
export const CA_FILE = fixturePath("ca.pem");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a child program gets: stdin (text, bytes, or a stream piped in), environment additions, a working
 * directory, and how long it may run before it is killed. */
export interface RunOptions {
  input?: string | Buffer | Readable;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `file args` (no shell) with `input` on stdin and `env` added to this process's environment;
 * killed after `timeoutMs` (60 s unless told). */
export function runProgram(file: string, args: string[], options: RunOptions = {}): Promise<Run> {
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
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // a program that exits before reading all of stdin
    const input = options.input ?? "";
    if (input instanceof Readable) input.pipe(child.stdin);
    else child.stdin.end(input);
  });
}

/** Runs `smtpkit ...args` (the built CLI, under this Node); killed after 30 s unless told. */
export function smtpkit(args: string[], options: RunOptions = {}): Promise<Run> {
  return runProgram(process.execPath, [BIN, ...args], { timeoutMs: 30_000, ...options });
}

/** Exactly one line on stderr (the failure report). */
export function oneLine(run: Run): string {
  const lines = run.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${run.stderr}`);
  return lines[0]!;
}

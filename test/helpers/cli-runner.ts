// Runs the BUILT command (dist/cli/main.js, from `npm run build`) in a child process and collects its
// exit status and output. Resolved from this module, so it works from test/ (tsx) and from build-test/
// (compiled).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
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

/** The built CLI's entry point. */
export const BIN = join(repoRoot(), "dist", "cli", "main.js");
/** The test CA's certificate file, for `--tls-ca`. */
export const CA_FILE = fixturePath("ca.pem");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `smtpkit ...args` (with `env` added to this process's environment and `input` on stdin); killed
 * after 30 s. */
export function smtpkit(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Exactly one line on stderr (the failure report). */
export function oneLine(run: Run): string {
  const lines = run.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${run.stderr}`);
  return lines[0]!;
}

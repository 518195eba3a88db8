// Runs the memory child (test/interop/memory-child.ts) in its own process with --expose-gc, so that the peak
// RSS it reports is the client's own, and parses the one JSON line it prints.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("../interop/memory-child.js", import.meta.url));

/** What the memory child prints: peak RSS (KiB), arrayBuffers alive right after a forced gc(), the reply. */
export interface MemoryChildResult {
  maxRSS: number;
  arrayBuffersAfterGc: number;
  code?: number;
  seconds?: number;
  chunking?: boolean;
}

/** `args` as the child's usage line says ("baseline", or PORT MODE SOURCE ...); killed after `timeoutMs`. */
export async function runMemoryChild(args: string[], timeoutMs: number): Promise<MemoryChildResult> {
  const child = spawn(process.execPath, ["--expose-gc", CHILD, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d;
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  assert.equal(status, 0, err);
  return JSON.parse(out.trim().split("\n").pop()!) as MemoryChildResult;
}

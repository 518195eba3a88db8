// Runs the memory child (test/interop/memory-child.ts) in its own process with --expose-gc, so that the peak
// RSS it reports is the client's own, and parses the one JSON line it prints.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("../interop/memory-child.js", import.meta.url));

/**
 * What the memory child prints: peak RSS (KiB), the most array-buffer memory (octets) alive after a
 * complete collection, the final reply code, the seconds the send took, whether CHUNKING was offered.
 */
export interface MemoryChildResult {
  maxRSS: number;
  liveArrayBuffers: number;
  code?: number;
  seconds?: number;
  chunking?: boolean;
}

const MIB = 1024 * 1024;

/** Peak RSS over a baseline, in MiB. */
export function rssGrowthMiB(result: MemoryChildResult, baseline: MemoryChildResult): number {
  return (result.maxRSS - baseline.maxRSS) / 1024;
}

/** One line of figures for the test's output and its failure messages. */
export function describeRun(label: string, result: MemoryChildResult, baseline: MemoryChildResult): string {
  const rate = result.seconds ? `, ${(200 / result.seconds).toFixed(0)} MiB/s` : "";
  return (
    `${label}: peak RSS ${(result.maxRSS / 1024).toFixed(1)} MiB (baseline ${(baseline.maxRSS / 1024).toFixed(1)}, ` +
    `+${rssGrowthMiB(result, baseline).toFixed(1)}), array buffers alive after gc ${(result.liveArrayBuffers / MIB).toFixed(1)} MiB${rate}`
  );
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

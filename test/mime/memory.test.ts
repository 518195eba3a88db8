// A 200 MiB attachment from a file on disk (fresh buffers per read, as a file stream gives) is read while the
// message is written, with and without DKIM (which reads the file twice): peak RSS stays near a bare process
// that loaded smtpkit, and no buffer survives a forced gc(). The client runs in its own process (the shared
// memory child of test/interop, mode mail|mail-dkim) against Postfix's smtp-sink.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, waitForListening } from "../helpers/servers/common.js";

const SMTP_SINK = "/usr/sbin/smtp-sink";
const MIB = 1024 * 1024;
const SIZE = 200 * MIB;
const CHILD = fileURLToPath(new URL("../interop/memory-child.js", import.meta.url));
/**
 * The issue asks for +16 MiB. The data path's own memory test (test/interop/memory.test.ts) explains why a
 * fresh-buffer stream cannot be held to that on a shared machine (the garbage of one gc interval; a bare loop
 * piping a file into a socket measures about +35 MiB) and asserts 24 MiB: the same bound here, measured the
 * same way. Holding the attachment would cost 270+ MiB (its base64), which both bounds catch.
 */
const RSS_BOUND_MIB = 24;
const ARRAY_BUFFERS_BOUND_MIB = 16;

interface ChildResult {
  maxRSS: number;
  arrayBuffersAfterGc: number;
  code?: number;
  seconds?: number;
}

async function runChild(args: string[]): Promise<ChildResult> {
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
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  assert.equal(status, 0, err);
  return JSON.parse(out.trim().split("\n").pop()!) as ChildResult;
}

describe("memory: a 200 MiB attachment from disk through smtp-sink", () => {
  let sink: ChildProcess;
  let port: number;
  let dir: string;
  let file: string;
  let baseline: ChildResult;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "smtpkit-mime-memory-"));
    file = join(dir, "big.bin");
    const fd = openSync(file, "w");
    const block = Buffer.alloc(MIB);
    for (let i = 0; i < SIZE / MIB; i++) {
      for (let j = 0; j < MIB; j += 4) block.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j);
      writeSync(fd, block);
    }
    closeSync(fd);
    port = await freePort();
    sink = spawn(SMTP_SINK, ["-u", "nobody", `127.0.0.1:${port}`, "16"], { stdio: "ignore" });
    await waitForListening(port, 5000);
    baseline = await runChild(["baseline"]);
  });
  after(() => {
    sink.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ["mail", "mail-dkim"]) {
    it(`sendMail() with the file as attachment${mode === "mail-dkim" ? ", DKIM-signed (RSA + Ed25519)" : ""}`, async () => {
      const result = await runChild([String(port), mode, "file", file]);
      assert.equal(result.code, 250);
      const growth = (result.maxRSS - baseline.maxRSS) / 1024;
      const retained = result.arrayBuffersAfterGc / MIB;
      console.log(
        `# 200 MiB attachment${mode === "mail-dkim" ? " + DKIM" : ""}: peak RSS ${(result.maxRSS / 1024).toFixed(1)} MiB ` +
          `(baseline ${(baseline.maxRSS / 1024).toFixed(1)}, +${growth.toFixed(1)}), arrayBuffers after gc ` +
          `${retained.toFixed(1)} MiB, ${(200 / result.seconds!).toFixed(0)} MiB/s`,
      );
      assert.ok(growth < RSS_BOUND_MIB, `peak RSS grew by ${growth.toFixed(1)} MiB`);
      assert.ok(retained < ARRAY_BUFFERS_BOUND_MIB, `${retained.toFixed(1)} MiB of buffers survived gc()`);
    });
  }
});

// A 200 MiB attachment from a file on disk (fresh buffers per read, as a file stream gives) is read while the
// message is written: the sending process's peak RSS stays within 16 MiB of a bare node that loaded smtpkit,
// with and without DKIM (which reads the file twice). The client runs in a child process, so its maxRSS is its
// own, against Postfix's smtp-sink.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort, waitForListening } from "../helpers/servers/common.js";
import { ed25519Key, rsaKey } from "./verifiers.js";

const SMTP_SINK = "/usr/sbin/smtp-sink";
const MIB = 1024 * 1024;
const SIZE = 200 * MIB;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || dir.endsWith("build-test")) dir = dirname(dir);
  return dir;
}

function runChild(code: string): Record<string, number> {
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    timeout: 180_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

describe("memory: a 200 MiB attachment from disk through smtp-sink", () => {
  let sink: ChildProcess;
  let port: number;
  let dir: string;
  let file: string;
  const index = pathToFileURL(join(repoRoot(), "dist", "index.js")).href;
  let baseline: number;

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
    baseline = runChild(`await import(${JSON.stringify(index)});
      console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }));`).maxRSS!;
  });
  after(() => {
    sink.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const dkim of [false, true]) {
    it(`peak RSS within 16 MiB of a bare process${dkim ? ", DKIM-signed (RSA + Ed25519)" : ""}`, () => {
      const keys = dkim ? [rsaKey(2048), ed25519Key()] : [];
      const sent = runChild(`
        const { sendMail } = await import(${JSON.stringify(index)});
        const keys = ${JSON.stringify(keys.map((k) => k.pem))};
        const started = process.hrtime.bigint();
        const result = await sendMail({
          host: "127.0.0.1", port: ${port}, security: "none",
          from: "a@example.test", to: "b@example.test", subject: "200 MiB",
          text: "see attachment", html: "<p>see attachment</p>",
          attachments: [{ path: ${JSON.stringify(file)} }],
          dkim: keys.map((privateKey, i) => ({ domainName: "example.test", keySelector: "s" + i, privateKey })),
        });
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, code: result.reply.code, seconds }));
      `);
      assert.equal(sent.code, 250);
      const growthMiB = (sent.maxRSS! - baseline) / 1024;
      console.log(
        `# 200 MiB attachment${dkim ? " + DKIM" : ""}: peak RSS ${(sent.maxRSS! / 1024).toFixed(1)} MiB, baseline ` +
          `${(baseline / 1024).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB, ${(200 / sent.seconds!).toFixed(0)} MiB/s`,
      );
      assert.ok(growthMiB < 16, `peak RSS grew by ${growthMiB.toFixed(1)} MiB`);
    });
  }
});

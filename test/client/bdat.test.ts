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
const WINDOW = BDAT_WINDOW;

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

/** `count` pieces of exactly one BDAT chunk each, each a fresh buffer; `before(i)` runs before piece i. */
async function* pieces(count: number, before?: (i: number) => Promise<void>): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    await before?.(i);
    yield Buffer.alloc(CHUNK, `pc ${i % 10}  \r\n`); // 8 octets a line: no line crosses a piece
  }
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

  it(`at most ${WINDOW} chunks wait for their reply: the next one waits for the oldest`, async () => {
    const transcript: string[] = [];
    const frames = WINDOW + 4;
    // The server answers nothing until it has read WINDOW + 1 chunks (the client may not wait for fewer),
    // then pauses, so an unbounded client would have written every chunk before the first reply.
    const { smtp, server } = await session(
      [
        ...Array.from({ length: WINDOW + 1 }, (): Step => ({ bdat: true })),
        { wait: 200 },
        { send: "250 ok\r\n".repeat(WINDOW + 1) },
        { bdat: true, reply: "250 ok\r\n" },
        { bdat: true, reply: "250 ok\r\n" },
        { bdat: true, reply: "250 2.0.0 done\r\n" },
      ],
      (entry) => transcript.push(`${entry.direction} ${entry.line}`),
    );
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], pieces(frames));
    assert.equal(result.reply.text, "done");
    await server.done;
    assert.equal(server.messages.length, frames);
    const afterEnvelope = transcript.slice(transcript.findIndex((l) => l.startsWith("C RCPT")) + 2);
    const firstReply = afterEnvelope.findIndex((l) => l.startsWith("S "));
    const commandsBefore = afterEnvelope.slice(0, firstReply).filter((l) => l.startsWith("C BDAT"));
    assert.equal(commandsBefore.length, WINDOW + 1, afterEnvelope.join("\n"));
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
});

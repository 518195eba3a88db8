// A pipelined BDAT transaction to a real Postfix (CHUNKING) must not stall on a delayed ACK. smtpd reads
// in 4 KiB pieces and answers MAIL/RCPT before its first read of chunk data; when the client had already
// written the whole message in that flight, it had nothing to carry the ACK of those replies (delayed up
// to 40 ms on Linux), and smtpd (Nagle on) held the final reply until that ACK: about 43 ms per message
// from the fifth message on, against 3-5 ms with DATA. Now a flight larger than ONE_FLIGHT_OCTETS settles
// its envelope first (the chunks carry the ACK), and the transcript shows it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTP } from "../../src/index.js";
import type { TranscriptEntry } from "../../src/types.js";
import { connectTo } from "../helpers/script-server.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";

const MESSAGES = 30;

/** A message of about `size` octets, different per send (fresh buffers, as a real caller's). */
function message(i: number, size: number): Buffer {
  const head = `From: <a@example.test>\r\nTo: <b@example.test>\r\nSubject: message ${i}\r\n\r\n`;
  const line = `Line of message ${i}: the quick brown fox jumps over the lazy dog again.\r\n`;
  return Buffer.from(head + line.repeat(Math.ceil((size - head.length) / line.length)));
}

describe("BDAT to Postfix: no delayed-ACK stall per message", { skip: postfixUnavailableReason() }, () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({ starttls: false });
  });
  after(async () => {
    await postfix?.stop();
  });

  it(`${MESSAGES} messages of 100 KiB through sendRaw on one connection: well under 40 ms each`, async () => {
    const transcript: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: "client.example", logger: (entry) => transcript.push(entry) });
    assert.equal(await smtp.connect(await connectTo(postfix.port)), true);
    assert.ok(smtp.getServerOptions().includes("CHUNKING"));
    const messages = Array.from({ length: MESSAGES }, (_, i) => message(i, 100 * 1024));
    const started = performance.now();
    for (const m of messages) await smtp.sendRaw("a@example.test", ["b@example.test"], m);
    const perMessage = (performance.now() - started) / MESSAGES;
    await smtp.close();
    // Before the fix: 35-45 ms on average (43 ms from the fifth message on); after: 3-6 ms, and under a
    // shared machine's load well below 20.
    assert.ok(perMessage < 20, `${perMessage.toFixed(1)} ms per message`);
    // The structure that avoids it: the envelope's replies come before the chunk is written.
    const lines = transcript.map((e) => `${e.direction} ${e.line}`);
    const bdat = lines.findIndex((l) => /^C BDAT \d+ LAST$/.test(l));
    const firstRcpt = lines.findIndex((l) => l.startsWith("C RCPT"));
    const rcptReply = lines.findIndex((l, i) => i > firstRcpt && l.startsWith("S 250"));
    assert.ok(rcptReply >= 0 && rcptReply < bdat, lines.slice(0, 20).join("\n"));
    await postfix.waitForDelivery(MESSAGES, 30_000);
  });

  it("a small message still goes in one flight: MAIL, RCPT and BDAT LAST before any reply", async () => {
    const transcript: string[] = [];
    const smtp = new SMTP({
      clientName: "client.example",
      logger: (e) => transcript.push(`${e.direction} ${e.line}`),
    });
    assert.equal(await smtp.connect(await connectTo(postfix.port)), true);
    const from = transcript.length;
    await smtp.sendRaw("a@example.test", ["b@example.test"], message(0, 1024));
    await smtp.close();
    const flight = transcript.slice(from, from + 5);
    assert.deepEqual(
      flight.map((l) => l.split(" ").slice(0, 2).join(" ")),
      ["C MAIL", "C RCPT", "C BDAT", "C <1062", "S 250"],
      transcript.join("\n"),
    );
  });
});

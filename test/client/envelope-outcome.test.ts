// What a reply (or its absence) to a pipelined MAIL/RCPT means for the outcome (issue 9 item 3): a 421
// among the envelope replies is a temporary failure at that stage carrying the reply, never "delivery
// unknown", even when the server then closes and a write fails; delivery is unknown only when the
// connection is lost with an envelope reply missing after the end of data (BDAT LAST) was written.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SMTP } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { connectTo, greetAndEhlo, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";

async function session(extensions: string[], steps: Step[]): Promise<SMTP> {
  const server = await start([...greetAndEhlo(extensions, NAME), ...steps]);
  const socket = await connectTo(server.port);
  const smtp = new SMTP({ clientName: NAME });
  assert.equal(await smtp.connect(socket), true);
  return smtp;
}

/** 4 MiB of text in fresh 64 KiB buffers: the client is still writing when the server goes. */
async function* bigMessage(): AsyncGenerator<Buffer> {
  yield Buffer.from("Subject: big\r\n\r\n");
  for (let i = 0; i < 64; i++) yield Buffer.alloc(65536, `line ${i} of a long message\r\n`);
}

describe("envelope replies decide the outcome, not the lost connection", () => {
  it("PIPELINING: 421 to a RCPT, then the server closes: ECONNECTION at RCPT with the 421, delivery known", async () => {
    const smtp = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "RCPT TO:<c@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n421 4.7.0 too many errors\r\n" },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net", "c@example.net"], "Subject: x\r\n\r\nx\r\n"),
      "ECONNECTION",
      "RCPT",
    );
    assert.equal(error.reply?.code, 421);
    assert.match(error.message, /too many errors/);
    assert.equal(error.deliveryUnknown, false);
    assert.equal(error.temporary, true);
  });

  it("PIPELINING: MAIL accepted, then the connection is lost before any RCPT reply: ECONNECTION at RCPT, delivery known", async () => {
    const smtp = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "RCPT TO:<c@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n" },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net", "c@example.net"], "Subject: x\r\n\r\nx\r\n"),
      "ECONNECTION",
      "RCPT",
    );
    assert.equal(error.deliveryUnknown, false);
    assert.equal(error.temporary, true);
  });

  it("CHUNKING: 421 to the RCPT of a streamed message, then the server closes: the 421 at RCPT", async () => {
    const smtp = await session(
      ["PIPELINING", "CHUNKING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { send: "250 ok\r\n421 4.7.0 closing\r\n" },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], bigMessage()),
      "ECONNECTION",
      "RCPT",
    );
    assert.equal(error.reply?.code, 421);
    assert.equal(error.deliveryUnknown, false);
  });

  it("CHUNKING: MAIL refused, then the server closes mid-data: EENVELOPE at MAIL with the reply", async () => {
    const smtp = await session(
      ["PIPELINING", "CHUNKING"],
      [{ expect: "MAIL FROM:<a@example.org>" }, { send: "451 4.3.0 try later\r\n" }, { destroy: true }],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], bigMessage()),
      "EENVELOPE",
      "MAIL",
    );
    assert.equal(error.reply?.code, 451);
    assert.equal(error.deliveryUnknown, false);
    assert.equal(error.temporary, true);
  });

  it("CHUNKING: lost with no reply while the chunks are written, before BDAT LAST: stage BDAT, not delivery unknown", async () => {
    const smtp = await session(
      ["PIPELINING", "CHUNKING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        // a stream's envelope is settled before its chunks (ONE_FLIGHT_OCTETS)
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n250 ok\r\n" },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], bigMessage()),
      "ECONNECTION",
      "BDAT",
    );
    assert.equal(error.deliveryUnknown, false);
  });

  it("CHUNKING: lost with an envelope reply missing after BDAT LAST went in the flight: END, delivery unknown", async () => {
    const smtp = await session(
      ["PIPELINING", "CHUNKING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { bdat: true, reply: "250 ok\r\n" },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], "Subject: x\r\n\r\nx\r\n"),
      "ECONNECTION",
      "END",
    );
    assert.equal(error.deliveryUnknown, true);
  });
});

// A streamed sendRaw reports the Message-ID found in the message's header block (issue 9 item 10), and
// sends the message byte for byte as it came (the header block peeked is replayed).
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { SMTP } from "../../src/index.js";
import { connectTo, greetAndEhlo, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";

/** One pipelined transaction from a@example.org to b@example.net, the message accepted. */
const oneTransaction = (): Step[] => [
  ...greetAndEhlo(["PIPELINING"], NAME),
  { expect: "MAIL FROM:<a@example.org>" },
  { expect: "RCPT TO:<b@example.net>" },
  { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
  { data: true, reply: "250 2.0.0 queued\r\n" },
];

describe("sendRaw with a stream", () => {
  it("reports the stream's Message-ID and sends every byte", async () => {
    const server = await start(oneTransaction());
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(await connectTo(server.port)), true);
    const parts = ["Subject: streamed\r\nMessage-ID: <", "abc.123@client.example>\r\n\r\n", "body\r\n"];
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], Readable.from(parts));
    assert.equal(result.messageId, "<abc.123@client.example>");
    await server.done;
    assert.equal(server.messages[0], `${parts.join("")}.\r\n`);
  });

  it("a stream without a header block: messageId is empty", async () => {
    const server = await start(oneTransaction());
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(await connectTo(server.port)), true);
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], Readable.from(["just text\n"]));
    assert.equal(result.messageId, "");
    await server.done;
    assert.equal(server.messages[0], "just text\r\n.\r\n");
  });
});

import assert from "node:assert/strict";
import type net from "node:net";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { SMTP, type SMTPError, type TranscriptEntry } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import {
  connectTo,
  greetAndEhlo,
  type ScriptServer,
  type Step,
  scriptedServers,
} from "../helpers/script-server.js";
import { rejectsWithin } from "../helpers/timing.js";

const start = scriptedServers();

const NAME = "client.example";
const FIXED = { messageId: "<fixed@client.example>", date: new Date("2026-11-29T12:00:00Z") };

async function session(
  extensions: string[],
  steps: Step[],
  options: ConstructorParameters<typeof SMTP>[0] = {},
): Promise<{ smtp: SMTP; server: ScriptServer; socket: net.Socket }> {
  const server = await start([...greetAndEhlo(extensions, NAME), ...steps]);
  const socket = await connectTo(server.port);
  const smtp = new SMTP({ clientName: NAME, ...options });
  assert.equal(await smtp.connect(socket), true);
  return { smtp, server, socket };
}

/** Everything the client wrote after its EHLO line. */
function afterEhlo(server: ScriptServer): string {
  return server.received().slice(`EHLO ${NAME}\r\n`.length);
}

describe("send() against a scripted server", () => {
  it("PIPELINING: MAIL, every RCPT and DATA go in one flight; Bcc only in the envelope", async () => {
    const { smtp, server } = await session(
      ["PIPELINING", "8BITMIME", "SIZE 100000"],
      [
        { expect: /^MAIL FROM:<a@example\.org> SIZE=\d+$/ },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "RCPT TO:<c@example.net>" },
        { expect: "RCPT TO:<secret@example.net>" },
        {
          expect: "DATA",
          reply: "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n",
        },
        { data: true, reply: "250 2.0.0 queued as 123\r\n" },
      ],
    );
    const result = await smtp.send(
      '"Alice A." <a@example.org>',
      ["Bob <b@example.net>"],
      ["c@example.net", "b@example.net"],
      ["secret@example.net"],
      "Hello",
      "Hi Bob,\n.dot line\nbye\n",
      FIXED,
    );
    await server.done;
    assert.deepEqual(result.accepted, ["b@example.net", "c@example.net", "secret@example.net"]);
    assert.deepEqual(result.rejected, []);
    assert.equal(result.reply.text, "queued as 123");
    assert.equal(result.messageId, "<fixed@client.example>");
    const data = server.messages[0]!;
    assert.match(data, /^From: "Alice A\." <a@example\.org>\r\n/m);
    assert.match(data, /^To: Bob <b@example\.net>\r\n/m);
    assert.match(data, /^Cc: c@example\.net, b@example\.net\r\n/m);
    assert.match(data, /^Subject: Hello\r\n/m);
    assert.match(data, /^Message-ID: <fixed@client\.example>\r\n/m);
    assert.match(data, /^Date: .*2026/m);
    assert.doesNotMatch(data, /secret|^Bcc:/im);
    assert.match(data, /\r\n\r\nHi Bob,\r\n\.\.dot line\r\nbye\r\n\.\r\n$/);
    // the flight: one write holding MAIL..DATA (the script server saw them before answering any)
    assert.match(
      afterEhlo(server),
      /^MAIL FROM:<a@example\.org> SIZE=\d+\r\nRCPT TO:<b@example\.net>\r\nRCPT TO:<c@example\.net>\r\nRCPT TO:<secret@example\.net>\r\nDATA\r\n/,
    );
  });

  it("without PIPELINING each command waits for its reply", async () => {
    const { smtp, server } = await session(
      ["8BITMIME"],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    const result = await smtp.send("a@example.org", ["b@example.net"], [], [], "s", "body", FIXED);
    assert.deepEqual(result.accepted, ["b@example.net"]);
    await server.done;
  });

  it("without PIPELINING: a refused RCPT among accepted ones is listed; a 421 to a RCPT is ECONNECTION at RCPT", async () => {
    const { smtp, server } = await session(
      ["8BITMIME"],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<nobody@example.net>", reply: "550 5.1.1 no such user\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "421 4.7.0 closing\r\n" },
        { destroy: true },
      ],
    );
    const result = await smtp.send(
      "a@example.org",
      ["b@example.net", "nobody@example.net"],
      [],
      [],
      "s",
      "x",
      FIXED,
    );
    assert.deepEqual(result.accepted, ["b@example.net"]);
    assert.deepEqual(
      result.rejected.map((r) => [r.recipient, r.reply.code]),
      [["nobody@example.net", 550]],
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["b@example.net", "c@example.net"], [], [], "s", "x", FIXED),
      "ECONNECTION",
      "RCPT",
    );
    assert.equal(error.reply?.code, 421);
    assert.equal(error.deliveryUnknown, false);
    await server.done;
  });

  it("a refused RCPT among accepted ones is a success with a list; 452 is rejected-temporary", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "RCPT TO:<nobody@example.net>" },
        { expect: "RCPT TO:<later@example.net>" },
        {
          expect: "DATA",
          reply: "250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n452 4.5.3 too many recipients\r\n354 go\r\n",
        },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    const result = await smtp.send(
      "a@example.org",
      ["b@example.net", "nobody@example.net", "later@example.net"],
      [],
      [],
      "s",
      "x",
      FIXED,
    );
    assert.deepEqual(result.accepted, ["b@example.net"]);
    assert.deepEqual(
      result.rejected.map((r) => [r.recipient, r.reply.code, r.reply.enhancedCode]),
      [
        ["nobody@example.net", 550, "5.1.1"],
        ["later@example.net", 452, "4.5.3"],
      ],
    );
    await server.done;
  });

  it("all recipients refused with PIPELINING: no message bytes, EENVELOPE, RSET, next send works", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<x@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n550 no\r\n554 5.5.1 no valid recipients\r\n" },
        { expect: "RSET", reply: "250 reset\r\n" },
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<y@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 second ok\r\n" },
      ],
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["x@example.net"], [], [], "s", "SECRET BODY", FIXED),
      "EENVELOPE",
      "RCPT",
    );
    assert.equal(error.reply?.code, 550);
    assert.equal(error.temporary, false);
    const second = await smtp.send("a@example.org", ["y@example.net"], [], [], "s", "second", FIXED);
    assert.equal(second.reply.text, "second ok");
    await server.done;
    assert.doesNotMatch(server.received(), /SECRET BODY/);
  });

  it("all refused but DATA got 354 anyway: only the terminator is sent, then RSET", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<x@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n550 no\r\n354 go\r\n" },
        { expect: ".", reply: "554 no valid recipients\r\n" },
        { expect: "RSET", reply: "250 ok\r\n" },
      ],
    );
    await rejectsWith(
      smtp.send("a@example.org", ["x@example.net"], [], [], "s", "SECRET BODY", FIXED),
      "EENVELOPE",
      "RCPT",
    );
    await server.done;
    assert.doesNotMatch(server.received(), /SECRET BODY/);
  });

  it("MAIL refused: EENVELOPE at MAIL", async () => {
    const { smtp, server } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "553 5.7.1 sender not allowed\r\n" },
        { expect: "RSET", reply: "250 ok\r\n" },
      ],
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", FIXED),
      "EENVELOPE",
      "MAIL",
    );
    assert.equal(error.reply?.enhancedCode, "5.7.1");
    await server.done;
  });

  it("DATA refused with 554: EMESSAGE at DATA, RSET", async () => {
    const { smtp, server } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "554 5.3.0 no data today\r\n" },
        { expect: "RSET", reply: "250 ok\r\n" },
      ],
    );
    await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", FIXED),
      "EMESSAGE",
      "DATA",
    );
    await server.done;
  });

  it("a 250 where 354 was due: EPROTOCOL, no content sent", async () => {
    const { smtp, server } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "250 what\r\n" },
        { wait: 100 },
      ],
    );
    await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "SECRET BODY", FIXED),
      "EPROTOCOL",
      "DATA",
    );
    await server.done;
    assert.doesNotMatch(server.received(), /SECRET BODY/);
  });

  it("the message is refused after the data: EMESSAGE at END, no RSET needed, session usable", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "550 5.7.1 spam\r\n" },
        { expect: "NOOP", reply: "250 ok\r\n" },
      ],
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", FIXED),
      "EMESSAGE",
      "END",
    );
    assert.equal(error.deliveryUnknown, false);
    await smtp.noop();
    await server.done;
  });

  it("a reply that arrives while content is being written: EPROTOCOL, connection closed", async () => {
    const big = "x".repeat(1000).concat("\n").repeat(20_000); // ~20 MB so writing takes a while
    const { smtp } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n552 5.3.4 too big, stop\r\n" },
        { wait: 2000 },
      ],
    );
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], Readable.from([big, big])),
      "EPROTOCOL",
    );
    assert.equal(error.deliveryUnknown, false);
  });

  it("SIZE: a known size over the limit is EMESSAGE before MAIL is written", async () => {
    const { smtp, server } = await session(["SIZE 100"], [{ expect: "NOOP", reply: "250 ok\r\n" }]);
    await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "y".repeat(500), FIXED),
      "EMESSAGE",
      "MAIL",
    );
    await smtp.noop();
    await server.done;
    assert.doesNotMatch(afterEhlo(server), /MAIL/);
  });

  it("the connection is lost after the final dot: stage END, deliveryUnknown", async () => {
    const { smtp } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<b@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true },
        { destroy: true },
      ],
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", FIXED),
      "ECONNECTION",
      "END",
    );
    assert.equal(error.deliveryUnknown, true);
    assert.match(error.message, /may or may not have been accepted/);
  });

  it("a content stream that errors halfway: EMESSAGE, no terminator, connection destroyed", async () => {
    const { smtp, server, socket } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { wait: 300 },
      ],
    );
    async function* failing(): AsyncGenerator<string> {
      yield "Subject: partial\r\n\r\nfirst part\r\n";
      await new Promise((r) => setTimeout(r, 20));
      throw new Error("disk on fire");
    }
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.net"], failing()),
      "EMESSAGE",
      "DATA",
    );
    assert.match(String((error.cause as Error).message), /disk on fire/);
    assert.ok(socket.destroyed);
    await server.done.catch(() => undefined);
    assert.doesNotMatch(server.received(), /\r\n\.\r\n/);
  });

  it("CHUNKING with PIPELINING: envelope and BDAT LAST in one flight, no dot-stuffing", async () => {
    const { smtp, server } = await session(
      ["PIPELINING", "CHUNKING", "8BITMIME"],
      [
        { expect: "MAIL FROM:<a@example.org> BODY=8BITMIME" },
        { expect: "RCPT TO:<b@example.net>" },
        { bdat: true, reply: "250 ok\r\n250 ok\r\n250 2.0.0 message accepted\r\n" },
      ],
    );
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], "Subject: x\n\n.dot\nü\n");
    assert.equal(result.reply.text, "message accepted");
    await server.done;
    assert.equal(server.messages[0], "Subject: x\r\n\r\n.dot\r\nü\r\n");
    assert.match(
      afterEhlo(server),
      /^MAIL FROM:<a@example\.org> BODY=8BITMIME\r\nRCPT TO:<b@example\.net>\r\nBDAT \d+ LAST\r\n/,
    );
  });

  it("CHUNKING with a stream: small pieces gathered, large ones one BDAT each, the last one LAST", async () => {
    const { smtp, server } = await session(
      ["CHUNKING"],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { bdat: true, reply: "250 chunk 1\r\n" },
        { bdat: true, reply: "250 chunk 2\r\n" },
        { bdat: true, reply: "250 done\r\n" },
      ],
    );
    const piece = (ch: string) => `${ch.repeat(199_999)}\n`;
    const result = await smtp.sendRaw(
      "a@example.org",
      ["b@example.net"],
      Readable.from(["Subject: s\r\n\r\n", piece("a"), piece("b"), piece("c")]),
    );
    assert.equal(result.reply.text, "done");
    await server.done;
    assert.deepEqual(
      server.messages.map((m) => m.length),
      [14 + 200_001, 200_001, 200_001],
    );
    assert.equal(
      server.messages.join(""),
      `Subject: s\r\n\r\n${["a", "b", "c"].map((c) => `${c.repeat(199_999)}\r\n`).join("")}`,
    );
    assert.match(afterEhlo(server), /BDAT 200015\r\n[\s\S]*BDAT 200001\r\n[\s\S]*BDAT 200001 LAST\r\n/);
  });

  it("LMTP: LHLO and one reply per accepted recipient after the data", async () => {
    const server = await start([
      { send: "220 lmtp.example LMTP\r\n" },
      { expect: `LHLO ${NAME}`, reply: "250-lmtp.example\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@example.org>" },
      { expect: "RCPT TO:<b@example.net>" },
      { expect: "RCPT TO:<gone@example.net>" },
      { expect: "RCPT TO:<full@example.net>" },
      { expect: "DATA", reply: "250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n" },
      { data: true, reply: "250 2.0.0 b delivered\r\n452 4.2.2 mailbox full\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME, lmtp: true });
    assert.equal(await smtp.connect(await connectTo(server.port)), true);
    const result = await smtp.send(
      "a@example.org",
      ["b@example.net", "gone@example.net", "full@example.net"],
      [],
      [],
      "s",
      "x",
      FIXED,
    );
    assert.deepEqual(result.accepted, ["b@example.net"]);
    assert.deepEqual(
      result.rejected.map((r) => [r.recipient, r.reply.code]),
      [
        ["gone@example.net", 550],
        ["full@example.net", 452],
      ],
    );
    assert.equal(result.reply.text, "b delivered");
    await server.done;
  });

  it("DSN parameters with xtext, and REQUIRETLS refused on a clear channel", async () => {
    const { smtp, server } = await session(
      ["PIPELINING", "DSN", "REQUIRETLS"],
      [
        { expect: "MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2Bwith+3Dodd" },
        { expect: "RCPT TO:<b+tag@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2Btag@example.net" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    await smtp.send("a@example.org", ["b+tag@example.net"], [], [], "s", "x", {
      ...FIXED,
      dsn: { ret: "HDRS", envid: "id+with=odd", notify: ["FAILURE", "DELAY"], orcpt: true },
    });
    await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", { requireTLS: true }),
      "EENVELOPE",
      "MAIL",
    );
    await server.done;
  });

  it("bad input is EINPUT and nothing is written", async () => {
    const { smtp, server } = await session(["PIPELINING"], [{ expect: "NOOP", reply: "250 ok\r\n" }]);
    const cases: [string, Promise<unknown>][] = [
      [
        "CRLF in subject",
        smtp.send("a@example.org", ["b@example.net"], [], [], "hi\r\nBcc: x@evil.example", "x"),
      ],
      [
        "CRLF in recipient",
        smtp.send("a@example.org", ["b@example.net>\r\nRCPT TO:<c@evil.example"], [], [], "s", "x"),
      ],
      [
        "two mailboxes in one entry",
        smtp.send("a@example.org", ["b@example.net, c@example.net"], [], [], "s", "x"),
      ],
      ["group syntax", smtp.send("a@example.org", ["friends: b@example.net;"], [], [], "s", "x")],
      ["no recipients", smtp.send("a@example.org", [], [], [], "s", "x")],
      [
        "Bcc header",
        smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", {
          headers: { Bcc: "x@example.net" },
        }),
      ],
      [
        "bad header name",
        smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", { headers: { "X Bad": "v" } }),
      ],
      [
        "CRLF in header value",
        smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", {
          headers: { "X-Ok": "v\r\nBcc: y" },
        }),
      ],
      [
        "bad messageId",
        smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", { messageId: "no at sign" }),
      ],
      [
        "bad DSN notify",
        smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", {
          dsn: { notify: ["SOMETIMES" as "NEVER"] },
        }),
      ],
      ["bad sender", smtp.send("not an address", ["b@example.net"], [], [], "s", "x")],
      ["NUL in sendRaw recipient", smtp.sendRaw("a@example.org", ["b\u0000@example.net"], "x")],
    ];
    for (const [what, promise] of cases) {
      const error = await rejectsWith(promise, "EINPUT").catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
      assert.equal(error.temporary, false, what);
    }
    await smtp.noop();
    await server.done;
    assert.equal(afterEhlo(server), "NOOP\r\n");
  });

  it("a non-ASCII local part without SMTPUTF8 is EENVELOPE before anything is sent; an IDN domain becomes A-labels", async () => {
    const { smtp, server } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@xn--mller-kva.example>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    await rejectsWith(smtp.send("a@example.org", ["jörg@example.net"], [], [], "s", "x"), "EENVELOPE");
    await smtp.send("a@example.org", ["b@müller.example"], [], [], "s", "x", FIXED);
    await server.done;
  });

  it("SMTPUTF8: a non-ASCII address is sent as is with the SMTPUTF8 parameter", async () => {
    const { smtp, server } = await session(
      ["SMTPUTF8", "8BITMIME"],
      [
        { expect: /^MAIL FROM:<a@example\.org> .*SMTPUTF8/, reply: "250 ok\r\n" },
        { expect: "RCPT TO:<jörg@müller.example>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    await smtp.send("a@example.org", ["jörg@müller.example"], [], [], "Grüße", "Hallo", FIXED);
    await server.done;
  });

  it("the transcript never shows message content, only its size", async () => {
    const entries: TranscriptEntry[] = [];
    const { smtp, server } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
      { logger: (e) => entries.push(e) },
    );
    await smtp.send("a@example.org", ["b@example.net"], [], [], "s", "TOP SECRET CONTENT", FIXED);
    await server.done;
    const transcript = entries.map((e) => e.line).join("\n");
    assert.doesNotMatch(transcript, /TOP SECRET/);
    assert.match(transcript, /<message: \d+ octets>/);
  });

  it("sendRaw keeps the caller's message byte for byte (line ends normalised, dots stuffed)", async () => {
    const { smtp, server } = await session(
      [],
      [
        { expect: /^MAIL FROM:<a@example\.org>/, reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    const raw = "Message-ID: <raw@x.example>\nSubject: raw\n\nline\r.\n..two\nlast";
    const result = await smtp.sendRaw("a@example.org", ["b@example.net"], raw);
    assert.equal(result.messageId, "<raw@x.example>");
    await server.done;
    assert.equal(
      server.messages[0],
      "Message-ID: <raw@x.example>\r\nSubject: raw\r\n\r\nline\r\n..\r\n...two\r\nlast\r\n.\r\n",
    );
  });

  it("queued sends: the next envelope rides with the previous end of data; each reply stays with its message", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<one@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true },
        // the server has not answered the first message yet, and the second envelope is already here
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<two@example.net>" },
        { expect: "DATA", reply: "550 5.7.1 first refused\r\n250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true },
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<three@example.net>" },
        { expect: "DATA", reply: "250 second ok\r\n250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 third ok\r\n" },
      ],
    );
    const results = await Promise.allSettled([
      smtp.send("a@example.org", ["one@example.net"], [], [], "1", "first", FIXED),
      smtp.send("a@example.org", ["two@example.net"], [], [], "2", "second", FIXED),
      smtp.send("a@example.org", ["three@example.net"], [], [], "3", "third", FIXED),
    ]);
    await server.done;
    assert.equal(results[0]!.status, "rejected");
    const error = (results[0] as PromiseRejectedResult).reason as SMTPError;
    assert.equal(error.code, "EMESSAGE");
    assert.equal(error.reply?.text, "first refused");
    assert.equal(results[1]!.status === "fulfilled" && results[1].value.reply.text, "second ok");
    assert.equal(results[2]!.status === "fulfilled" && results[2].value.reply.text, "third ok");
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? r.value.accepted : [])),
      [[], ["two@example.net"], ["three@example.net"]],
    );
    assert.equal(server.messages.length, 3);
    assert.match(server.messages[1]!, /\r\n\r\nsecond\r\n\.\r\n$/);
  });

  it("a queued send with bad input fails alone; the one before it is unaffected", async () => {
    const { smtp, server } = await session(
      ["PIPELINING"],
      [
        { expect: "MAIL FROM:<a@example.org>" },
        { expect: "RCPT TO:<one@example.net>" },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 first ok\r\n" },
        { expect: "NOOP", reply: "250 ok\r\n" },
      ],
    );
    const first = smtp.send("a@example.org", ["one@example.net"], [], [], "1", "first", FIXED);
    const bad = smtp.send("a@example.org", ["x@example.net\r\nRSET"], [], [], "2", "second", FIXED);
    const noop = smtp.noop();
    assert.equal((await first).reply.text, "first ok");
    await rejectsWith(bad, "EINPUT");
    await noop;
    await server.done;
  });

  it("a server that stops reading the data: ETIMEDOUT at the data deadline, socket destroyed", async () => {
    const { smtp, socket } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { stopReading: true },
        { wait: 5000 },
      ],
      { timeouts: { data: 600 } },
    );
    async function* endless(): AsyncGenerator<Uint8Array> {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      for (;;) yield chunk;
    }
    const error = await rejectsWithin(
      () => smtp.sendRaw("a@example.org", ["b@example.net"], endless()),
      "ETIMEDOUT",
      "DATA",
      550,
      3000,
    );
    assert.equal(error.deliveryUnknown, false);
    assert.ok(socket.destroyed);
  });

  it("no reply after the end of data: ETIMEDOUT at the data deadline, stage END, deliveryUnknown", async () => {
    const { smtp } = await session(
      [],
      [
        { expect: "MAIL FROM:<a@example.org>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true },
        { wait: 5000 },
      ],
      { timeouts: { data: 400 } },
    );
    const error = await rejectsWith(
      smtp.send("a@example.org", ["b@example.net"], [], [], "s", "x", FIXED),
      "ETIMEDOUT",
      "END",
    );
    assert.equal(error.deliveryUnknown, true);
    assert.equal(error.temporary, true);
  });

  it("a reply line over 8192 octets: EPROTOCOL, connection closed", async () => {
    const { smtp, socket } = await session([], [{ expect: "NOOP", reply: `250 ${"x".repeat(9000)}\r\n` }]);
    await rejectsWith(smtp.noop(), "EPROTOCOL", "NOOP");
    assert.ok(socket.destroyed);
  });

  it("ready MIME content keeps its own headers, loses its Bcc, and gets only the missing ones", async () => {
    const { smtp, server } = await session(
      ["8BITMIME"],
      [
        { expect: /^MAIL FROM:<a@example\.org>/, reply: "250 ok\r\n" },
        { expect: "RCPT TO:<b@example.net>", reply: "250 ok\r\n" },
        { expect: "RCPT TO:<hidden@example.net>", reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
    );
    const mime = [
      "MIME-Version: 1.0",
      "Bcc: hidden@example.net",
      'Content-Type: multipart/alternative; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain",
      "",
      "plain",
      "--b1--",
      "",
    ].join("\n");
    await smtp.send("a@example.org", ["b@example.net"], [], ["hidden@example.net"], "subject", mime, FIXED);
    await server.done;
    const data = server.messages[0]!;
    assert.doesNotMatch(data, /Bcc|hidden/i);
    assert.equal(data.match(/^MIME-Version:/gim)?.length, 1);
    assert.match(data, /^Content-Type: multipart\/alternative; boundary="b1"\r\n/m);
    assert.match(data, /^From: a@example\.org\r\n/m);
    assert.match(data, /^Subject: subject\r\n/m);
    assert.match(data, /\r\n\r\n--b1\r\nContent-Type: text\/plain\r\n\r\nplain\r\n--b1--\r\n\.\r\n$/);
  });
});

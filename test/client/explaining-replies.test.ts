// After a call fails or resolves false, what the caller sees explains it: the protocol violation itself
// (not "the connection is closed"), and lastReply is the reply that caused the false.
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { SMTP } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { connectTo, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";

describe("replies that explain a failure", () => {
  it('extra "250" lines after EHLO\'s last line: the next call rejects with EPROTOCOL, nothing sent', async () => {
    const server = await start([
      { send: "220 test.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250-test.example\r\n250 PIPELINING\r\n250 extra\r\n250 more\r\n" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(await connectTo(server.port)), true);
    const error = await rejectsWith(
      smtp.sendRaw("a@example.com", ["b@example.com"], "Subject: x\r\n\r\nbody\r\n"),
      "EPROTOCOL",
      "MAIL",
    );
    assert.match(error.message, /no reply was expected/);
    await rejectsWith(smtp.noop(), "EPROTOCOL", "NOOP"); // and every later call says the same
    await smtp.close();
    await server.done;
    assert.equal(server.received(), `EHLO ${NAME}\r\n`);
  });

  it("the start of a reply nobody asked for, behind an awaited one: EPROTOCOL at once", async () => {
    // "250-par" follows NOOP's reply in the same segment while nothing else is pending: were it kept,
    // the next command would be answered by the rest of it
    const server = await start([
      { send: "220 test.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250 test.example\r\n" },
      { expect: "NOOP", reply: "250 ok\r\n250-par" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(await connectTo(server.port));
    assert.equal((await smtp.noop()).text, "ok");
    await rejectsWith(smtp.noop(), "EPROTOCOL", "NOOP");
    await server.done;
  });

  it("authenticate() false: lastReply is the refusal", async () => {
    const server = await start([
      { send: "220 test.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250-test.example\r\n250 AUTH PLAIN\r\n" },
      { expect: /^AUTH PLAIN /, reply: "535 5.7.8 no\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME, allowInsecureAuth: true });
    await smtp.connect(await connectTo(server.port));
    assert.equal(await smtp.authenticate("u", "p"), false);
    assert.equal(smtp.lastReply?.code, 535);
    await server.done;
  });
});

describe("a 421 while nothing is pending", () => {
  it("is the server closing (ECONNECTION on the next call), not a protocol violation", async () => {
    const server = await start([
      { send: "220 test.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250 test.example\r\n" },
      { hold: "idle" },
      { send: "421 4.4.2 idle too long, closing\r\n" },
      { close: true },
    ]);
    const socket = await connectTo(server.port);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    const closed = once(socket, "close");
    server.release("idle");
    await closed;
    const error = await rejectsWith(smtp.noop(), "ECONNECTION", "NOOP");
    assert.match(error.message, /closed the idle connection: 421 4\.4\.2 idle too long/);
    assert.equal(error.temporary, true);
  });
});

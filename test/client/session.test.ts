import assert from "node:assert/strict";
import { once } from "node:events";
import type net from "node:net";
import { describe, it } from "node:test";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import {
  CA,
  connectTo,
  greetAndEhlo,
  type ScriptServer,
  type Step,
  scriptedServers,
} from "../helpers/script-server.js";
import { rejectsWithin } from "../helpers/timing.js";

const start = scriptedServers();

async function serve(script: Step[]): Promise<{ server: ScriptServer; socket: net.Socket }> {
  const server = await start(script);
  return { server, socket: await connectTo(server.port) };
}

const NAME = "client.example";
const EHLO_LINE = `EHLO ${NAME}`;

describe("SMTP session calls against a scripted server", () => {
  it("multi-line greeting and EHLO; getServerOptions; QUIT", async () => {
    const { server, socket } = await serve([
      { send: "220-mail.example ESMTP\r\n220-second greeting line\r\n220 ready\r\n" },
      {
        expect: EHLO_LINE,
        reply:
          "250-mail.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
      },
      { expect: "NOOP", reply: "250 2.0.0 ok\r\n" },
      { expect: "RSET", reply: "250 2.0.0 reset\r\n" },
      { expect: "QUIT", reply: "221 2.0.0 bye\r\n" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(socket), true);
    assert.deepEqual(smtp.getServerOptions(), ["PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN", "8BITMIME"]);
    assert.equal(smtp.secure, false);
    const noop = await smtp.noop();
    assert.equal(noop.enhancedCode, "2.0.0");
    assert.equal((await smtp.reset()).text, "reset");
    await smtp.close();
    await smtp.close(); // safe twice
    await server.done;
    assert.equal(server.received(), `${EHLO_LINE}\r\nNOOP\r\nRSET\r\nQUIT\r\n`);
    assert.equal(smtp.lastReply?.code, 221);
  });

  it("the caller's socket gets setNoDelay(true)", async () => {
    const { server, socket } = await serve([...greetAndEhlo([], NAME)]);
    let noDelay: boolean | undefined;
    const original = socket.setNoDelay.bind(socket);
    socket.setNoDelay = (value?: boolean) => {
      noDelay = value;
      return original(value);
    };
    assert.equal(await new SMTP({ clientName: NAME }).connect(socket), true);
    assert.equal(noDelay, true);
    await server.done;
    socket.destroy();
  });

  it("EHLO refused with 502: falls back to HELO; no options", async () => {
    const { server, socket } = await serve([
      { send: "220 old.example SMTP\r\n" },
      { expect: EHLO_LINE, reply: "502 5.5.2 command not recognized\r\n" },
      { expect: `HELO ${NAME}`, reply: "250 old.example\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(socket), true);
    assert.deepEqual(smtp.getServerOptions(), []);
    await server.done;
    socket.destroy();
  });

  it("EHLO and HELO both refused with 5xx: false", async () => {
    const { server, socket } = await serve([
      { send: "220 picky.example\r\n" },
      { expect: EHLO_LINE, reply: "550 go away\r\n" },
      { expect: `HELO ${NAME}`, reply: "550 still no\r\n" },
    ]);
    assert.equal(await new SMTP({ clientName: NAME }).connect(socket), false);
    await server.done;
    socket.destroy();
  });

  it("greeting 554: false, and QUIT is sent", async () => {
    const { server, socket } = await serve([
      { send: "554 5.7.1 no service for you\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connect(socket), false);
    assert.equal(smtp.lastReply?.code, 554); // what explains the false, not QUIT's 221
    assert.equal(smtp.greeting?.code, 554);
    assert.equal(smtp.greeting?.enhancedCode, "5.7.1");
    await server.done;
  });

  it("421 at the greeting, at EHLO and at NOOP: SMTPError, temporary, connection closed", async () => {
    {
      const { socket } = await serve([{ send: "421 4.3.2 busy\r\n" }]);
      const error = await rejectsWith(
        new SMTP({ clientName: NAME }).connect(socket),
        "ECONNECTION",
        "GREETING",
      );
      assert.equal(error.temporary, true);
      assert.equal(error.reply?.code, 421);
      assert.ok(socket.destroyed);
    }
    {
      const { socket } = await serve([
        { send: "220 x\r\n" },
        { expect: EHLO_LINE, reply: "421 4.3.2 shutting down\r\n" },
      ]);
      await rejectsWith(new SMTP({ clientName: NAME }).connect(socket), "ECONNECTION", "EHLO");
    }
    {
      const { socket } = await serve([
        ...greetAndEhlo([], NAME),
        { expect: "NOOP", reply: "421 4.4.2 timeout\r\n" },
      ]);
      const smtp = new SMTP({ clientName: NAME });
      await smtp.connect(socket);
      await rejectsWith(smtp.noop(), "ECONNECTION", "NOOP");
      await rejectsWith(smtp.noop(), "ECONNECTION", "NOOP"); // later calls are refused too
      await smtp.close(); // and close is still safe
    }
  });

  it("the server closes in the middle of a reply: rejects, no hang", async () => {
    const { socket } = await serve([{ send: "220-part one\r\n220-part" }, { close: true }]);
    const error = await rejectsWith(
      new SMTP({ clientName: NAME }).connect(socket),
      "ECONNECTION",
      "GREETING",
    );
    assert.equal(error.temporary, true);
  });

  it("no greeting: ETIMEDOUT within the configured timeout, socket destroyed", async () => {
    const { socket } = await serve([{ wait: 5000 }]);
    const error = await rejectsWithin(
      () => new SMTP({ clientName: NAME, timeouts: { greeting: 300 } }).connect(socket),
      "ETIMEDOUT",
      "GREETING",
      280,
      2000,
    );
    assert.equal(error.temporary, true);
    assert.ok(socket.destroyed);
  });

  it("a reply trickled one byte at a time: ETIMEDOUT at the deadline, not an idle timer", async () => {
    const { socket } = await serve([
      ...greetAndEhlo([], NAME),
      { expect: "NOOP" },
      { trickle: "250 this reply arrives one byte every 40 ms\r\n", intervalMs: 40 },
    ]);
    const smtp = new SMTP({ clientName: NAME, timeouts: { command: 500 } });
    await smtp.connect(socket);
    await rejectsWithin(() => smtp.noop(), "ETIMEDOUT", "NOOP", 480, 1500);
  });

  it("an unsolicited reply between commands: EPROTOCOL", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo([], NAME),
      { hold: "connected" },
      { send: "250 surprise\r\n" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    const closed = once(socket, "close"); // the client ends the session when the surprise arrives
    server.release("connected");
    await closed;
    const error = await rejectsWith(smtp.noop(), "EPROTOCOL", "NOOP");
    assert.match(error.message, /no reply was expected/);
    await server.done;
  });

  it("two replies to one command: EPROTOCOL, the second is never read as the next answer", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo([], NAME),
      { expect: "NOOP", reply: "250 first\r\n250 extra\r\n" },
      { expectClose: true }, // the extra reply ends the session: RSET is never sent
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    // the first reply answers NOOP; the extra one (same segment) fails the connection instead of answering RSET
    assert.equal((await smtp.noop()).text, "first");
    await rejectsWith(smtp.reset(), "EPROTOCOL", "RSET");
    await server.done;
  });

  it("a malformed reply: EPROTOCOL and the connection is closed", async () => {
    const { socket } = await serve([
      { send: "220 hi\r\n" },
      { expect: EHLO_LINE, reply: "250-ok\r\n251 changed\r\n" },
    ]);
    await rejectsWith(new SMTP({ clientName: NAME }).connect(socket), "EPROTOCOL", "EHLO");
    assert.ok(socket.destroyed);
  });

  it("an empty last EHLO line is not an option", async () => {
    const { socket } = await serve([
      { send: "220 hi\r\n" },
      { expect: EHLO_LINE, reply: "250-host\r\n250-PIPELINING\r\n250 \r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    assert.deepEqual(smtp.getServerOptions(), ["PIPELINING"]);
    socket.destroy();
  });

  it("default client name is an address literal when the host name is not an FQDN", async () => {
    const os = await import("node:os");
    const hostname = os.hostname();
    const expected = hostname.includes(".") ? hostname : "[127.0.0.1]";
    const { server, socket } = await serve([
      { send: "220 hi\r\n" },
      { expect: `EHLO ${expected}`, reply: "250 ok\r\n" },
    ]);
    assert.equal(await new SMTP().connect(socket), true);
    await server.done;
    socket.destroy();
  });

  it("an invalid clientName is EINPUT before anything is written", () => {
    assert.throws(
      () => new SMTP({ clientName: "bad\r\nMAIL FROM:<x@y>" }),
      (e: unknown) => e instanceof SMTPError && e.code === "EINPUT",
    );
    assert.throws(
      () => new SMTP({ clientName: "under_score.example" }),
      (e: unknown) => e instanceof SMTPError && e.code === "EINPUT",
    );
    assert.doesNotThrow(() => new SMTP({ clientName: "[IPv6:::1]" }));
  });

  it("calls before connect reject with ECONNECTION", async () => {
    const smtp = new SMTP();
    await rejectsWith(smtp.noop(), "ECONNECTION");
    await smtp.close();
  });

  it("abort rejects what is pending with EABORT and destroys the socket", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo([], NAME),
      { expect: "NOOP" },
      { hold: "noop read" },
    ]);
    const controller = new AbortController();
    const smtp = new SMTP({ clientName: NAME, signal: controller.signal });
    await smtp.connect(socket);
    const pending = smtp.noop();
    await server.reached("noop read"); // the NOOP is out and unanswered
    controller.abort(new Error("user gave up"));
    await rejectsWith(pending, "EABORT");
    assert.ok(socket.destroyed);
    await smtp.close();
  });

  it("calls are serialised: a second call waits for the first", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo([], NAME),
      { expect: "NOOP" },
      { hold: "noop unanswered" },
      { send: "250 first\r\n" },
      { expect: "RSET", reply: "250 second\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    const both = Promise.all([smtp.noop(), smtp.reset()]);
    await server.reached("noop unanswered");
    await new Promise((resolve) => setImmediate(resolve)); // a pipelined RSET would have arrived with NOOP
    assert.doesNotMatch(server.received(), /RSET/, "RSET was written before NOOP was answered");
    server.release("noop unanswered");
    const [a, b] = await both;
    assert.equal(a.text, "first");
    assert.equal(b.text, "second");
    await server.done;
    socket.destroy();
  });

  it("the transcript shows both directions", async () => {
    const entries: TranscriptEntry[] = [];
    const { socket } = await serve([
      ...greetAndEhlo(["PIPELINING"], NAME),
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
    await smtp.connect(socket);
    await smtp.close();
    assert.deepEqual(
      entries.map((e) => `${e.direction}: ${e.line}`),
      [
        "S: 220 test.example ESMTP ready",
        `C: ${EHLO_LINE}`,
        "S: 250-test.example greets you",
        "S: 250 PIPELINING",
        "C: QUIT",
        "S: 221 bye",
      ],
    );
  });
});

describe("STARTTLS and implicit TLS against a scripted server", () => {
  const tls = { ca: CA, servername: "localhost" };

  it("STARTTLS: upgrade, EHLO again, the options are the new EHLO's", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo(["STARTTLS", "PIPELINING"], NAME),
      { expect: "STARTTLS", reply: "220 2.0.0 go ahead\r\n" },
      { tls: "localhost" },
      { expect: EHLO_LINE, reply: "250-test.example\r\n250-AUTH PLAIN\r\n250 SIZE 5000\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    assert.deepEqual(smtp.getServerOptions(), ["STARTTLS", "PIPELINING"]);
    assert.equal(await smtp.startTLS(tls), true);
    assert.equal(smtp.secure, true);
    assert.ok(smtp.tlsSocket?.authorized);
    assert.deepEqual(smtp.getServerOptions(), ["AUTH PLAIN", "SIZE 5000"]);
    await smtp.close();
    await server.done;
  });

  it("bytes injected after the STARTTLS 220 are never read as a reply", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN LOGIN INJECTED\r\n" },
      { tls: "localhost" },
      { expect: EHLO_LINE, reply: "250-test.example\r\n250 AUTH PLAIN\r\n" },
    ]);
    const entries: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
    await smtp.connect(socket);
    assert.equal(await smtp.startTLS(tls), true);
    assert.deepEqual(smtp.getServerOptions(), ["AUTH PLAIN"]);
    assert.ok(entries.some((e) => /discarded/.test(e.line)));
    await server.done;
    socket.destroy();
  });

  it("STARTTLS not offered: false, no command written", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo(["PIPELINING"], NAME),
      { expect: "NOOP", reply: "250 ok\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    assert.equal(await smtp.startTLS(tls), false);
    await smtp.noop();
    await server.done;
    assert.doesNotMatch(server.received(), /STARTTLS/);
    socket.destroy();
  });

  it("STARTTLS refused (454): false and the session goes on in clear", async () => {
    const { server, socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "454 4.7.0 TLS not available\r\n" },
      { expect: "NOOP", reply: "250 still here\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    assert.equal(await smtp.startTLS(tls), false);
    assert.equal((await smtp.noop()).text, "still here");
    await server.done;
    socket.destroy();
  });

  it("a certificate for another host name: ETLS, socket destroyed", async () => {
    const { socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n" },
      { tls: "other.example", clientRefuses: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    const error = await rejectsWith(smtp.startTLS(tls), "ETLS", "STARTTLS");
    assert.match(error.message, /other\.example|altnames|Hostname/i);
    assert.ok(socket.destroyed);
    await rejectsWith(smtp.noop(), "ECONNECTION");
  });

  it("an untrusted certificate (no CA given): ETLS", async () => {
    const { socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n" },
      { tls: "localhost", clientRefuses: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    await rejectsWith(smtp.startTLS({ servername: "localhost" }), "ETLS", "STARTTLS");
  });

  it("a handshake that fails after the 220 is ETLS (never false) and destroys the socket", async () => {
    const { socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n" },
      { awaitBytes: true }, // the ClientHello: the client is in the handshake
      { send: "this is not a TLS record\r\n" },
      { expectClose: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    await rejectsWith(smtp.startTLS(tls), "ETLS", "STARTTLS");
    assert.ok(socket.destroyed);
  });

  it("a stalled handshake after the 220 is ETLS at the command deadline", async () => {
    const { socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n" },
      { wait: 3000 },
    ]);
    const smtp = new SMTP({ clientName: NAME, timeouts: { command: 300 } });
    await smtp.connect(socket);
    await rejectsWith(smtp.startTLS(tls), "ETLS", "STARTTLS");
    assert.ok(socket.destroyed);
  });

  it("EHLO refused after STARTTLS: ETLS", async () => {
    const { socket } = await serve([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go ahead\r\n" },
      { tls: "localhost" },
      { expect: EHLO_LINE, reply: "554 no\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(socket);
    await rejectsWith(smtp.startTLS(tls), "ETLS", "EHLO");
  });

  it("connectTLS: implicit TLS, verified, then greeting and EHLO", async () => {
    const { server, socket } = await serve([
      { tls: "localhost" },
      { send: "220 tls.example ESMTP\r\n" },
      { expect: EHLO_LINE, reply: "250-tls.example\r\n250 AUTH PLAIN LOGIN\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    assert.equal(await smtp.connectTLS(socket, tls), true);
    assert.equal(smtp.secure, true);
    assert.deepEqual(smtp.getServerOptions(), ["AUTH PLAIN LOGIN"]);
    await server.done;
    smtp.tlsSocket?.destroy();
  });

  it("connectTLS to a server with a certificate for another name: ETLS", async () => {
    const { socket } = await serve([{ tls: "other.example", clientRefuses: true }]);
    await rejectsWith(new SMTP({ clientName: NAME }).connectTLS(socket, tls), "ETLS", "CONNECT");
    assert.ok(socket.destroyed);
  });

  it("rejectUnauthorized false is the caller's choice, and shows in the transcript", async () => {
    const { socket } = await serve([
      { tls: "other.example" },
      { send: "220 x\r\n" },
      { expect: EHLO_LINE, reply: "250 ok\r\n" },
    ]);
    const entries: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
    assert.equal(await smtp.connectTLS(socket, { rejectUnauthorized: false }), true);
    assert.ok(entries.some((e) => /verification disabled/.test(e.line)));
    smtp.tlsSocket?.destroy();
  });
});

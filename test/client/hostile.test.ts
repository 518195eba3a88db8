// Servers (and content sources) that misbehave at the worst moment: every case must end in a clear
// SMTPError, never a hang, an unhandled rejection or an uncaught exception (node:test fails the file on those).
import assert from "node:assert/strict";
import { once } from "node:events";
import Stream, { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import { SMTP } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { CA, connectTo, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();

const NAME = "client.example";
const PIPELINING = "250-test.example\r\n250 PIPELINING\r\n";
const CHUNKING = "250-test.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";

async function session(
  ehloReply: string,
  steps: Step[],
  options: ConstructorParameters<typeof SMTP>[0] = {},
) {
  const server = await start([
    { send: "220 test.example\r\n" },
    { expect: `EHLO ${NAME}`, reply: ehloReply },
    ...steps,
  ]);
  const socket = await connectTo(server.port);
  const smtp = new SMTP({ clientName: NAME, ...options });
  assert.equal(await smtp.connect(socket), true);
  return { smtp, server, socket };
}

/** An LMTP session whose server runs `steps` after LHLO; sends to b and c and expects ECONNECTION at END. */
async function lmtpSendDropped(steps: Step[]) {
  const server = await start([
    { send: "220 lmtp\r\n" },
    { expect: `LHLO ${NAME}`, reply: "250 lmtp\r\n" },
    ...steps,
  ]);
  const smtp = new SMTP({ clientName: NAME, lmtp: true });
  await smtp.connect(await connectTo(server.port));
  return rejectsWith(
    smtp.send("a@example.org", ["b@example.org", "c@example.org"], [], [], "s", "x"),
    "ECONNECTION",
    "END",
  );
}

describe("hostile servers and failing sources", () => {
  it("pipelined envelope: the server answers MAIL and hangs up; the unanswered replies stay quiet", async () => {
    const { smtp } = await session(PIPELINING, [
      { expect: /^MAIL/ },
      { expect: /^RCPT/ },
      { expect: /^RCPT/ },
      { expect: "DATA" },
      { send: "250 ok\r\n" },
      { destroy: true },
    ]);
    await rejectsWith(
      smtp.send("a@example.org", ["b@example.org", "c@example.org"], [], [], "s", "x"),
      "ECONNECTION",
      "RCPT",
    );
    await new Promise((r) => setTimeout(r, 50)); // any unhandled rejection would surface here
  });

  it("LMTP: the server hangs up after the data: END, deliveryUnknown", async () => {
    const error = await lmtpSendDropped([
      { expect: /^MAIL/, reply: "250 ok\r\n" },
      { expect: /^RCPT/, reply: "250 ok\r\n" },
      { expect: /^RCPT/, reply: "250 ok\r\n" },
      { expect: "DATA", reply: "354 go\r\n" },
      { data: true },
      { destroy: true },
    ]);
    assert.equal(error.deliveryUnknown, true);
  });

  it("queued sends: the next envelope waits behind a slow end-of-data reply without a command timeout", async () => {
    const { smtp, server } = await session(
      PIPELINING,
      [
        { expect: /^MAIL/ },
        { expect: /^RCPT/ },
        { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true },
        { expect: /^MAIL/ },
        { expect: /^RCPT/ },
        { expect: "DATA" },
        { wait: 700 }, // longer than the command timeout, shorter than the data timeout
        { send: "250 queued A\r\n250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 queued B\r\n" },
      ],
      { timeouts: { command: 400, data: 3000 } },
    );
    const [a, b] = await Promise.all([
      smtp.send("a@example.org", ["b@example.org"], [], [], "A", "body A"),
      smtp.send("a@example.org", ["b@example.org"], [], [], "B", "body B"),
    ]);
    assert.equal(a.reply.text, "queued A");
    assert.equal(b.reply.text, "queued B");
    await server.done;
  });

  for (const mode of ["DATA", "BDAT"] as const) {
    it(`${mode}: a content stream that stalls: ETIMEDOUT at the data deadline, not a hang`, async () => {
      const steps: Step[] =
        mode === "DATA"
          ? [
              { expect: /^MAIL/, reply: "250 ok\r\n" },
              { expect: /^RCPT/, reply: "250 ok\r\n" },
              { expect: "DATA", reply: "354 go\r\n" },
            ]
          : [
              { expect: /^MAIL/ }, // a stream's envelope is settled before its chunks
              { expect: /^RCPT/, reply: "250 ok\r\n250 ok\r\n" },
            ];
      const { smtp, socket } = await session(
        mode === "DATA" ? "250 test.example\r\n" : CHUNKING,
        [...steps, { wait: 5000 }],
        {
          timeouts: { command: 2000, data: 400 },
        },
      );
      const body = new PassThrough();
      body.write("Subject: x\r\n\r\nhello\r\n"); // and never ended
      const started = Date.now();
      await rejectsWith(smtp.sendRaw("a@example.org", ["b@example.org"], body), "ETIMEDOUT", mode);
      assert.ok(Date.now() - started < 2000);
      assert.ok(socket.destroyed);
    });
  }

  it("a content source that yields garbage mid-DATA: EMESSAGE, connection destroyed, no terminator", async () => {
    const { smtp, server, socket } = await session("250 test.example\r\n", [
      { expect: /^MAIL/, reply: "250 ok\r\n" },
      { expect: /^RCPT/, reply: "250 ok\r\n" },
      { expect: "DATA", reply: "354 go\r\n" },
      { wait: 300 },
    ]);
    const bad = Readable.from(["Subject: A\r\n\r\nfirst part\r\n", 42 as unknown as string]);
    await rejectsWith(smtp.sendRaw("a@example.org", ["b@example.org"], bad), "EMESSAGE", "DATA");
    assert.ok(socket.destroyed);
    await server.done;
    assert.doesNotMatch(server.received(), /\r\n\.\r\n/);
  });

  it("BDAT with pipelining: a content stream that errors: EMESSAGE, nothing unhandled", async () => {
    const { smtp, socket } = await session(CHUNKING, [
      { expect: /^MAIL/ }, // a stream's envelope is settled before its chunks
      { expect: /^RCPT/, reply: "250 ok\r\n250 ok\r\n" },
      { wait: 500 },
    ]);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(300 * 1024, 0x61); // large enough to be framed before the failure
      yield Buffer.alloc(300 * 1024, 0x62);
      throw new Error("disk read failed");
    }
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.org"], failing()),
      "EMESSAGE",
      "BDAT",
    );
    assert.match(String((error.cause as Error).message), /disk read failed/);
    assert.ok(socket.destroyed);
    await new Promise((r) => setTimeout(r, 50));
  });

  it("BDAT LAST written, then the connection drops before any reply: END, deliveryUnknown", async () => {
    const { smtp } = await session(CHUNKING, [
      { expect: /^MAIL/ },
      { expect: /^RCPT/ },
      { bdat: true },
      { destroy: true },
    ]);
    const error = await rejectsWith(
      smtp.sendRaw("a@example.org", ["b@example.org"], "Subject: x\r\n\r\nhello\r\n"),
      "ECONNECTION",
      "END",
    );
    assert.equal(error.deliveryUnknown, true);
  });

  it("BDAT: a server that stops reading: ETIMEDOUT, nothing unhandled", async () => {
    const { smtp } = await session(
      "250-test.example\r\n250 CHUNKING\r\n",
      [
        { expect: /^MAIL/, reply: "250 ok\r\n" },
        { expect: /^RCPT/, reply: "250 ok\r\n" },
        { stopReading: true },
        { wait: 5000 },
      ],
      { timeouts: { data: 500 } },
    );
    async function* endless(): AsyncGenerator<Uint8Array> {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      for (;;) yield chunk;
    }
    await rejectsWith(smtp.sendRaw("a@example.org", ["b@example.org"], endless()), "ETIMEDOUT");
    await new Promise((r) => setTimeout(r, 50));
  });

  it("EHLO after STARTTLS answered 451: ETLS", async () => {
    const server = await start([
      { send: "220 x\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250-x\r\n250 STARTTLS\r\n" },
      { expect: "STARTTLS", reply: "220 go\r\n" },
      { tls: "localhost" },
      { expect: `EHLO ${NAME}`, reply: "451 4.3.0 try later\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(await connectTo(server.port));
    await rejectsWith(smtp.startTLS({ ca: CA, servername: "localhost" }), "ETLS", "EHLO");
  });

  it("a connection reset after STARTTLS: ECONNECTION on the next call, no uncaught exception", async () => {
    const server = await start([
      { send: "220 x\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250-x\r\n250 STARTTLS\r\n" },
      { expect: "STARTTLS", reply: "220 go\r\n" },
      { tls: "localhost" },
      { expect: `EHLO ${NAME}`, reply: "250 x\r\n" },
      { expect: "NOOP" },
      { destroy: true },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(await connectTo(server.port));
    assert.equal(await smtp.startTLS({ ca: CA, servername: "localhost" }), true);
    await rejectsWith(smtp.noop(), "ECONNECTION", "NOOP");
  });

  it("timeouts of Infinity or beyond setTimeout's range work (no 1 ms clamp)", async () => {
    const { smtp, server } = await session(
      PIPELINING,
      [
        { expect: /^MAIL/ },
        { expect: /^RCPT/ },
        { expect: "DATA" },
        { wait: 50 },
        { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 ok\r\n" },
      ],
      { timeouts: { command: 3e9, data: Number.POSITIVE_INFINITY } },
    );
    assert.equal((await smtp.send("a@example.org", ["b@example.org"], [], [], "s", "x")).reply.code, 250);
    await server.done;
    assert.throws(() => new SMTP({ timeouts: { command: 0 } }), /positive/);
    assert.throws(() => new SMTP({ timeouts: { data: Number.NaN } }), /positive/);
  });

  it("a socket that is already closed: ECONNECTION at once", async () => {
    const server = await start([{ destroy: true }]);
    const socket = await connectTo(server.port);
    socket.on("error", () => undefined);
    await once(socket, "close");
    await rejectsWith(
      new SMTP({ clientName: NAME, timeouts: { greeting: 60_000 } }).connect(socket),
      "ECONNECTION",
      "CONNECT",
    );
  });

  it("an old-style stream that errors before DATA: no uncaught exception, the envelope error is reported", async () => {
    const { smtp, server } = await session("250 test.example\r\n", [
      { expect: /^MAIL/, reply: "250 ok\r\n" },
      { expect: /^RCPT/ },
      { hold: "rcpt unanswered" },
      { send: "550 no such user\r\n" },
      { expect: "RSET", reply: "250 ok\r\n" },
    ]);
    const legacy = new Stream() as Stream & { readable: boolean };
    legacy.readable = true;
    legacy.on("error", () => undefined); // the caller's own listener
    const sent = smtp.sendRaw(
      "a@example.org",
      ["nobody@example.org"],
      legacy as unknown as NodeJS.ReadableStream,
    );
    await server.reached("rcpt unanswered"); // the stream fails while the envelope is still pending
    legacy.emit("error", new Error("upstream failed"));
    server.release("rcpt unanswered");
    await rejectsWith(sent, "EENVELOPE", "RCPT");
    await server.done;
  });

  it("AUTH answered with 250: EPROTOCOL and the connection is closed", async () => {
    const { smtp } = await session(
      "250-test.example\r\n250 AUTH PLAIN\r\n",
      [{ expect: /^AUTH PLAIN /, reply: "250 what\r\n" }],
      { allowInsecureAuth: true },
    );
    await rejectsWith(smtp.authenticate("a", "b", SMTP.AUTH_PLAIN), "EPROTOCOL", "AUTH");
    await rejectsWith(smtp.noop(), "ECONNECTION");
  });

  it("LMTP: the connection drops after the first recipient's reply: who got it, who is unknown", async () => {
    const error = await lmtpSendDropped([
      { expect: /^MAIL/, reply: "250 ok\r\n" },
      { expect: "RCPT TO:<b@example.org>", reply: "250 ok\r\n" },
      { expect: "RCPT TO:<c@example.org>", reply: "250 ok\r\n" },
      { expect: "DATA", reply: "354 go\r\n" },
      { data: true, reply: "250 2.0.0 b delivered\r\n" },
      { close: true }, // after the first reply, in order (a RST could overtake it)
    ]);
    assert.equal(error.deliveryUnknown, true);
    assert.deepEqual(error.accepted, ["b@example.org"]);
    assert.deepEqual(error.rejected, []);
    assert.deepEqual(error.unknown, ["c@example.org"]);
  });

  it("STARTTLS refused with an extra reply in the same segment: the extra one is unsolicited", async () => {
    const { smtp } = await session("250-test.example\r\n250 STARTTLS\r\n", [
      { expect: "STARTTLS", reply: "454 4.7.0 not now\r\n250 unsolicited\r\n" },
      { expectClose: true },
    ]);
    assert.equal(await smtp.startTLS({ ca: CA, servername: "localhost" }), false);
    const error = await rejectsWith(smtp.noop(), "EPROTOCOL", "NOOP");
    assert.match(error.message, /no reply was expected/);
  });

  it("abort during the STARTTLS handshake is EABORT, not ETLS", async () => {
    const controller = new AbortController();
    const { smtp, server } = await session(
      "250-test.example\r\n250 STARTTLS\r\n",
      [{ expect: "STARTTLS", reply: "220 go\r\n" }, { awaitBytes: true }, { hold: "in the handshake" }],
      { signal: controller.signal },
    );
    const upgrading = smtp.startTLS({ ca: CA, servername: "localhost" });
    await server.reached("in the handshake"); // the ClientHello arrived; the server never answers it
    controller.abort(new Error("user cancelled"));
    await rejectsWith(upgrading, "EABORT", "STARTTLS");
  });

  it("pipelined replies that each take a while: every deadline counts from the reply before it", async () => {
    const { smtp, server } = await session(
      PIPELINING,
      [
        { expect: /^MAIL/ },
        { expect: /^RCPT/ },
        { expect: /^RCPT/ },
        { expect: /^RCPT/ },
        { expect: "DATA" },
        { send: "250 ok\r\n" },
        { wait: 250 },
        { send: "250 ok\r\n" },
        { wait: 250 },
        { send: "250 ok\r\n" },
        { wait: 250 },
        { send: "250 ok\r\n354 go\r\n" },
        { data: true, reply: "250 queued\r\n" },
      ],
      { timeouts: { command: 500 } },
    );
    const result = await smtp.send(
      "a@example.org",
      ["b@example.org", "c@example.org", "d@example.org"],
      [],
      [],
      "s",
      "x",
    );
    assert.equal(result.accepted.length, 3);
    await server.done;
  });

  for (const via of ["sendRaw", "send"] as const) {
    it(`${via}(): a stalled content stream is destroyed when the data deadline ends the send`, async () => {
      const { smtp } = await session(
        "250 test.example\r\n",
        [
          { expect: /^MAIL/, reply: "250 ok\r\n" },
          { expect: /^RCPT/, reply: "250 ok\r\n" },
          { expect: "DATA", reply: "354 go\r\n" },
          { wait: 3000 },
        ],
        { timeouts: { data: 300 } },
      );
      const body = new PassThrough();
      body.write("Subject: x\r\n\r\nthe first line of a body that never ends\r\n");
      const sending =
        via === "send"
          ? smtp.send("a@example.org", ["b@example.org"], [], [], "s", body)
          : smtp.sendRaw("a@example.org", ["b@example.org"], body);
      await rejectsWith(sending, "ETIMEDOUT", "DATA");
      assert.equal(body.destroyed, true);
    });
  }

  it("a logger that throws does not break the protocol", async () => {
    const { smtp } = await session("250 test.example\r\n", [{ expect: "NOOP", reply: "250 ok\r\n" }], {
      logger: () => {
        throw new Error("logger broke");
      },
    });
    assert.equal((await smtp.noop()).code, 250);
  });
});

// sendMail(): connect, send, close — and close also after a failure, never masking the send's outcome.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SMTP, sendMail, type TranscriptEntry } from "../../src/index.js";
import { noConnectionsLeft, rejectsWith } from "../helpers/assertions.js";
import { CA } from "../helpers/script-server.js";
import { freePort } from "../helpers/servers/common.js";
import { testServers } from "../helpers/test-servers.js";

const USERS = { alice: "correct horse battery staple" };
const NAME = "client.example";
const { harness, script } = testServers();

describe("sendMail()", () => {
  it("connects, sends, closes", async () => {
    const server = await harness({ auth: { users: USERS } });
    const log: TranscriptEntry[] = [];
    const result = await sendMail({
      host: "localhost",
      port: server.port,
      tls: { ca: CA },
      auth: { username: "alice", password: USERS.alice, type: SMTP.AUTH_LOGIN },
      logger: (e) => log.push(e),
      from: "Alice <alice@example.com>",
      to: "bob@example.com",
      bcc: ["carol@example.com"],
      subject: "sendMail",
      content: "hello\n",
    });
    assert.deepEqual(result.accepted, ["bob@example.com", "carol@example.com"]);
    const [message] = await server.waitForMessages(1);
    assert.match(message!.raw.toString(), /^Subject: sendMail\r$/m);
    assert.equal(log.at(-2)?.line, "QUIT");
    assert.equal(server.authAttempts()[0]?.method, "LOGIN");
    await noConnectionsLeft(server);
  });

  it("closes in finally: a refused transaction rejects with its own error, then QUIT", async () => {
    const server = await harness({ auth: { users: USERS } });
    const log: TranscriptEntry[] = [];
    await rejectsWith(
      sendMail({
        host: "localhost",
        port: server.port,
        tls: { ca: CA },
        logger: (e) => log.push(e),
        from: "alice@example.com",
        to: ["reject@example.com"],
        subject: "x",
        content: "x\n",
      }),
      "EENVELOPE",
      "RCPT",
    );
    assert.ok(log.some((e) => e.direction === "C" && e.line === "QUIT"));
    await noConnectionsLeft(server);
  });

  it("a failure to close never masks the send's result or error", async () => {
    const server = await script([
      { send: "220 mail.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250 mail.example\r\n" },
      { expect: "MAIL FROM:<a@example.com>", reply: "250 ok\r\n" },
      { expect: "RCPT TO:<b@example.com>", reply: "250 ok\r\n" },
      { expect: "DATA", reply: "354 go\r\n" },
      { data: true, reply: "250 queued\r\n" },
      { expect: "QUIT" },
      { destroy: true },
    ]);
    const result = await sendMail({
      host: "127.0.0.1",
      port: server.port,
      security: "none",
      clientName: NAME,
      from: "a@example.com",
      to: "b@example.com",
      subject: "s",
      content: "c\n",
    });
    assert.equal(result.reply.code, 250);
  });

  it("no recipients: EINPUT before connecting", async () => {
    const port = await freePort();
    await rejectsWith(
      sendMail({ host: "127.0.0.1", port, from: "a@example.com", to: [], subject: "s", content: "c" }),
      "EINPUT",
    );
  });
});

// sendMail(): connect, send, close — and close also after a failure, never masking the send's outcome.
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";
import { SMTP, SMTPError, sendMail, type TranscriptEntry } from "../../src/index.js";
import { CA, type ScriptServer, type Step, startScriptServer } from "../helpers/script-server.js";
import { waitUntil } from "../helpers/servers/common.js";
import {
  type SmtpServerHarness,
  type SmtpServerHarnessOptions,
  startSmtpServer,
} from "../helpers/servers/smtp-server.js";

const USERS = { alice: "correct horse battery staple" };
const NAME = "client.example";
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function harness(options: SmtpServerHarnessOptions): Promise<SmtpServerHarness> {
  const server = await startSmtpServer(options);
  cleanups.push(() => server.stop());
  return server;
}

async function script(steps: Step[]): Promise<ScriptServer> {
  const server = await startScriptServer(steps);
  cleanups.push(() => server.close());
  return server;
}

/** The server's open connections drop to zero: the client closed its socket. */
function noConnectionsLeft(server: SmtpServerHarness): Promise<true> {
  const connections = (server.server as unknown as { connections: Set<unknown> }).connections;
  return waitUntil(() => (connections.size === 0 ? true : undefined), 3000, "the client to close its socket");
}

async function rejects(promise: Promise<unknown>, code: string, stage?: string): Promise<SMTPError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SMTPError, `expected SMTPError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (stage !== undefined) assert.equal(error.stage, stage, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** A port on 127.0.0.1 with nothing listening (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
    await rejects(
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
    const port = await closedPort();
    await rejects(
      sendMail({ host: "127.0.0.1", port, from: "a@example.com", to: [], subject: "s", content: "c" }),
      "EINPUT",
    );
  });
});

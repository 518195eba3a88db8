// connect(): security defaults and modes, the wrong TLS mode for the port, refusals turned into errors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planConnection } from "../../src/api/connect.js";
import { connect, type TranscriptEntry } from "../../src/index.js";
import { noConnectionsLeft, rejectsWith } from "../helpers/assertions.js";
import { CA } from "../helpers/script-server.js";
import { testServers } from "../helpers/test-servers.js";

const USERS = { alice: "correct horse battery staple" };
const NAME = "client.example";
const { harness, script } = testServers();

describe("connect(): defaults", () => {
  it("port 587 with required STARTTLS; 465 with implicit TLS; each implies the other", () => {
    assert.deepEqual(pick(planConnection({ host: "mail.example" })), { port: 587, security: "starttls" });
    assert.deepEqual(pick(planConnection({ host: "mail.example", security: "tls" })), {
      port: 465,
      security: "tls",
    });
    assert.deepEqual(pick(planConnection({ host: "mail.example", port: 465 })), {
      port: 465,
      security: "tls",
    });
    assert.deepEqual(pick(planConnection({ host: "mail.example", port: 25 })), {
      port: 25,
      security: "starttls",
    });
    assert.equal(planConnection({ host: "mail.example" }).connectTimeout, 30_000);
  });

  it("servername is the host (not for an IP address); TLS 1.2 floor; the caller's options win", () => {
    const named = planConnection({ host: "mail.example." }).tls;
    assert.equal(named.servername, "mail.example");
    assert.equal(named.minVersion, "TLSv1.2");
    assert.equal(named.rejectUnauthorized, undefined); // Node's default: verify
    assert.equal(planConnection({ host: "192.0.2.1" }).tls.servername, undefined);
    const v6 = planConnection({ host: "[::1]" });
    assert.equal(v6.host, "::1");
    assert.equal(v6.tls.servername, undefined);
    assert.equal(
      planConnection({ host: "a.example", tls: { servername: "b.example" } }).tls.servername,
      "b.example",
    );
  });

  it("bad options are EINPUT before any connection", async () => {
    await rejectsWith(connect({ host: "" }), "EINPUT", "CONNECT");
    await rejectsWith(connect({ host: "x.example", port: 70000 }), "EINPUT", "CONNECT");
    await rejectsWith(connect({ host: "x.example", security: "ssl" as "tls" }), "EINPUT", "CONNECT");
    await rejectsWith(connect({ host: "x\r\n.example" }), "EINPUT", "CONNECT");
  });
});

function pick(plan: { port: number; security: string }): { port: number; security: string } {
  return { port: plan.port, security: plan.security };
}

describe("connect(): security modes against smtp-server", () => {
  it("STARTTLS (the default) and AUTH: a verified TLS session, authenticated", async () => {
    const server = await harness({ auth: { users: USERS, required: true } });
    const smtp = await connect({
      host: "localhost",
      port: server.port,
      tls: { ca: CA },
      auth: { username: "alice", password: USERS.alice },
    });
    assert.equal(smtp.secure, true);
    assert.equal(smtp.tlsSocket?.authorized, true);
    const result = await smtp.send("a@example.com", ["b@example.com"], [], [], "hi", "body\n");
    assert.deepEqual(result.accepted, ["b@example.com"]);
    await smtp.close();
    assert.equal((await server.waitForMessages(1))[0]?.user, "alice");
  });

  it('"tls" on an implicit-TLS port, by IP address (checked against the certificate\'s IP entry)', async () => {
    const server = await harness({ secure: true });
    const smtp = await connect({ host: "127.0.0.1", port: server.port, security: "tls", tls: { ca: CA } });
    assert.equal(smtp.secure, true);
    assert.ok(smtp.getServerOptions().length > 0);
    await smtp.close();
  });

  it("required STARTTLS not offered: ETLS with the EHLO reply, QUIT, socket closed", async () => {
    const server = await harness({ starttls: false });
    const log: TranscriptEntry[] = [];
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port, logger: (e) => log.push(e) }),
      "ETLS",
      "STARTTLS",
    );
    assert.match(error.message, /does not offer STARTTLS/);
    assert.match(error.message, /security "tls"/);
    assert.equal(error.reply?.code, 250);
    assert.ok(log.some((e) => e.direction === "C" && e.line === "QUIT"));
    await noConnectionsLeft(server);
  });

  it('"starttls-if-offered" goes on in clear when STARTTLS is not offered, but never authenticates there', async () => {
    const server = await harness({ starttls: false, auth: { users: USERS, allowInsecure: true } });
    const smtp = await connect({ host: "127.0.0.1", port: server.port, security: "starttls-if-offered" });
    assert.equal(smtp.secure, false);
    await smtp.close();
    const error = await rejectsWith(
      connect({
        host: "127.0.0.1",
        port: server.port,
        security: "starttls-if-offered",
        allowInsecureAuth: true, // not honoured for this mode
        auth: { username: "alice", password: USERS.alice },
      }),
      "EAUTH",
      "AUTH",
    );
    assert.match(error.message, /never sends credentials in clear/);
    assert.equal(server.authAttempts().length, 0);
    await noConnectionsLeft(server);
  });

  it('"starttls-if-offered" uses STARTTLS when it is offered', async () => {
    const server = await harness({ auth: { users: USERS } });
    const smtp = await connect({
      host: "localhost",
      port: server.port,
      security: "starttls-if-offered",
      tls: { ca: CA },
      auth: { username: "alice", password: USERS.alice },
    });
    assert.equal(smtp.secure, true);
    await smtp.close();
  });

  it('"none" authenticates in clear only when the caller sets allowInsecureAuth', async () => {
    const server = await harness({ starttls: false, auth: { users: USERS, allowInsecure: true } });
    const auth = { username: "alice", password: USERS.alice };
    const base = { host: "127.0.0.1", port: server.port, security: "none", auth } as const;
    const error = await rejectsWith(connect(base), "EAUTH", "AUTH");
    assert.match(error.message, /allowInsecureAuth/);
    assert.equal(server.authAttempts().length, 0);
    const smtp = await connect({ ...base, allowInsecureAuth: true });
    assert.equal(smtp.secure, false);
    await smtp.close();
    assert.deepEqual(server.authAttempts(), [{ method: "PLAIN", username: "alice", success: true }]);
  });

  it("declined credentials: EAUTH with the 535 reply, never the password; socket closed", async () => {
    const server = await harness({ auth: { users: USERS } });
    const error = await rejectsWith(
      connect({
        host: "localhost",
        port: server.port,
        tls: { ca: CA },
        auth: { username: "alice", password: "wrong-pw-123" },
      }),
      "EAUTH",
      "AUTH",
    );
    assert.equal(error.reply?.code, 535);
    assert.match(error.message, /declined the credentials/);
    assert.doesNotMatch(error.message, /wrong-pw-123/);
    await noConnectionsLeft(server);
  });

  it("a certificate that does not chain to a trusted CA: ETLS that says to pass tls.ca", async () => {
    const server = await harness({});
    const error = await rejectsWith(connect({ host: "localhost", port: server.port }), "ETLS", "STARTTLS");
    assert.match(error.message, /tls\.ca/);
    await noConnectionsLeft(server);
  });
});

describe("connect(): certificates and aborts", () => {
  it("a certificate for another name: ETLS that says to connect by a name it carries", async () => {
    const server = await harness({ tlsCert: "other.example" });
    const error = await rejectsWith(
      connect({ host: "localhost", port: server.port, tls: { ca: CA } }),
      "ETLS",
      "STARTTLS",
    );
    assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.match(error.message, /connect by a name the certificate carries/);
    await noConnectionsLeft(server);
  });

  it("an AbortSignal already aborted: EABORT at CONNECT, no connection made", async () => {
    const server = await harness({});
    await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port, signal: AbortSignal.abort() }),
      "EABORT",
      "CONNECT",
    );
    assert.equal((server.server as unknown as { connections: Set<unknown> }).connections.size, 0);
  });
});

describe("connect(): the wrong TLS mode for the port", () => {
  it('implicit TLS to a plain-SMTP port: ETLS saying use security "starttls"', async () => {
    const server = await harness({});
    const error = await rejectsWith(
      connect({ host: "localhost", port: server.port, security: "tls", tls: { ca: CA } }),
      "ETLS",
      "CONNECT",
    );
    assert.match(error.message, /speaks plain SMTP/);
    assert.match(error.message, /use security "starttls"/);
  });

  it('plain SMTP to an implicit-TLS port: no greeting, and the error says use security "tls"', async () => {
    const server = await harness({ secure: true });
    const started = Date.now();
    const error = await rejectsWith(
      connect({ host: "localhost", port: server.port, timeouts: { greeting: 300 } }),
      "ETIMEDOUT",
      "GREETING",
    );
    assert.ok(Date.now() - started < 2000);
    assert.match(error.message, /use security "tls"/);
    await noConnectionsLeft(server);
  });
});

describe("connect(): where the seed call resolves false", () => {
  it("a declined greeting (554): ECONNECTION with that reply; QUIT was sent", async () => {
    const server = await script([
      { send: "554 5.7.1 no service for you\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
      { expectClose: true },
    ]);
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port }),
      "ECONNECTION",
      "GREETING",
    );
    assert.equal(error.reply?.code, 554);
    assert.match(error.message, /no service for you/);
    await server.done;
  });

  it("EHLO and HELO refused: ECONNECTION with the reply, then QUIT", async () => {
    const server = await script([
      { send: "220 mail.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "550 go away\r\n" },
      { expect: `HELO ${NAME}`, reply: "550 5.7.1 bad name\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
      { expectClose: true },
    ]);
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port, clientName: NAME }),
      "ECONNECTION",
      "EHLO",
    );
    assert.equal(error.reply?.code, 550);
    assert.match(error.message, /clientName/);
    await server.done;
  });

  it("STARTTLS refused (454): ETLS with the reply, never a continuation in clear", async () => {
    const server = await script([
      { send: "220 mail.example ESMTP\r\n" },
      { expect: `EHLO ${NAME}`, reply: "250-mail.example\r\n250 STARTTLS\r\n" },
      { expect: "STARTTLS", reply: "454 4.7.0 TLS not available\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
      { expectClose: true },
    ]);
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port, clientName: NAME }),
      "ETLS",
      "STARTTLS",
    );
    assert.equal(error.reply?.code, 454);
    assert.equal(error.temporary, true);
    await server.done;
  });
});

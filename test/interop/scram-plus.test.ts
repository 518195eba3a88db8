// SCRAM-SHA-256-PLUS (and SCRAM-SHA-1-PLUS) against GNU SASL's server (`gsasl --server`), the one real
// server-side implementation with channel binding we can run: tls-exporter (RFC 9266) on TLS 1.3.
// The SMTP framing around it is a small front in the harness; every SASL check is gsasl's.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type GsaslServer, startGsaslServer } from "../helpers/servers/gsasl.js";

const USER = "plus-user";
const PASSWORD = "chännel-bound secret";

describe("SCRAM-*-PLUS against gsasl --server", () => {
  let server: GsaslServer;
  let corrupt: GsaslServer;
  before(async () => {
    [server, corrupt] = await Promise.all([
      startGsaslServer({ users: { [USER]: PASSWORD } }),
      startGsaslServer({ users: { [USER]: PASSWORD }, corruptChannelBinding: true }),
    ]);
  });
  after(async () => {
    await server.stop();
    await corrupt.stop();
  });

  async function secured(port: number, ca: Buffer, entries: TranscriptEntry[] = []): Promise<SMTP> {
    const smtp = new SMTP({ clientName: "client.example", logger: (e) => entries.push(e) });
    assert.equal(await smtp.connect(await connectTo(port)), true);
    assert.equal(await smtp.startTLS({ ca, servername: "localhost" }), true);
    assert.equal(smtp.tlsSocket?.getProtocol(), "TLSv1.3");
    return smtp;
  }

  it("AUTH_DEFAULT picks SCRAM-SHA-256-PLUS; tls-exporter binding verified by gsasl", async () => {
    const entries: TranscriptEntry[] = [];
    const smtp = await secured(server.port, server.ca, entries);
    assert.equal(smtp.getAuthTypes()[0], SMTP.AUTH_SCRAM_SHA_256_PLUS);
    assert.equal(await smtp.authenticate(USER, PASSWORD), true);
    const attempt = server.attempts().at(-1);
    assert.equal(attempt?.mechanism, "SCRAM-SHA-256-PLUS");
    assert.equal(attempt?.channelBinding, "tls-exporter");
    assert.equal(attempt?.success, true);
    const transcript = entries.map((e) => e.line).join("\n");
    assert.ok(!transcript.includes(PASSWORD));
    await smtp.close();
  });

  it("a wrong password is false", async () => {
    const smtp = await secured(server.port, server.ca);
    assert.equal(await smtp.authenticate(USER, "wrong", SMTP.AUTH_SCRAM_SHA_256_PLUS), false);
    await smtp.close();
  });

  it("a server whose channel binding differs (a man in the middle) never authenticates the client", async () => {
    const smtp = await secured(corrupt.port, corrupt.ca);
    const outcome = await smtp
      .authenticate(USER, PASSWORD, SMTP.AUTH_SCRAM_SHA_256_PLUS)
      .catch((e: unknown) => e);
    assert.ok(
      outcome === false || (outcome instanceof SMTPError && outcome.code === "EAUTH"),
      String(outcome),
    );
    assert.equal(corrupt.attempts().at(-1)?.success, false);
  });

  it("plain SCRAM-SHA-256 and SCRAM-SHA-1 work against gsasl too", async () => {
    for (const type of [SMTP.AUTH_SCRAM_SHA_256, SMTP.AUTH_SCRAM_SHA_1]) {
      const smtp = await secured(server.port, server.ca);
      assert.equal(await smtp.authenticate(USER, PASSWORD, type), true);
      await smtp.close();
    }
  });
});

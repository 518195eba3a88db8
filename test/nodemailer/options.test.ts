// Option translation (pure): smtpkit's ConnectOptions pass through; nodemailer's keys become ours; the ones
// that would weaken security silently are EINPUT with a reason.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SMTP, SMTPError } from "../../src/index.js";
import { translateOptions } from "../../src/nodemailer/options.js";

function refused(options: Parameters<typeof translateOptions>[0], pattern: RegExp): SMTPError {
  try {
    translateOptions(options);
  } catch (error) {
    assert.ok(error instanceof SMTPError);
    assert.equal(error.code, "EINPUT");
    assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected EINPUT for ${JSON.stringify(options)}`);
}

describe("smtpkitTransport options", () => {
  it("smtpkit's own options pass through unchanged, with its defaults (no security given: STARTTLS required)", () => {
    const logger = () => undefined;
    const { connect, pool } = translateOptions({
      host: "smtp.example.com",
      port: 2525,
      tls: { ca: "CA" },
      auth: { username: "u", password: "p", type: SMTP.AUTH_PLAIN },
      clientName: "client.example",
      timeouts: { data: 5000 },
      connectTimeout: 1000,
      logger,
    });
    assert.deepEqual(connect, {
      host: "smtp.example.com",
      port: 2525,
      tls: { ca: "CA" },
      auth: { username: "u", password: "p", type: SMTP.AUTH_PLAIN },
      clientName: "client.example",
      timeouts: { data: 5000 },
      connectTimeout: 1000,
      logger,
    });
    assert.equal(pool, undefined);
  });

  it("a pasted nodemailer config is translated", () => {
    const { connect } = translateOptions({
      host: "smtp.example.com",
      port: 465,
      secure: true,
      auth: { user: "me@example.com", pass: "pw" },
      name: "client.example",
      connectionTimeout: 1000,
      greetingTimeout: 2000,
      socketTimeout: 3000,
      tls: { servername: "mail.example.com" },
    });
    assert.deepEqual(connect, {
      host: "smtp.example.com",
      port: 465,
      security: "tls",
      auth: { username: "me@example.com", password: "pw", type: SMTP.AUTH_DEFAULT },
      clientName: "client.example",
      connectTimeout: 1000,
      timeouts: { greeting: 2000, command: 3000 },
      tls: { servername: "mail.example.com" },
    });
  });

  it("secure: false and requireTLS (true or false) keep STARTTLS required: never weaker than asked", () => {
    for (const extra of [
      { secure: false },
      { requireTLS: true },
      { requireTLS: false },
      { secure: false, requireTLS: false },
    ])
      assert.equal(
        translateOptions({ host: "h", ...extra }).connect.security,
        undefined,
        JSON.stringify(extra),
      );
  });

  it('ignoreTLS: true is refused unless security: "none" says the same, and the error says why', () => {
    refused({ host: "h", ignoreTLS: true }, /in clear.*security: "none"/);
    refused({ host: "h", ignoreTLS: true, security: "starttls-if-offered" }, /security: "none"/);
    assert.equal(translateOptions({ host: "h", ignoreTLS: true, security: "none" }).connect.security, "none");
    assert.equal(translateOptions({ host: "h", ignoreTLS: false }).connect.security, undefined);
  });

  it("contradictions and doubled settings are EINPUT", () => {
    refused({ host: "h", secure: true, security: "starttls" }, /secure: true/);
    refused({ host: "h", secure: false, security: "tls" }, /secure: false/);
    refused({ host: "h", requireTLS: true, security: "none" }, /requireTLS/);
    refused({ host: "h", name: "a.example", clientName: "b.example" }, /clientName and name/);
    refused({ host: "h", auth: { username: "a", user: "b", pass: "p" } }, /auth.username and auth.user/);
    refused({ host: "h", auth: { user: "a" } }, /password/);
  });

  it("nodemailer keys without a safe translation are refused by name", () => {
    refused({ host: "h", opportunisticTLS: true } as never, /"opportunisticTLS".*starttls-if-offered/);
    refused({ host: "h", proxy: "socks5://x" } as never, /"proxy"/);
    refused({ host: "h", service: "gmail" } as never, /"service"/);
    refused({ host: "h", logger: true } as never, /logger must be a function/);
  });

  it("auth: OAuth2 access token (XOAUTH2), mechanism by name", () => {
    assert.deepEqual(
      translateOptions({ host: "h", auth: { type: "OAuth2", user: "u", accessToken: "t" } }).connect.auth,
      {
        username: "u",
        password: "t",
        type: SMTP.AUTH_XOAUTH2,
      },
    );
    assert.equal(
      translateOptions({ host: "h", auth: { user: "u", pass: "p", method: "cram-md5" } }).connect.auth?.type,
      SMTP.AUTH_CRAM_MD5,
    );
    refused({ host: "h", auth: { user: "u", pass: "p", method: "NTLM" } }, /NTLM/);
  });

  it("pool: true, pool options, and nodemailer's pool keys", () => {
    assert.deepEqual(translateOptions({ host: "h", pool: true }).pool, {});
    assert.deepEqual(translateOptions({ host: "h", pool: { maxConnections: 2 } }).pool, {
      maxConnections: 2,
    });
    assert.deepEqual(
      translateOptions({
        host: "h",
        pool: true,
        maxConnections: 3,
        maxMessages: 50,
        rateLimit: 10,
        rateDelta: 2000,
      }).pool,
      { maxConnections: 3, maxMessagesPerConnection: 50, rateLimit: { messages: 10, perMs: 2000 } },
    );
    refused({ host: "h", maxConnections: 3 }, /only apply with pool/);
    refused({ host: "h", pool: { maxConnections: 2 }, maxConnections: 3 }, /disagree/);
  });
});

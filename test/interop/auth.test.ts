// Every mechanism against real SASL servers none of us wrote:
// Dovecot (through Postfix submission with STARTTLS): PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256;
// aiosmtpd: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER; smtp-server: PLAIN, LOGIN, XOAUTH2, CRAM-MD5.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { type PostfixServer, startPostfix } from "../helpers/servers/postfix.js";
import { type SmtpServerHarness, startSmtpServer } from "../helpers/servers/smtp-server.js";

const ASCII_USER = "alice";
const ASCII_PASSWORD = "correct horse battery staple";
const UNICODE_USER = "jörg";
// Dovecot's default auth_username_chars refuses non-ASCII user names; its user has a non-ASCII password.
const DOVECOT_USER = "joerg";
const UNICODE_PASSWORD = "pässwörd-Ünïcødé-密码";

interface Secured {
  smtp: SMTP;
  entries: TranscriptEntry[];
}

async function secured(port: number, ca: Buffer): Promise<Secured> {
  const entries: TranscriptEntry[] = [];
  const smtp = new SMTP({ clientName: "client.example", logger: (e) => entries.push(e) });
  assert.equal(await smtp.connect(await connectTo(port)), true);
  assert.equal(await smtp.startTLS({ ca, servername: "localhost" }), true);
  return { smtp, entries };
}

function assertNoSecret(entries: TranscriptEntry[], password: string): void {
  const text = entries.map((e) => e.line).join("\n");
  assert.ok(!text.includes(password), "password in transcript");
  assert.ok(!text.includes(Buffer.from(password).toString("base64")), "base64 password in transcript");
}

const DOVECOT: [string, number][] = [
  ["PLAIN", SMTP.AUTH_PLAIN],
  ["LOGIN", SMTP.AUTH_LOGIN],
  ["CRAM-MD5", SMTP.AUTH_CRAM_MD5],
  ["SCRAM-SHA-1", SMTP.AUTH_SCRAM_SHA_1],
  ["SCRAM-SHA-256", SMTP.AUTH_SCRAM_SHA_256],
];

describe("authenticate() against Dovecot SASL through Postfix", () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({
      auth: { users: { [ASCII_USER]: ASCII_PASSWORD, [DOVECOT_USER]: UNICODE_PASSWORD } },
    });
  });
  after(() => postfix.stop());

  it("offers the Dovecot mechanisms only after STARTTLS; getAuthTypes orders them strongest first", async () => {
    const smtp = new SMTP({ clientName: "client.example" });
    await smtp.connect(await connectTo(postfix.port));
    assert.deepEqual(smtp.getAuthTypes(), []);
    assert.equal(await smtp.startTLS({ ca: postfix.ca, servername: "localhost" }), true);
    assert.deepEqual(smtp.getAuthTypes(), [
      SMTP.AUTH_SCRAM_SHA_256,
      SMTP.AUTH_SCRAM_SHA_1,
      SMTP.AUTH_CRAM_MD5,
      SMTP.AUTH_PLAIN,
      SMTP.AUTH_LOGIN,
    ]);
    await smtp.close();
  });

  for (const [name, type] of DOVECOT) {
    for (const [user, password] of [
      [ASCII_USER, ASCII_PASSWORD],
      [DOVECOT_USER, UNICODE_PASSWORD],
    ] as const) {
      it(`${name} as ${user}: true with the right password, false with a wrong one, nothing leaked`, async () => {
        const good = await secured(postfix.port, postfix.ca);
        assert.equal(await good.smtp.authenticate(user, password, type), true, `${name} ${user}`);
        assert.equal(good.smtp.lastReply?.code, 235);
        assertNoSecret(good.entries, password);
        await good.smtp.close();
        const bad = await secured(postfix.port, postfix.ca);
        assert.equal(await bad.smtp.authenticate(user, `${password}x`, type), false);
        assert.equal(bad.smtp.lastReply?.code, 535);
        assertNoSecret(bad.entries, `${password}x`);
        await bad.smtp.close();
      });
    }
  }

  it("AUTH_DEFAULT picks SCRAM-SHA-256 here", async () => {
    const { smtp, entries } = await secured(postfix.port, postfix.ca);
    assert.equal(await smtp.authenticate(DOVECOT_USER, UNICODE_PASSWORD), true);
    assert.ok(entries.some((e) => e.line.startsWith("AUTH SCRAM-SHA-256")));
    await smtp.close();
  });

  it("in clear the server offers nothing and authenticate() refuses before sending", async () => {
    const smtp = new SMTP({ clientName: "client.example", allowInsecureAuth: false });
    await smtp.connect(await connectTo(postfix.port));
    await assert.rejects(
      smtp.authenticate(ASCII_USER, ASCII_PASSWORD),
      (e: unknown) => e instanceof SMTPError && e.code === "EAUTH",
    );
    await smtp.close();
  });
});

describe("authenticate() against aiosmtpd and smtp-server", () => {
  let aiosmtpd: AiosmtpdServer;
  let npmServer: SmtpServerHarness;
  const TOKEN = "ya29.a0-access-token";
  before(async () => {
    [aiosmtpd, npmServer] = await Promise.all([
      startAiosmtpd({
        starttls: true,
        auth: {
          users: {
            [ASCII_USER]: ASCII_PASSWORD,
            [UNICODE_USER]: UNICODE_PASSWORD,
            "oauth@example.test": TOKEN,
          },
        },
      }),
      startSmtpServer({
        auth: {
          users: {
            [ASCII_USER]: ASCII_PASSWORD,
            [UNICODE_USER]: UNICODE_PASSWORD,
            "oauth@example.test": TOKEN,
          },
          methods: ["PLAIN", "LOGIN", "XOAUTH2", "CRAM-MD5"],
        },
      }),
    ]);
  });
  after(async () => {
    await aiosmtpd.stop();
    await npmServer.stop();
  });

  const cases: [string, () => { port: number; ca: Buffer }, string, number, string, string][] = [];
  for (const [label, get] of [
    ["aiosmtpd", () => aiosmtpd],
    ["smtp-server", () => npmServer],
  ] as const) {
    cases.push([label, get, "PLAIN", SMTP.AUTH_PLAIN, UNICODE_USER, UNICODE_PASSWORD]);
    cases.push([label, get, "LOGIN", SMTP.AUTH_LOGIN, UNICODE_USER, UNICODE_PASSWORD]);
    cases.push([label, get, "XOAUTH2", SMTP.AUTH_XOAUTH2, "oauth@example.test", TOKEN]);
  }
  cases.push(["aiosmtpd", () => aiosmtpd, "OAUTHBEARER", SMTP.AUTH_OAUTHBEARER, "oauth@example.test", TOKEN]);
  cases.push(["smtp-server", () => npmServer, "CRAM-MD5", SMTP.AUTH_CRAM_MD5, ASCII_USER, ASCII_PASSWORD]);

  for (const [label, get, name, type, user, secret] of cases) {
    it(`${label} ${name}: true, then false with a wrong secret`, async () => {
      const { port, ca } = get();
      const good = await secured(port, ca);
      assert.equal(await good.smtp.authenticate(user, secret, type), true);
      assertNoSecret(good.entries, secret);
      await good.smtp.close();
      const bad = await secured(port, ca);
      assert.equal(await bad.smtp.authenticate(user, `${secret}-wrong`, type), false);
      assert.ok((bad.smtp.lastReply?.code ?? 0) >= 500, String(bad.smtp.lastReply?.code));
      assertNoSecret(bad.entries, `${secret}-wrong`);
      await bad.smtp.close();
    });
  }
});

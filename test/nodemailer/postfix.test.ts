// nodemailer's own feature set (its composer, attachments, embedded images, DKIM, envelope) sent through
// smtpkitTransport to a real Postfix, and what Postfix delivered parsed back with mailparser; DKIM checked by
// dkimpy (Debian python3-dkim), a verifier none of us wrote.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import nodemailer from "nodemailer";
import { SMTPError } from "../../src/index.js";
import {
  type SmtpkitTransportOptions,
  smtpkitTransport,
  type TransportError,
} from "../../src/nodemailer/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { assertNoSecrets } from "../helpers/secrets.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { LOGO, ROOT } from "./paths.js";

const LICENSE = join(ROOT, "LICENSE");
const CA_FILE = join(ROOT, "test", "helpers", "fixtures", "ca.pem");
const PASSWORD = "s3cret-Pässword!";
const PYTHON = "/usr/bin/python3"; // Debian's, with python3-dkim (the pyenv python3 on PATH has no dkim)
const skip = postfixUnavailableReason({ auth: true });

/** dkimpy's verdict on a message, with the selector's public key served instead of DNS. */
function dkimpyVerify(message: Buffer, txtRecord: string): string {
  const script = [
    "import sys, dkim",
    "record = sys.argv[1].encode()",
    "ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=lambda name, timeout=5: record)",
    "print('pass' if ok else 'fail')",
  ].join("\n");
  const run = spawnSync(PYTHON, ["-c", script, txtRecord], { input: message, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

const crlf = (raw: Buffer): Buffer => Buffer.from(raw.toString("binary").replace(/\r?\n/g, "\r\n"), "binary");

describe("nodemailer's sendMail() through smtpkitTransport to Postfix", { skip }, () => {
  let pf: PostfixServer;
  before(async () => {
    pf = await startPostfix({ auth: { users: { "sender@example.test": PASSWORD } }, submission: true });
  });
  after(() => pf?.stop());

  const transport = (extra: Partial<SmtpkitTransportOptions> = {}) =>
    nodemailer.createTransport(
      smtpkitTransport({
        host: "127.0.0.1",
        port: pf.port,
        tls: { ca: pf.ca, servername: "localhost" },
        clientName: "client.example",
        ...extra,
      }),
    );

  it("HTML + text, attachments from paths and streams, an embedded image, Bcc delivered without a header", async () => {
    await pf.clearDelivered();
    const info = await transport().sendMail({
      from: '"Ålice" <alice@example.test>',
      to: "bob@example.test",
      cc: ["carol@example.test"],
      bcc: "dave@example.test",
      subject: "Grüße with attachments",
      text: "Hello Bob,\n.a line with a leading dot\nsee the logo.\n",
      html: '<p>Hello Bob,</p><p><img src="cid:logo@example.test"></p>',
      attachments: [
        { filename: "LICENSE.txt", path: LICENSE },
        { filename: "ca.pem", content: createReadStream(CA_FILE), contentType: "application/x-pem-file" },
        { filename: "logo.png", path: LOGO, cid: "logo@example.test" },
      ],
    });
    assert.deepEqual(info.accepted, ["bob@example.test", "carol@example.test", "dave@example.test"]);
    assert.deepEqual(info.rejected, []);
    assert.equal(info.rejectedErrors, undefined);
    assert.match(info.response, /^250 /);
    assert.deepEqual(info.envelope, {
      from: "alice@example.test",
      to: ["bob@example.test", "carol@example.test", "dave@example.test"],
    });
    assert.equal(info.smtpkit.reply.code, 250);

    const delivered = await pf.waitForDelivery(3);
    assert.deepEqual(delivered.map((d) => d.recipient).sort(), [
      "bob@example.test",
      "carol@example.test",
      "dave@example.test",
    ]);
    const parsed = await simpleParser(delivered[0]!.message);
    assert.equal(parsed.messageId, info.messageId);
    assert.equal(parsed.subject, "Grüße with attachments");
    assert.equal(parsed.text, "Hello Bob,\n.a line with a leading dot\nsee the logo.\n");
    // mailparser resolves the cid: reference to the embedded part, so the html carries the logo itself
    assert.ok(delivered[0]!.message.includes('<img src="cid:logo@example.test">'));
    assert.ok((parsed.html || "").includes(`data:image/png;base64,${readFileSync(LOGO).toString("base64")}`));
    assert.equal(parsed.headers.has("bcc"), false);
    assert.equal(delivered[0]!.message.toString("latin1").toLowerCase().includes("dave@"), false);
    const byName = new Map(parsed.attachments.map((a) => [a.filename, a]));
    assert.deepEqual(byName.get("LICENSE.txt")?.content, readFileSync(LICENSE));
    assert.deepEqual(byName.get("ca.pem")?.content, readFileSync(CA_FILE));
    const logo = byName.get("logo.png");
    assert.deepEqual(logo?.content, readFileSync(LOGO));
    assert.equal(logo?.cid, "logo@example.test");
    assert.equal(logo?.related, true);
  });

  it("envelope overrides: MAIL FROM and RCPT TO from `envelope`, headers untouched", async () => {
    await pf.clearDelivered();
    const info = await transport().sendMail({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "envelope override",
      text: "only for the envelope recipient\n",
      envelope: { from: "bounces@example.test", to: ["archive@example.test"] },
    });
    assert.deepEqual(info.envelope, { from: "bounces@example.test", to: ["archive@example.test"] });
    assert.deepEqual(info.accepted, ["archive@example.test"]);
    const [one, ...more] = await pf.waitForDelivery(1);
    await new Promise((r) => setTimeout(r, 300)); // nothing else arrives
    assert.equal(more.length + (await pf.delivered()).length - 1, 0);
    assert.equal(one!.recipient, "archive@example.test");
    assert.equal(one!.returnPath, "bounces@example.test");
    const parsed = await simpleParser(one!.message);
    assert.equal(parsed.headers.get("to") && (parsed.to as { text: string }).text, "bob@example.test");
  });

  it("a refused recipient is in info.rejected with its error; the others get the message", async () => {
    await pf.clearDelivered();
    const info = await transport().sendMail({
      from: "alice@example.test",
      to: ["bob@example.test", "reject@example.test"],
      subject: "partly refused",
      text: "hi\n",
    });
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    assert.deepEqual(info.rejected, ["reject@example.test"]);
    const [refusal] = info.rejectedErrors as TransportError[];
    assert.ok(refusal instanceof SMTPError);
    assert.equal(refusal.code, "EENVELOPE");
    assert.equal(refusal.responseCode, 550);
    assert.equal(refusal.command, "RCPT TO");
    assert.equal(refusal.recipient, "reject@example.test");
    assert.match(refusal.response ?? "", /^550 5\.1\.1 .*recipient rejected by harness/);
    assert.equal((await pf.waitForDelivery(1))[0]!.recipient, "bob@example.test");
  });

  it("every recipient refused: EENVELOPE with responseCode 550, an SMTPError with nodemailer's fields", async () => {
    await pf.clearDelivered();
    const error: TransportError = await rejectsWith(
      transport().sendMail({
        from: "alice@example.test",
        to: ["reject@example.test"],
        subject: "x",
        text: "x\n",
      }),
      "EENVELOPE",
    );
    assert.equal(error.responseCode, 550);
    assert.equal(error.command, "RCPT TO");
    assert.match(error.response ?? "", /^550 5\.1\.1 /);
    assert.equal(error.stage, "RCPT");
    assert.equal(error.rejectedErrors?.[0]?.recipient, "reject@example.test");
    assert.equal((await pf.delivered()).length, 0);
  });

  it("nodemailer's DKIM signature survives the trip: dkimpy verifies it after Postfix", async () => {
    await pf.clearDelivered();
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const record = `v=DKIM1; k=rsa; p=${publicKey.export({ type: "spki", format: "der" }).toString("base64")}`;
    await transport().sendMail({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "signed by nodemailer",
      text: "Signed.\n.dot line\n",
      html: "<b>Signed.</b>",
      attachments: [{ filename: "logo.png", path: LOGO }],
      dkim: { domainName: "example.test", keySelector: "sel", privateKey: pem },
    });
    const [one] = await pf.waitForDelivery(1);
    const message = crlf(one!.message);
    assert.match(message.toString("latin1"), /^DKIM-Signature: /m);
    assert.equal(dkimpyVerify(message, record), "pass");
    // the verifier can say no: one changed body byte
    const tampered = Buffer.from(message.toString("latin1").replace("Signed.", "Signed!"), "latin1");
    assert.equal(dkimpyVerify(tampered, record), "fail");
  });

  it("verify(): true over STARTTLS + AUTH; a wrong password rejects with EAUTH and appears nowhere", async () => {
    const options = {
      port: pf.submissionPort!,
      security: "starttls" as const,
      auth: { user: "sender@example.test", pass: PASSWORD },
    };
    assert.equal(await transport(options).verify(), true);
    const wrong = "Wrong-Secret-123";
    const error: TransportError = await rejectsWith(
      transport({ ...options, auth: { user: "sender@example.test", pass: wrong } }).verify(),
      "EAUTH",
    );
    assert.equal(error.command, "AUTH");
    assert.equal(error.responseCode, 535);
    assertNoSecrets([error.message, error.response ?? "", error.stack ?? "", JSON.stringify(error)], [wrong]);
  });
});

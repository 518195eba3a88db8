// Composed mail through real servers none of us wrote: Postfix (CHUNKING, PIPELINING, 8BITMIME; delivered to a
// Maildir and read back) and aiosmtpd (DATA, exact bytes received). Every shape is parsed back by mailparser and
// Python's email, and DKIM is verified by dkimpy and mailauth after the real MTA.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import { type MailOptions, SMTP, SMTPError, sendMail, type TranscriptEntry } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { type PostfixServer, startPostfix } from "../helpers/servers/postfix.js";
import {
  dkimpyVerify,
  ed25519Key,
  leavesOf,
  lineProblems,
  mailauthVerify,
  parseWithPython,
  rsaKey,
  sha256,
  shapeOf,
  type TestKey,
} from "./verifiers.js";

const BINARY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31 + (i >> 9)) & 0xff));
const TEXT = "Grüße from smtpkit.\n.a dot line\n";
const HTML = '<p>Grüße <img src="cid:logo@smtpkit.test"></p>';
const DOMAIN = "example.test";

let dir: string;
let pdfPath: string;
let rsa: TestKey;
let ed: TestKey;
let records: Record<string, string>;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "smtpkit-mime-interop-"));
  pdfPath = join(dir, "Счёт №42.pdf");
  writeFileSync(pdfPath, BINARY);
  rsa = rsaKey(2048);
  ed = ed25519Key();
  records = { [`rsa._domainkey.${DOMAIN}`]: rsa.record, [`ed._domainkey.${DOMAIN}`]: ed.record };
});
after(() => rmSync(dir, { recursive: true, force: true }));

function shapes(): Record<string, MailOptions> {
  const base = { from: '"Jörg" <joerg@example.test>', subject: "Grüße, composed" };
  return {
    plain: { ...base, to: "plain@example.test", sender: "Desk <desk@example.test>", text: TEXT },
    alternative: { ...base, to: "alternative@example.test", text: TEXT, html: "<p>Grüße</p>" },
    everything: {
      ...base,
      to: "everything@example.test",
      text: TEXT,
      html: HTML,
      icalEvent: { method: "REQUEST", content: "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n" },
      attachments: [
        { path: pdfPath },
        { filename: "日本語.txt", content: "テキスト\n" },
        { filename: "empty", content: "" },
        { cid: "logo@smtpkit.test", filename: "logo.png", content: BINARY.subarray(0, 4000) },
      ],
    },
    signed: {
      ...base,
      to: "signed@example.test",
      text: TEXT,
      html: HTML,
      attachments: [{ path: pdfPath }, { cid: "logo@smtpkit.test", content: BINARY.subarray(0, 4000) }],
      dkim: [
        { domainName: DOMAIN, keySelector: "rsa", privateKey: rsa.pem },
        {
          domainName: DOMAIN,
          keySelector: "ed",
          privateKey: ed.pem,
          headerCanonicalization: "simple",
          bodyCanonicalization: "simple",
        },
      ],
    },
  };
}

const EXPECTED_SHAPE: Record<string, string> = {
  plain: "text/plain",
  alternative: "multipart/alternative(text/plain,text/html)",
  everything:
    "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png),text/calendar)," +
    "application/pdf,text/plain,application/octet-stream)",
  signed:
    "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,application/octet-stream)),application/pdf)",
};

/** Checks one delivered message (CRLF) against the shape it was sent as. */
async function checkDelivered(name: string, raw: Buffer): Promise<void> {
  assert.deepEqual(lineProblems(raw), [], name);
  const py = parseWithPython(raw);
  assert.equal(shapeOf(py.tree), EXPECTED_SHAPE[name], name);
  assert.equal(py.subject, "Grüße, composed");
  const leaves = leavesOf(py.tree);
  assert.equal(leaves[0]?.text?.replace(/\r\n/g, "\n"), TEXT);
  // both servers offer 8BITMIME: UTF-8 text goes as it is
  assert.equal(leaves[0]?.cte, "8bit", name);
  if (name === "plain")
    assert.ok(py.headers.some(([k, v]) => k === "Sender" && v === "Desk <desk@example.test>"));
  const parsed = await simpleParser(raw);
  assert.equal(parsed.text, TEXT);
  if (name === "everything" || name === "signed") {
    const pdf = leaves.find((l) => l.type === "application/pdf");
    assert.equal(pdf?.filename, "Счёт №42.pdf");
    assert.equal(pdf?.sha256, sha256(BINARY));
    const attachment = parsed.attachments.find((a) => a.contentType === "application/pdf");
    assert.equal(attachment?.filename, "Счёт №42.pdf");
    assert.equal(sha256(attachment!.content), sha256(BINARY));
    const logo = parsed.attachments.find((a) => a.cid === "logo@smtpkit.test");
    assert.equal(sha256(logo!.content), sha256(BINARY.subarray(0, 4000)));
  }
  if (name === "everything") {
    const text = leavesOf(py.tree).find((l) => l.filename === "日本語.txt");
    assert.equal(text?.sha256, sha256("テキスト\n"));
  }
  if (name === "signed") {
    assert.deepEqual(dkimpyVerify(raw, records), [true, true]);
    assert.deepEqual(await mailauthVerify(raw, records), ["pass", "pass"]);
  }
}

/** A Maildir file (LF line ends) as the message a reader gets: CRLF. */
const crlf = (raw: Buffer): Buffer => Buffer.from(raw.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");

/** A client session with a server on `port` (connected, greeted; no TLS yet). */
async function session(port: number, logger?: (entry: TranscriptEntry) => void): Promise<SMTP> {
  const smtp = new SMTP({ clientName: "client.example", ...(logger === undefined ? {} : { logger }) });
  assert.equal(await smtp.connect(await connectTo(port)), true);
  return smtp;
}

/** The smallest mail: one recipient, a short text. */
const SHORT = { from: "a@example.test", to: "b@example.test", subject: "s", text: "x" } satisfies MailOptions;

describe("composed mail through Postfix (STARTTLS, PIPELINING, CHUNKING), read back from the Maildir", () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({});
  });
  after(() => postfix.stop());

  it("four shapes queued on one session (pipelined): parsed back, DKIM verified after the MTA", async () => {
    await postfix.clearDelivered();
    const smtp = await session(postfix.port);
    assert.equal(await smtp.startTLS({ ca: postfix.ca, servername: "localhost" }), true);
    assert.ok(smtp.getServerOptions().includes("CHUNKING"));
    const all = shapes();
    const results = await Promise.all(Object.values(all).map((mail) => smtp.sendMail(mail)));
    await smtp.close();
    const delivered = await postfix.waitForDelivery(Object.keys(all).length, 20_000);
    for (const [i, name] of Object.keys(all).entries()) {
      const d = delivered.find((m) => m.recipient === `${name}@example.test`);
      assert.ok(d, `${name} delivered`);
      // the whole Maildir file, Postfix's trace fields included: DKIM must still verify
      await checkDelivered(name, crlf(d.raw));
      assert.equal((await simpleParser(d.raw)).messageId, results[i]?.messageId);
    }
  });
});

describe("composed mail through aiosmtpd (exact bytes received)", () => {
  let server: AiosmtpdServer;
  before(async () => {
    server = await startAiosmtpd({ starttls: true, pipelining: true });
  });
  after(() => server.stop());

  it("sendMail() (everyday API): each shape arrives, SIZE= declared and exact", async () => {
    server.clearMessages();
    for (const [name, mail] of Object.entries(shapes())) {
      await sendMail({
        host: "127.0.0.1",
        port: server.port,
        tls: { ca: server.ca, servername: "localhost" },
        ...mail,
      });
      const [message] = await server.waitForMessages(1);
      server.clearMessages();
      await checkDelivered(name, message!.content);
      const size = message!.mailOptions.find((o) => o.startsWith("SIZE="));
      assert.equal(size, `SIZE=${message!.content.length}`, name);
    }
  });

  it("send() with { text, html, attachments } as content (the seed call)", async () => {
    server.clearMessages();
    const smtp = await session(server.port);
    await smtp.send(
      "a@example.test",
      ["b@example.test"],
      [],
      ["hidden@example.test"],
      "Grüße, composed",
      {
        text: TEXT,
        html: "<p>x</p>",
      },
      { headers: { "X-Seed": "yes" } },
    );
    await smtp.close();
    const [message] = await server.waitForMessages(1);
    assert.deepEqual(message?.rcptTos, ["b@example.test", "hidden@example.test"]);
    const py = parseWithPython(message!.content);
    assert.equal(shapeOf(py.tree), "multipart/alternative(text/plain,text/html)");
    assert.ok(py.headers.some(([k, v]) => k === "X-Seed" && v === "yes"));
    assert.ok(!py.headers.some(([k]) => k.toLowerCase() === "bcc"));
  });

  it("an unreadable attachment path: EINPUT and nothing written (no MAIL), the session stays usable", async () => {
    const entries: TranscriptEntry[] = [];
    const smtp = await session(server.port, (e) => entries.push(e));
    const before = entries.length;
    await assert.rejects(
      smtp.sendMail({ ...SHORT, attachments: [{ path: join(dir, "nope.pdf") }] }),
      (e: unknown) =>
        e instanceof SMTPError && e.code === "EINPUT" && /attachments\[0\]\.path/.test(e.message),
    );
    assert.deepEqual(entries.slice(before), []);
    const ok = await smtp.sendMail({ ...SHORT, text: "after" });
    assert.deepEqual(ok.accepted, ["b@example.test"]);
    await smtp.close();
  });

  it("an attachment stream that fails mid-message: EMESSAGE, no terminator, session destroyed, nothing delivered", async () => {
    server.clearMessages();
    const smtp = await session(server.port);
    const failing = Readable.from(
      (async function* () {
        for (let i = 0; i < 8; i++) yield Buffer.alloc(64 * 1024, i);
        throw new Error("the disk went away");
      })(),
    );
    await assert.rejects(
      smtp.sendMail({ ...SHORT, attachments: [{ content: failing }] }),
      (e: unknown) =>
        e instanceof SMTPError &&
        e.code === "EMESSAGE" &&
        /disk went away/.test(String((e.cause as Error)?.message)),
    );
    await assert.rejects(smtp.noop(), (e: unknown) => e instanceof SMTPError && e.code === "ECONNECTION");
    await smtp.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(server.messages().length, 0);
  });
});

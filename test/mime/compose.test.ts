// composeMail(): every shape read back by two parsers none of us wrote (Python's email, mailparser), compared
// by structure and by the sha256 of every part; the size it announces is the size it writes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import { composeMail, type MailOptions, SMTPError } from "../../src/index.js";
import {
  collect,
  freshChunks,
  leavesOf,
  lineProblems,
  parseWithPython,
  sha256,
  shapeOf,
} from "./verifiers.js";

/** Every byte value, many times over, in a pattern that is not a multiple of 57 or 3. */
const BINARY = Buffer.from(Array.from({ length: 256 * 97 + 5 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const UTF8_TEXT = "Grüße aus Zürich — 世界 🎉\nline two\n".repeat(40);
const NAMES = {
  cyrillic: "Отчёт за декабрь.pdf",
  cjk: "年度報告書_最終版.bin",
  emoji: "📎 notes 🎉 with a name long enough to need several RFC 2231 continuations.txt",
};
const HTML = '<p>Hello <b>world</b>, Grüße</p><img src="cid:logo@smtpkit.test">';
const TEXT = "Hello world, Grüße\n.a line starting with a dot\n";

let dir: string;
let paths: { binary: string; text: string; empty: string; logo: string };

before(() => {
  dir = mkdtempSync(join(tmpdir(), "smtpkit-mime-test-"));
  paths = {
    binary: join(dir, "every-byte.bin"),
    text: join(dir, "text.txt"),
    empty: join(dir, "empty.dat"),
    logo: join(dir, "logo.png"),
  };
  writeFileSync(paths.binary, BINARY);
  writeFileSync(paths.text, UTF8_TEXT);
  writeFileSync(paths.empty, "");
  writeFileSync(paths.logo, BINARY.subarray(0, 3000));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const BASE = {
  from: '"Jörg Müller" <joerg@example.test>',
  to: ["bob@example.test"],
  subject:
    "Grüße — a subject long enough to be folded over more than one line of the header, with UTF-8 in it",
};

async function render(mail: MailOptions): Promise<{ raw: Buffer; size: number | undefined }> {
  const composed = composeMail(mail);
  const raw = await collect(composed.stream());
  return { raw, size: composed.size };
}

describe("composeMail: shapes read back by Python's email and mailparser", () => {
  it("text only: text/plain, 8-bit text as quoted-printable (no 8BITMIME known)", async () => {
    const { raw, size } = await render({ ...BASE, text: TEXT });
    assert.equal(size, raw.length);
    assert.deepEqual(lineProblems(raw), []);
    const py = parseWithPython(raw);
    assert.equal(shapeOf(py.tree), "text/plain");
    assert.equal(py.tree.cte, "quoted-printable");
    assert.equal(py.tree.text?.replace(/\r\n/g, "\n"), TEXT);
    assert.equal(py.subject, BASE.subject);
    assert.deepEqual(py.defects, []);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.text, TEXT);
  });

  it("html only, and text + html as multipart/alternative (text first)", async () => {
    const html = parseWithPython((await render({ ...BASE, html: HTML })).raw);
    assert.equal(shapeOf(html.tree), "text/html");
    const { raw, size } = await render({ ...BASE, text: TEXT, html: HTML });
    assert.equal(size, raw.length);
    const py = parseWithPython(raw);
    assert.equal(shapeOf(py.tree), "multipart/alternative(text/plain,text/html)");
    const parsed = await simpleParser(raw);
    assert.equal(parsed.text, TEXT);
    assert.equal(parsed.html, HTML);
  });

  it("everything: alternative + related inline image + 3 attachments with non-ASCII names + calendar", async () => {
    const calendar =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@smtpkit.test\r\nSUMMARY:Grüße\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const mail: MailOptions = {
      ...BASE,
      cc: "Carol <carol@example.test>",
      replyTo: ["Support Désk <support@example.test>", "other@example.test"],
      inReplyTo: "<parent@example.test>",
      references: ["<root@example.test>", "parent@example.test"],
      priority: "high",
      listUnsubscribe: {
        url: "https://example.test/unsub?u=1",
        mailto: "unsub@example.test",
        oneClick: true,
      },
      headers: { "X-Campaign": "Grüße 2026", "X-Tag": ["one", "two"] },
      text: TEXT,
      html: HTML,
      icalEvent: { method: "request", content: calendar },
      attachments: [
        { path: paths.binary, filename: NAMES.cyrillic },
        { content: UTF8_TEXT, filename: NAMES.cjk, contentType: "text/plain; charset=utf-8" },
        { path: paths.empty, filename: NAMES.emoji },
        { path: paths.logo, cid: "logo@smtpkit.test" },
      ],
    };
    const { raw, size } = await render(mail);
    assert.equal(size, raw.length);
    assert.deepEqual(lineProblems(raw), []);
    const py = parseWithPython(raw);
    assert.deepEqual(py.defects, []);
    assert.equal(
      shapeOf(py.tree),
      "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png),text/calendar)," +
        "application/pdf,text/plain,text/plain)",
    );
    const [text, html, logo, cal, pdf, cjk, empty] = leavesOf(py.tree);
    assert.equal(text?.text?.replace(/\r\n/g, "\n"), TEXT);
    assert.equal(html?.text?.replace(/\r\n/g, "\n"), HTML);
    assert.equal(logo?.cid, "<logo@smtpkit.test>");
    assert.equal(logo?.disposition, "inline");
    assert.equal(logo?.sha256, sha256(BINARY.subarray(0, 3000)));
    assert.equal(cal?.method, "REQUEST");
    assert.equal(cal?.text?.replace(/\r\n/g, "\n"), calendar.replace(/\r\n/g, "\n"));
    assert.deepEqual(
      [pdf, cjk, empty].map((p) => [p?.filename, p?.disposition, p?.sha256]),
      [
        [NAMES.cyrillic, "attachment", sha256(BINARY)],
        [NAMES.cjk, "attachment", sha256(UTF8_TEXT)],
        [NAMES.emoji, "attachment", sha256("")],
      ],
    );
    const header = (name: string) => py.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
    assert.deepEqual(header("x-tag"), ["one", "two"]);
    assert.deepEqual(header("x-campaign"), ["Grüße 2026"]);
    assert.deepEqual(header("references"), ["<root@example.test> <parent@example.test>"]);
    assert.deepEqual(header("list-unsubscribe-post"), ["List-Unsubscribe=One-Click"]);
    assert.deepEqual(header("x-priority"), ["1 (Highest)"]);
    assert.equal(py.replyTo, "Support Désk <support@example.test>, other@example.test");

    const parsed = await simpleParser(raw);
    assert.equal(parsed.text, TEXT);
    assert.equal(parsed.inReplyTo, "<parent@example.test>");
    const files = parsed.attachments.filter((a) => a.contentType !== "text/calendar");
    assert.deepEqual(
      files.map((a) => [a.filename ?? null, sha256(a.content), a.contentDisposition, a.cid ?? null]),
      [
        ["logo.png", sha256(BINARY.subarray(0, 3000)), "inline", "logo@smtpkit.test"],
        [NAMES.cyrillic, sha256(BINARY), "attachment", null],
        [NAMES.cjk, sha256(UTF8_TEXT), "attachment", null],
        [NAMES.emoji, sha256(""), "attachment", null],
      ],
    );
  });

  it("streams: attachments and text from one-shot streams (fresh buffers), size unknown", async () => {
    const composed = composeMail({
      ...BASE,
      text: Readable.from([Buffer.from("streamed text "), Buffer.from("x".repeat(3000))]),
      attachments: [{ filename: "stream.bin", content: freshChunks(BINARY, 1000) }],
    });
    assert.equal(composed.size, undefined);
    const raw = await collect(composed.stream());
    assert.deepEqual(lineProblems(raw), []);
    const py = parseWithPython(raw);
    assert.equal(shapeOf(py.tree), "multipart/mixed(text/plain,application/octet-stream)");
    const [text, bin] = leavesOf(py.tree);
    assert.equal(text?.text?.trimEnd(), `streamed text ${"x".repeat(3000)}`);
    assert.equal(bin?.sha256, sha256(BINARY));
    // a one-shot stream cannot be written twice
    await assert.rejects(async () => collect(composed.stream()), isInput);
  });

  it("paths and in-memory content can be written again, byte for byte", async () => {
    const composed = composeMail({ ...BASE, text: TEXT, attachments: [{ path: paths.binary }] });
    const first = await collect(composed.stream());
    const second = await collect(composed.stream());
    assert.ok(first.equals(second));
    assert.equal(composed.size, first.length);
  });

  it("a 2 000-octet line and NUL go quoted-printable; no line over 998 octets anywhere", async () => {
    const long = `${"L".repeat(2000)}\nand\u0000nul\n`;
    const { raw } = await render({ ...BASE, text: long, html: `<p>${"h".repeat(5000)}</p>` });
    assert.deepEqual(lineProblems(raw), []);
    const py = parseWithPython(raw);
    const [text, html] = leavesOf(py.tree);
    assert.equal(text?.cte, "quoted-printable");
    assert.equal(text?.text?.replace(/\r\n/g, "\n"), long);
    assert.equal(html?.text, `<p>${"h".repeat(5000)}</p>`);
  });

  it("ASCII text is 7bit; delimiter lines only where the structure puts them", async () => {
    const { raw } = await render({
      ...BASE,
      text: "plain ascii\n--=_smtpkit_ lookalike\n",
      html: "<p>x</p>",
    });
    const py = parseWithPython(raw);
    const [text] = leavesOf(py.tree);
    assert.equal(text?.cte, "7bit");
    const boundary = /boundary="([^"]+)"/.exec(raw.toString("latin1"))![1]!;
    assert.equal(raw.toString("latin1").split(`--${boundary}`).length, 4); // 2 openings + the close, 3 splits
  });

  it("envelope: bcc only in the envelope; envelope.to/from override", () => {
    const a = composeMail({ ...BASE, bcc: "hidden@example.test", text: "x" });
    assert.deepEqual(a.envelope, {
      from: "joerg@example.test",
      to: ["bob@example.test", "hidden@example.test"],
    });
    const b = composeMail({
      ...BASE,
      text: "x",
      envelope: { from: "bounce@example.test", to: ["x@example.test"] },
    });
    assert.deepEqual(b.envelope, { from: "bounce@example.test", to: ["x@example.test"] });
  });
});

function isInput(error: unknown): boolean {
  return error instanceof SMTPError && error.code === "EINPUT";
}

describe("composeMail: bad input is EINPUT before anything is read, naming the field", () => {
  const cases: [string, () => MailOptions, RegExp][] = [
    ["content with text", () => ({ ...BASE, content: "x", text: "y" }), /content or text/],
    [
      "content with attachments",
      () => ({ ...BASE, content: "x", attachments: [] }),
      /content or attachments/,
    ],
    [
      "attachment with both",
      () => ({ ...BASE, attachments: [{ content: "x", path: paths.text }] }),
      /attachments\[0\].*both/,
    ],
    [
      "attachment with neither",
      () => ({ ...BASE, attachments: [{ filename: "a.txt" }] }),
      /attachments\[0\].*neither/,
    ],
    [
      "unreadable path",
      () => ({ ...BASE, attachments: [{ path: join(dir, "missing.pdf") }] }),
      /attachments\[0\]\.path.*ENOENT/,
    ],
    ["a directory as path", () => ({ ...BASE, attachments: [{ path: dir }] }), /not a regular file/],
    [
      "CR/LF in a filename",
      () => ({ ...BASE, attachments: [{ content: "x", filename: "a\r\nBcc: x@y.z" }] }),
      /filename/,
    ],
    ["CR/LF in a cid", () => ({ ...BASE, html: "x", attachments: [{ content: "x", cid: "a\r\nb" }] }), /cid/],
    [
      "duplicate cid",
      () => ({
        ...BASE,
        html: "x",
        attachments: [
          { content: "x", cid: "a@b" },
          { content: "y", cid: "a@b" },
        ],
      }),
      /attachments\[1\]\.cid/,
    ],
    ["CR/LF in a header", () => ({ ...BASE, text: "x", headers: { "X-A": "a\r\nBcc: x@y.z" } }), /X-A/],
    [
      "CR/LF in a part header",
      () => ({ ...BASE, attachments: [{ content: "x", headers: { "X-B": "a\nb" } }] }),
      /X-B/,
    ],
    [
      "a bad content type",
      () => ({ ...BASE, attachments: [{ content: "x", contentType: "pdf" }] }),
      /contentType/,
    ],
    ["a Bcc header", () => ({ ...BASE, text: "x", headers: { Bcc: "x@y.z" } }), /Bcc/],
    [
      "replyTo twice",
      () => ({ ...BASE, text: "x", replyTo: "a@b.c", headers: { "Reply-To": "d@e.f" } }),
      /Reply-To/,
    ],
    ["no recipients", () => ({ from: "a@b.c", subject: "s", text: "x" }), /no recipients/],
    [
      "oneClick without https",
      () => ({ ...BASE, text: "x", listUnsubscribe: { mailto: "u@x.y", oneClick: true } }),
      /oneClick/,
    ],
    ["inReplyTo not a msg-id", () => ({ ...BASE, text: "x", inReplyTo: "not an id" }), /inReplyTo/],
    [
      "bad DKIM key",
      () => ({
        ...BASE,
        text: "x",
        dkim: {
          domainName: "example.test",
          keySelector: "s",
          privateKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        },
      }),
      /dkim\.privateKey/,
    ],
  ];
  for (const [name, mail, message] of cases) {
    it(name, () => {
      assert.throws(
        () => composeMail(mail()),
        (e: unknown) => isInput(e) && message.test((e as Error).message),
      );
    });
  }

  it("a cid the html does not reference is fine", async () => {
    const { raw } = await render({
      ...BASE,
      html: "<p>no image</p>",
      attachments: [{ content: "x", cid: "unused@x" }],
    });
    assert.equal(shapeOf(parseWithPython(raw).tree), "multipart/related(text/html,application/octet-stream)");
  });
});

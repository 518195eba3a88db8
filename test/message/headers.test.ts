import assert from "node:assert/strict";
import { describe, it } from "node:test";
import libmime from "libmime";
import { SMTPError } from "../../src/errors.js";
import {
  checkHeaderName,
  checkHeaderValue,
  foldHeader,
  formatDate,
  formatUnstructured,
  generateMessageId,
  isFieldName,
  isMsgId,
  unstructuredParts,
} from "../../src/message/headers.js";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

/** Checks the folding rules and returns the unfolded value. */
function unfold(name: string, header: string): string {
  assert.ok(header.endsWith("\r\n"));
  const lines = header.slice(0, -2).split("\r\n");
  for (const line of lines) {
    assert.ok(Buffer.byteLength(line) <= 998, `line over 998: ${line.length}`);
    assert.ok(!/^[ \t]*$/.test(line), "no whitespace-only line");
    assert.ok(!line.includes("\r") && !line.includes("\n"));
  }
  for (const line of lines.slice(1)) assert.match(line, /^[ \t]/, "continuation lines begin with whitespace");
  const joined = lines.join("");
  assert.ok(joined.startsWith(`${name}: `), joined);
  return joined.slice(name.length + 2);
}

const maxLine = (header: string): number => Math.max(...header.split("\r\n").map((l) => l.length));

describe("header names and values", () => {
  it("accepts field-name syntax only", () => {
    for (const ok of ["X-Mailer", "Subject", "x", "List-Unsubscribe-Post", "X-!#$%&'*+-.^_`|~"]) {
      assert.ok(isFieldName(ok), ok);
      checkHeaderName(ok);
    }
    for (const bad of ["", "X Mailer", "X:Mailer", "X-M\u00e4iler", "X\r\nBcc", "X\t", "X\u007f"]) {
      assert.equal(isFieldName(bad), false, JSON.stringify(bad));
      assert.throws(() => checkHeaderName(bad), isInputError);
    }
  });

  it("refuses CR, LF, NUL and other controls in values, and allows TAB", () => {
    checkHeaderValue("X", "a\tb");
    checkHeaderValue("X", "caf\u00e9");
    for (const bad of ["a\r\nBcc: x@y.com", "a\nb", "a\rb", "a\u0000b", "a\u001bb", "a\u007fb"]) {
      assert.throws(() => checkHeaderValue("X", bad), isInputError, JSON.stringify(bad));
    }
    assert.throws(() => checkHeaderValue("X", 5), isInputError);
  });
});

describe("folding", () => {
  it("leaves a short header on one line", () => {
    assert.equal(formatUnstructured("Subject", "Hello"), "Subject: Hello\r\n");
    assert.equal(formatUnstructured("Subject", ""), "Subject: \r\n");
  });

  it("folds long ASCII text at whitespace to lines of at most 78", () => {
    const value = Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ");
    const header = formatUnstructured("Subject", value);
    assert.ok(maxLine(header) <= 78, `max ${maxLine(header)}`);
    assert.equal(unfold("Subject", header), value);
  });

  it("keeps runs of whitespace and tabs exactly", () => {
    const value = `a  b\tc ${"x".repeat(70)}   ${"y".repeat(70)} \t end `;
    assert.equal(unfold("X-Test", formatUnstructured("X-Test", value)), value);
  });

  it("leaves an unbreakable word whole (over 78, under 998)", () => {
    const url = `https://example.com/${"p".repeat(200)}`;
    const header = formatUnstructured("X-Url", `see ${url} now`);
    assert.ok(header.split("\r\n").some((l) => l.includes(url)));
    assert.equal(unfold("X-Url", header), `see ${url} now`);
  });

  it("encodes a word too long for 998 so that every line stays short", () => {
    const word = "z".repeat(2000);
    const header = formatUnstructured("Subject", `long ${word} end`);
    assert.ok(maxLine(header) <= 78);
    assert.equal(libmime.decodeWords(unfold("Subject", header)), `long ${word} end`);
  });

  it("encodes non-ASCII text into words that fit the line and decode back", () => {
    for (const value of [
      "Gr\u00fc\u00dfe aus K\u00f6ln und \u00fcberall \u2014 ".repeat(8),
      "\u65e5\u672c\u8a9e".repeat(60),
      `ASCII start ${"\u00e9t\u00e9 ".repeat(30)}ASCII end`,
      "\u{1f600}",
      "mixed =?utf-8?q?not_a_word?= text",
    ]) {
      const header = formatUnstructured("Subject", value);
      assert.ok(maxLine(header) <= 78, `max ${maxLine(header)} for ${value.slice(0, 20)}`);
      assert.equal(libmime.decodeWords(unfold("Subject", header)), value);
    }
  });

  it("groups encoded words with the whitespace between them", () => {
    assert.deepEqual(unstructuredParts("Hello w\u00f6rld  caf\u00e9 again"), [
      "Hello ",
      { encode: "w\u00f6rld  caf\u00e9" },
      " again",
    ]);
    assert.deepEqual(unstructuredParts("\u00e9"), [{ encode: "\u00e9" }]);
    assert.deepEqual(unstructuredParts("plain text"), ["plain text"]);
  });

  it("sizes the first encoded word to the room after a long header name", () => {
    const header = formatUnstructured(`X-${"N".repeat(60)}`, "\u00e9".repeat(100));
    assert.ok(maxLine(header) <= 78, `max ${maxLine(header)}`);
    assert.equal(
      libmime.decodeWords(header.slice(0, -2).split("\r\n").join("").split(": ")[1]!),
      "\u00e9".repeat(100),
    );
  });

  it("folds address lists between mailboxes", () => {
    const parts = Array.from({ length: 10 }, (_, i) => `Person ${i} <person${i}@example.com>`).join(", ");
    const header = foldHeader("To", [parts]);
    assert.ok(maxLine(header) <= 78);
    assert.equal(unfold("To", header), parts);
  });

  it("throws EINPUT when a line cannot be kept within 998 octets", () => {
    assert.throws(() => foldHeader("X-Big", ["y".repeat(1000)]), isInputError);
    assert.throws(() => formatUnstructured(`X-${"n".repeat(1000)}`, "v"), isInputError);
  });
});

describe("formatDate", () => {
  it("writes RFC 5322 dates with the local offset", () => {
    process.env.TZ = "Europe/Berlin";
    assert.equal(formatDate(new Date(Date.UTC(2026, 10, 29, 21, 3, 59))), "Sun, 29 Nov 2026 22:03:59 +0100");
    assert.equal(formatDate(new Date(Date.UTC(2026, 6, 1, 10, 0, 0))), "Wed, 01 Jul 2026 12:00:00 +0200");
    process.env.TZ = "America/St_Johns";
    assert.equal(formatDate(new Date(Date.UTC(2026, 0, 5, 3, 4, 5))), "Sun, 04 Jan 2026 23:34:05 -0330");
    process.env.TZ = "UTC";
    const d = new Date(Date.UTC(2030, 1, 3, 4, 5, 6));
    assert.equal(formatDate(d), "Sun, 03 Feb 2030 04:05:06 +0000");
    assert.equal(Date.parse(formatDate(d)), d.getTime());
  });

  it("refuses an invalid date", () => {
    assert.throws(() => formatDate(new Date(Number.NaN)), isInputError);
  });
});

describe("Message-ID", () => {
  it("recognises msg-id syntax", () => {
    for (const ok of ["<a@b>", "<a.b.c@example.com>", "<x+y=z@[127.0.0.1]>", "<1234.5678@host>"]) {
      assert.ok(isMsgId(ok), ok);
    }
    for (const bad of [
      "a@b",
      "<a@b",
      "<a b@c>",
      "<@b>",
      "<a@>",
      "<a..b@c>",
      "<a@b>\r\nBcc: x",
      "<\u00e9@b>",
      "<a@b><c@d>",
    ]) {
      assert.equal(isMsgId(bad), false, JSON.stringify(bad));
    }
  });

  it("generates unique ids at a host name, IDN or address literal", () => {
    const a = generateMessageId("mail.example.com");
    const b = generateMessageId("mail.example.com");
    assert.ok(isMsgId(a) && a !== b);
    assert.match(a, /@mail\.example\.com>$/);
    assert.match(generateMessageId("b\u00fccher.example"), /@xn--bcher-kva\.example>$/);
    assert.match(generateMessageId("[127.0.0.1]"), /@\[127\.0\.0\.1\]>$/);
    assert.throws(() => generateMessageId("bad host"), isInputError);
  });
});

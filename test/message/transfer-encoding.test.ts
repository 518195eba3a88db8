import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Base64Encoder, QuotedPrintableEncoder } from "../../src/message/transfer-encoding.js";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

function encodeAll(encoder: QuotedPrintableEncoder | Base64Encoder, chunks: Uint8Array[]): string {
  const out = chunks.map((c) => encoder.encode(c));
  out.push(encoder.end());
  return Buffer.concat(out).toString("latin1");
}

/** RFC 2045 §6.7 decoding, strict enough to catch encoder mistakes. */
function qpDecode(encoded: string): Buffer {
  const bytes: number[] = [];
  const text = encoded.replace(/=\r\n/g, "");
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "=") {
      const hex = text.slice(i + 1, i + 3);
      assert.match(hex, /^[0-9A-F]{2}$/, `bad escape at ${i}`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

function checkQpRules(encoded: string): void {
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(encoded), "CRLF only");
  for (const line of encoded.split("\r\n")) {
    assert.ok(line.length <= 76, `line of ${line.length}: ${line}`);
    assert.ok(!/[ \t]$/.test(line), `trailing whitespace: ${JSON.stringify(line)}`);
    assert.match(line, /^[\t\x20-\x7e]*$/, "7-bit printable");
    assert.ok(!line.startsWith("."), `a line that would need dot-stuffing: ${JSON.stringify(line)}`);
  }
}

const crlf = (s: string): string => s.replace(/\r\n|\r|\n/g, "\r\n");

const QP_TABLE: [string, string][] = [
  ["", ""],
  ["plain text", "plain text"],
  ["a=b", "a=3Db"],
  ["trailing space \n", "trailing space=20\r\n"],
  ["tab\t\r\n", "tab=09\r\n"],
  ["end ", "end=20"],
  ["two  spaces inside", "two  spaces inside"],
  ["\u00c3\u00a9", "=C3=A9"],
  ["a\rb\nc\r\nd", "a\r\nb\r\nc\r\nd"],
  [".leading dot", "=2Eleading dot"],
  ["a\n.\n", "a\r\n=2E\r\n"],
  ["a.b.", "a.b."],
  [`${"x".repeat(75)}.y`, `${"x".repeat(75)}=\r\n=2Ey`],
  ["x".repeat(80), `${"x".repeat(75)}=\r\n${"x".repeat(5)}`],
  ["\u0000\u001b\u007f\u00ff", "=00=1B=7F=FF"],
  [`${"y".repeat(73)} \n`, `${"y".repeat(73)}=20\r\n`],
  [`${"y".repeat(74)} \n`, `${"y".repeat(74)}=\r\n=20\r\n`],
  [`${"y".repeat(75)} \n`, `${"y".repeat(75)}=\r\n=20\r\n`],
];

describe("QuotedPrintableEncoder", () => {
  for (const [input, expected] of QP_TABLE) {
    it(`encodes ${JSON.stringify(input.slice(0, 24))} the same at every split point`, () => {
      const bytes = latin1(input);
      const ways: Uint8Array[][] = [[bytes], [...bytes].map((b) => Uint8Array.of(b))];
      for (let i = 0; i <= bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
      for (const chunks of ways) assert.equal(encodeAll(new QuotedPrintableEncoder(), chunks), expected);
      checkQpRules(expected);
      assert.deepEqual(qpDecode(expected), latin1(crlf(input)));
    });
  }

  it("round-trips random bytes in random chunks and keeps every rule", () => {
    let seed = 99;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pool = [0x20, 0x09, 0x0d, 0x0a, 0x3d, 0x2e, 0x41, 0x61, 0xc3, 0xa9, 0x00, 0x7e];
    for (let round = 0; round < 500; round++) {
      const bytes = Buffer.from(Array.from({ length: random(400) }, () => pool[random(pool.length)]!));
      const chunks: Uint8Array[] = [];
      for (let p = 0; p < bytes.length; ) {
        const n = 1 + random(90);
        chunks.push(bytes.subarray(p, p + n));
        p += n;
      }
      const encoded = encodeAll(new QuotedPrintableEncoder(), chunks);
      assert.equal(encoded, encodeAll(new QuotedPrintableEncoder(), [bytes]));
      checkQpRules(encoded);
      assert.deepEqual(qpDecode(encoded), latin1(crlf(bytes.toString("latin1"))));
    }
  });

  it("encodes large chunks that outgrow the first output guess (8-bit text, very short lines)", () => {
    // 64 KiB chunks as a file stream reads them: UTF-8 text (3 characters per byte), then lines of one
    // character (a CRLF per byte), then plain ASCII; split anywhere, the output is the same
    const text = Buffer.concat([
      Buffer.from("\u00e9t\u00e9 \u00e0 la f\u00eate. ".repeat(4000), "utf8"),
      Buffer.from("a\n.\n".repeat(20000), "latin1"),
      Buffer.from(
        "plain ASCII, a little longer than a line of quoted-printable may be, and more. ".repeat(900),
      ),
    ]);
    const whole = encodeAll(new QuotedPrintableEncoder(), [text]);
    for (const size of [65536, 4096, 777]) {
      const chunks: Uint8Array[] = [];
      for (let p = 0; p < text.length; p += size) chunks.push(Buffer.from(text.subarray(p, p + size)));
      assert.equal(encodeAll(new QuotedPrintableEncoder(), chunks), whole);
    }
    checkQpRules(whole);
    assert.deepEqual(qpDecode(whole), latin1(crlf(text.toString("latin1"))));
  });
});

describe("Base64Encoder", () => {
  for (const size of [0, 1, 2, 3, 56, 57, 58, 114, 1000]) {
    it(`encodes ${size} bytes in 76-character lines, whatever the chunking`, () => {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 37) & 255));
      const expected = encodeAll(new Base64Encoder(), [bytes]);
      for (const step of [1, 2, 5, 56, 57, 100]) {
        const chunks: Uint8Array[] = [];
        for (let p = 0; p < size; p += step) chunks.push(bytes.subarray(p, p + step));
        assert.equal(encodeAll(new Base64Encoder(), chunks), expected);
      }
      const lines = expected.split("\r\n");
      assert.equal(lines.pop(), "", "every line ends in CRLF");
      for (const line of lines) assert.ok(line.length <= 76 && line.length > 0);
      for (const line of lines.slice(0, -1)) assert.equal(line.length, 76);
      assert.deepEqual(Buffer.from(lines.join(""), "base64"), bytes);
    });
  }
});

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { lineStats, toByteChunks, wireSize } from "../../src/message/content.js";
import {
  extractMessageId,
  fieldValue,
  isMimeBlock,
  PEEK_LIMIT,
  scanHeaderBlock,
} from "../../src/message/header-block.js";
import { LineEndNormalizer } from "../../src/protocol/dot-stuff.js";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

describe("scanHeaderBlock", () => {
  it("finds the block and the body start with any line ends", () => {
    for (const eol of ["\r\n", "\n", "\r"]) {
      const text = `Content-Type: text/plain${eol}X-Long: a${eol} b${eol}\tc${eol}${eol}body${eol}`;
      const scan = scanHeaderBlock(latin1(text), true);
      assert.equal(scan.kind, "headers");
      if (scan.kind !== "headers") return;
      assert.deepEqual(
        scan.fields.map((f) => f.raw),
        ["Content-Type: text/plain", "X-Long: a\r\n b\r\n\tc"],
      );
      assert.equal(latin1(text).subarray(scan.bodyStart).toString("latin1"), `body${eol}`);
      assert.equal(fieldValue(scan.fields, "x-long"), "a b\tc");
      assert.ok(isMimeBlock(scan.fields));
    }
  });

  it("says 'none' for content that does not begin with header fields", () => {
    for (const text of [
      "Hello there\n\nbody",
      "\nSubject: x\n\n",
      " folded: first\n\n",
      "From sender Mon\n",
      ": x\n\n",
      "Bad Name: x\n\n",
    ]) {
      assert.equal(scanHeaderBlock(latin1(text), true).kind, "none", JSON.stringify(text));
    }
  });

  it("asks for more bytes until it can decide, and ends at the end of complete content", () => {
    assert.equal(scanHeaderBlock(latin1("Content-Type: text/pl"), false).kind, "more");
    assert.equal(scanHeaderBlock(latin1("Content-Type: text/plain\r"), false).kind, "more");
    assert.equal(scanHeaderBlock(latin1("Content-Type: text/plain\r\n"), false).kind, "more");
    const whole = scanHeaderBlock(latin1("Content-Type: text/plain\r\n"), true);
    assert.equal(whole.kind, "headers");
    assert.equal(scanHeaderBlock(latin1("Hello"), false).kind, "more");
    assert.equal(scanHeaderBlock(latin1("Hello world"), true).kind, "none");
  });

  it("notes 8-bit octets in the header block (RFC 6532), in a field or a folded line, and only there", () => {
    const scan = scanHeaderBlock(
      Buffer.from("Content-Type: text/plain\nSubject: caf\u00e9\n\n", "utf8"),
      true,
    );
    assert.ok(scan.kind === "headers" && scan.eightBit);
    const folded = scanHeaderBlock(Buffer.from("Subject: a\n caf\u00e9\nX-A: 1\n\n", "utf8"), true);
    assert.ok(folded.kind === "headers" && folded.eightBit);
    const ascii = scanHeaderBlock(Buffer.from("Subject: cafe\n\nbody caf\u00e9\n", "utf8"), true);
    assert.ok(ascii.kind === "headers" && !ascii.eightBit);
  });

  it("reads field names byte by byte: white space before the colon is not part of the name (RFC 5322 §4.5.3)", () => {
    const scan = scanHeaderBlock(latin1("Bcc : a@example.org\nCc\t: b@example.org\nX-A:1\n\n"), true);
    assert.ok(scan.kind === "headers");
    assert.deepEqual(
      scan.fields.map((f) => f.name),
      ["Bcc", "Cc", "X-A"],
    );
    assert.equal(fieldValue(scan.fields, "cc"), "b@example.org");
    // a name with a control, DEL or an 8-bit octet in it is no field name (RFC 5322 §3.6.8)
    for (const name of ["X\u0001A", "X\u007fA", "X\u00e9A", "X A"]) {
      assert.equal(scanHeaderBlock(latin1(`${name}: 1\n\n`), true).kind, "none", JSON.stringify(name));
    }
  });
});

describe("extractMessageId (for sendRaw)", () => {
  it("finds the Message-ID and replays every byte", async () => {
    const text =
      "From: a@example.com\r\nMessage-ID:\r\n <raw.id@example.com>\r\nBcc: kept@example.com\r\n\r\nbody\r\n";
    const { messageId, chunks } = await extractMessageId(
      toByteChunks(Readable.from([latin1(text.slice(0, 9)), latin1(text.slice(9))])),
    );
    assert.equal(messageId, "<raw.id@example.com>");
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    assert.equal(Buffer.concat(parts).toString("latin1"), text, "nothing added or removed");
  });

  it("gives '' when there is no header block or no Message-ID, reading at most 64 KiB", async () => {
    assert.equal((await extractMessageId(toByteChunks("just text\n"))).messageId, "");
    assert.equal((await extractMessageId(toByteChunks("Subject: x\n\nbody"))).messageId, "");
    let pulled = 0;
    async function* endlessHeader(): AsyncGenerator<Uint8Array> {
      yield latin1("X-Huge: ");
      for (;;) {
        pulled += 1024;
        yield latin1("a".repeat(1024));
      }
    }
    const { messageId } = await extractMessageId(endlessHeader());
    assert.equal(messageId, "");
    assert.ok(pulled <= PEEK_LIMIT + 1024, `read ${pulled} bytes`);
  });
});

describe("lineStats and wireSize", () => {
  it("agree with LineEndNormalizer on random content", () => {
    let seed = 3;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 2000; round++) {
      let text = "";
      for (let i = random(20); i > 0; i--) text += ["\r", "\n", "a", "\r\n", "b".repeat(500)][random(5)];
      const bytes = latin1(text);
      const normalizer = new LineEndNormalizer();
      const expected = normalizer.encode(bytes).length + normalizer.end().length;
      assert.equal(lineStats(bytes).size, expected, JSON.stringify(text));
      assert.equal(wireSize(text), expected);
      const longest = Math.max(0, ...text.split(/\r\n|\r|\n/).map((l) => l.length));
      assert.equal(lineStats(bytes).longLine, longest > 998);
    }
    assert.equal(wireSize(Readable.from([])), undefined);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_LINE_OCTETS, ReplyParser, ReplySyntaxError } from "../../src/protocol/reply-parser.js";
import type { Reply } from "../../src/types.js";

const bytes = (s: string): Uint8Array => Buffer.from(s, "utf8");

/** ReplyParser.each, with the replies collected (and the undecoded rest after a stop). */
function feed(
  parser: ReplyParser,
  chunk: Uint8Array,
  stopAfter?: (reply: Reply) => boolean,
): { replies: Reply[]; rest?: Uint8Array | undefined } {
  const replies: Reply[] = [];
  const rest = parser.each(chunk, (reply) => {
    replies.push(reply);
    return stopAfter?.(reply) ?? false;
  });
  return { replies, rest };
}

/** Feeds `input` whole, and again byte by byte; both must give the same replies (or both throw). */
function parseBoth(input: string): Reply[] {
  const whole = feed(new ReplyParser(), bytes(input)).replies;
  const parser = new ReplyParser();
  const single: Reply[] = [];
  for (const b of bytes(input)) single.push(...feed(parser, Uint8Array.of(b)).replies);
  assert.deepEqual(single, whole, "byte-by-byte result differs from whole");
  return whole;
}

function throwsBoth(input: string, pattern: RegExp): void {
  assert.throws(
    () => feed(new ReplyParser(), bytes(input)),
    (e: unknown) => e instanceof ReplySyntaxError && pattern.test(e.message),
  );
  const parser = new ReplyParser();
  assert.throws(
    () => {
      for (const b of bytes(input)) feed(parser, Uint8Array.of(b));
    },
    (e: unknown) => e instanceof ReplySyntaxError && pattern.test(e.message),
  );
}

describe("ReplyParser", () => {
  it("parses a single-line reply", () => {
    assert.deepEqual(parseBoth("220 mail.example ESMTP\r\n"), [
      { code: 220, lines: ["mail.example ESMTP"], text: "mail.example ESMTP" },
    ]);
  });

  it("parses a multi-line EHLO reply", () => {
    const [reply] = parseBoth("250-mail.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n");
    assert.equal(reply?.code, 250);
    assert.deepEqual(reply?.lines, ["mail.example", "PIPELINING", "SIZE 1000", "8BITMIME"]);
    assert.equal(reply?.text, "mail.example\nPIPELINING\nSIZE 1000\n8BITMIME");
  });

  it("returns several replies from one chunk in order", () => {
    const replies = parseBoth("250 2.1.0 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n");
    assert.deepEqual(
      replies.map((r) => [r.code, r.enhancedCode, r.text]),
      [
        [250, "2.1.0", "ok"],
        [550, "5.1.1", "no such user"],
        [354, undefined, "go ahead"],
      ],
    );
  });

  it("strips the enhanced status code from every line, only when its class matches", () => {
    const [reply] = parseBoth("550-5.7.1 first\r\n550 5.7.1 second\r\n");
    assert.equal(reply?.enhancedCode, "5.7.1");
    assert.deepEqual(reply?.lines, ["first", "second"]);
    const [mismatch] = parseBoth("250 5.1.1 not an enhanced code for 2xx\r\n");
    assert.equal(mismatch?.enhancedCode, undefined);
    assert.equal(mismatch?.text, "5.1.1 not an enhanced code for 2xx");
    const [bare] = parseBoth("221 2.0.0\r\n");
    assert.equal(bare?.enhancedCode, "2.0.0");
    assert.deepEqual(bare?.lines, [""]);
  });

  it("accepts a last line with no text and a continuation with no text", () => {
    const [reply] = parseBoth("250-\r\n250\r\n");
    assert.deepEqual(reply?.lines, ["", ""]);
  });

  it("keeps UTF-8 text whole across chunk splits", () => {
    const [reply] = parseBoth("250 Grüße, 世界\r\n");
    assert.equal(reply?.text, "Grüße, 世界");
  });

  it("holds a partial reply until its last line", () => {
    const parser = new ReplyParser();
    assert.deepEqual(feed(parser, bytes("250-one\r\n250-two")).replies, []);
    assert.ok(parser.pendingOctets > 0);
    assert.equal(feed(parser, bytes("\r\n250 three\r\n")).replies[0]?.lines.length, 3);
    assert.equal(parser.pendingOctets, 0);
  });

  it("refuses codes that disagree within one reply", () => {
    throwsBoth("250-one\r\n251 two\r\n", /changes its code/);
  });

  it("refuses lines that are not replies", () => {
    throwsBoth("hello\r\n", /reply code/);
    throwsBoth("25\r\n", /too short/);
    throwsBoth("650 x\r\n", /reply code/);
    throwsBoth("190 x\r\n", /reply code/);
    throwsBoth("2x0 x\r\n", /reply code/);
    throwsBoth("250x\r\n", /space, hyphen/);
    throwsBoth("250 bare lf\n", /CRLF/);
    throwsBoth("250 nul\u0000inside\r\n", /control/);
    throwsBoth("250 bare\rcr\r\n", /control/);
  });

  it("bounds the line length (8192 octets)", () => {
    const ok = `250 ${"a".repeat(MAX_LINE_OCTETS - 4)}\r\n`;
    assert.equal(parseBoth(ok)[0]?.code, 250);
    throwsBoth(`250 ${"a".repeat(MAX_LINE_OCTETS)}\r\n`, /longer than 8192/);
    // without a line end at all: refused as soon as the limit is passed
    const parser = new ReplyParser();
    assert.throws(() => feed(parser, bytes(`250 ${"a".repeat(MAX_LINE_OCTETS + 10)}`)), /longer than 8192/);
  });

  it("bounds a reply to 1000 lines and 256 KiB", () => {
    const manyLines = `${"250-x\r\n".repeat(1000)}250 end\r\n`;
    assert.throws(() => feed(new ReplyParser(), bytes(manyLines)), /1000 lines/);
    const thousand = `${"250-x\r\n".repeat(999)}250 end\r\n`;
    assert.equal(feed(new ReplyParser(), bytes(thousand)).replies[0]?.lines.length, 1000);
    const big = `${`250-${"b".repeat(8000)}\r\n`.repeat(40)}250 end\r\n`;
    assert.throws(() => feed(new ReplyParser(), bytes(big)), /256|262144|octets/);
  });

  it("stops after a barrier reply and returns the rest unread", () => {
    const parser = new ReplyParser();
    const out = feed(parser, bytes("220 go ahead\r\n250 injected\r\n"), (r) => r.code === 220);
    assert.equal(out.replies.length, 1);
    assert.equal(Buffer.from(out.rest ?? []).toString(), "250 injected\r\n");
  });

  it("reset() drops a partial reply", () => {
    const parser = new ReplyParser();
    feed(parser, bytes("250-partial\r\n250 no"));
    parser.reset();
    assert.equal(parser.pendingOctets, 0);
    assert.equal(feed(parser, bytes("220 fresh\r\n")).replies[0]?.code, 220);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import libmime from "libmime";
import {
  chooseEncoding,
  encodePhrase,
  encodeWord,
  encodeWords,
  phraseForm,
  type WordEncoding,
  wordNeedsEncoding,
} from "../../src/message/encode-words.js";

const WORD = /^=\?UTF-8\?([BQ])\?([^?\s]*)\?=$/;

const TEXTS = [
  "Gr\u00fc\u00dfe aus K\u00f6ln",
  "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d\u3067\u3059",
  "Emoji \u{1f600}\u{1f680}\u{1f469}\u200d\u{1f4bb} party",
  "caf\u00e9",
  "A".repeat(10) + "\u00e9".repeat(200),
  "\u{1f600}".repeat(60),
  "mixed ASCII with one \u00fc in a long sentence that goes on and on and on beyond seventy-five characters",
  'specials = ? _ ( ) " , ; : < > @ \u00e9',
  "  leading and trailing spaces \u00e9  ",
  "=?UTF-8?B?Zm9v?=",
  "\u0410\u0411\u0412 \u0433\u0434\u0435 ".repeat(20),
];

describe("encoded-words (RFC 2047)", () => {
  for (const text of TEXTS) {
    for (const encoding of ["B", "Q"] as WordEncoding[]) {
      it(`${encoding}-encodes ${JSON.stringify(text.slice(0, 30))}... into words libmime decodes back`, () => {
        const words = encodeWords(text, encoding);
        for (const word of words) {
          assert.ok(word.length <= 75, `word of ${word.length} characters`);
          const m = WORD.exec(word);
          assert.ok(m, word);
          assert.equal(m[1], encoding);
          if (encoding === "Q")
            assert.match(m[2]!, /^(?:[A-Za-z0-9!*+\-/_]|=[0-9A-F]{2})*$/, "phrase-safe Q");
          // Each word holds whole characters: decoding it alone never gives a replacement character.
          assert.ok(!libmime.decodeWords(word).includes("\ufffd"), `split character in ${word}`);
        }
        assert.equal(libmime.decodeWords(words.join(" ")), text);
        assert.equal(libmime.decodeWords(words.join("\r\n ")).replace(/\r\n /g, ""), text);
      });
    }
  }

  it("respects a smaller maximum and never goes below one character", () => {
    const text = "\u{1f600}\u00e9a b";
    for (const max of [24, 30, 40, 75]) {
      for (const word of encodeWords(text, "B", max)) assert.ok(word.length <= max, `${word} > ${max}`);
      for (const word of encodeWords(text, "Q", max)) assert.ok(word.length <= max, `${word} > ${max}`);
    }
    const { word, end } = encodeWord("\u{1f600}x", 0, 1, "Q");
    assert.equal(end, 2, "one whole surrogate pair");
    assert.equal(libmime.decodeWords(word), "\u{1f600}");
  });

  it("picks Q for mostly-ASCII text and B for mostly non-ASCII", () => {
    assert.equal(chooseEncoding("Hello w\u00f6rld, how are you today"), "Q");
    assert.equal(chooseEncoding("Gr\u00fc\u00dfe aus K\u00f6ln"), "B", "B is shorter here (24 vs 30)");
    assert.equal(chooseEncoding("\u65e5\u672c\u8a9e\u306e\u4ef6\u540d"), "B");
  });

  it("encodes a lone surrogate as U+FFFD rather than invalid UTF-8", () => {
    const words = encodeWords("a\ud800b", "B");
    assert.equal(libmime.decodeWords(words.join(" ")), "a\ufffdb");
  });

  it("knows which words need encoding", () => {
    assert.equal(wordNeedsEncoding("plain"), false);
    assert.equal(wordNeedsEncoding("(parens)"), false);
    assert.equal(wordNeedsEncoding("caf\u00e9"), true);
    assert.equal(wordNeedsEncoding("=?x?="), true);
  });
});

describe("display names (phrases)", () => {
  const table: [string, string][] = [
    ["John Smith", "John Smith"],
    ["Smith, John", '"Smith, John"'],
    ["John Q. Public", '"John Q. Public"'],
    ['Say "hi"', '"Say \\"hi\\""'],
    ["back\\slash", '"back\\\\slash"'],
    ["two  spaces", '"two  spaces"'],
  ];
  for (const [name, expected] of table) {
    it(`writes ${JSON.stringify(name)} as ${expected}`, () => {
      assert.equal(encodePhrase(name), expected);
    });
  }

  it("encodes non-ASCII names and names that look like encoded-words", () => {
    for (const name of ["J\u00f6rg M\u00fcller", "\u7530\u4e2d \u592a\u90ce", "=?UTF-8?Q?x?="]) {
      assert.equal(phraseForm(name).kind, "encoded");
      const written = encodePhrase(name);
      assert.match(written, /^=\?UTF-8\?[BQ]\?/);
      assert.equal(libmime.decodeWords(written), name);
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SMTPError } from "../../src/errors.js";
import { decodeXtext, encodeEnvid, encodeOrcpt, encodeXtext } from "../../src/protocol/xtext.js";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

describe("xtext (RFC 3461 §4)", () => {
  const table: [string, string][] = [
    ["", ""],
    ["abc", "abc"],
    ["a+b=c", "a+2Bb+3Dc"],
    ["with space", "with+20space"],
    ["user@example.com", "user@example.com"],
    ["!~\"#$%&'()*,-./:;<>?@[\\]^_`{|}", "!~\"#$%&'()*,-./:;<>?@[\\]^_`{|}"],
    ["++", "+2B+2B"],
    ["==", "+3D+3D"],
  ];
  for (const [plain, encoded] of table) {
    it(`encodes ${JSON.stringify(plain)}`, () => {
      assert.equal(encodeXtext(plain), encoded);
      assert.equal(decodeXtext(encoded), plain);
    });
  }

  it("round-trips every printable ASCII character and uses only xchar and +HH", () => {
    let all = "";
    for (let c = 0x20; c < 0x7f; c++) all += String.fromCharCode(c);
    const encoded = encodeXtext(all);
    assert.match(encoded, /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/);
    assert.equal(decodeXtext(encoded), all);
  });

  it("refuses control characters and non-ASCII with EINPUT", () => {
    for (const bad of ["a\r\nb", "a\nb", "\u0000", "tab\there", "del\u007f", "caf\u00e9", "\u{1f600}"]) {
      assert.throws(() => encodeXtext(bad), isInputError, JSON.stringify(bad));
    }
  });

  it("refuses malformed xtext when decoding", () => {
    for (const bad of ["+2", "+zz", "+2b", "a b", "a=b"]) assert.throws(() => decodeXtext(bad), isInputError);
  });

  it("builds ORCPT values as rfc822;xtext", () => {
    assert.equal(encodeOrcpt("user+tag@example.com"), "rfc822;user+2Btag@example.com");
    assert.equal(encodeOrcpt("a=b@xn--bcher-kva.example"), "rfc822;a+3Db@xn--bcher-kva.example");
    assert.throws(() => encodeOrcpt("j\u00f6rg@example.com"), isInputError);
    assert.throws(() => encodeOrcpt(""), isInputError);
  });

  it("checks ENVID values (at most 100 characters)", () => {
    assert.equal(encodeEnvid("QQ314159"), "QQ314159");
    assert.equal(encodeEnvid("a".repeat(100)), "a".repeat(100));
    assert.throws(() => encodeEnvid("a".repeat(101)), isInputError);
    assert.throws(() => encodeEnvid(""), isInputError);
    assert.throws(() => encodeEnvid("id\r\nRCPT TO:<x@y>"), isInputError);
  });
});

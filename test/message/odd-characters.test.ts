// One rule for odd characters in every header we write: C0 controls (but TAB in a value), DEL, C1
// controls and lone surrogates are EINPUT naming the field — in the subject, display names, addresses
// and extra headers alike. Real characters outside the BMP (a surrogate pair) are fine.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SMTPError } from "../../src/errors.js";
import { type ComposeInput, composeMessage } from "../../src/message/compose.js";

const BASE: ComposeInput = {
  from: "a@example.org",
  to: ["b@example.org"],
  cc: [],
  subject: "s",
  content: "x",
  eightBitMime: true,
  smtpUtf8: false,
  hostname: "client.example",
};

const ODD: [string, string][] = [
  ["a lone high surrogate", "café \uD83D menu"],
  ["a lone low surrogate", "\uDE00 at the start"],
  ["NEL (U+0085, a C1 control)", "line\u0085break"],
  ["CSI (U+009B, a C1 control)", "\u009b31mred"],
  ["U+0080", "x\u0080y"],
  ["DEL", "x\u007fy"],
  ["ESC", "x\u001b[2Jy"],
];

function refused(input: Partial<ComposeInput>, field: RegExp): void {
  assert.throws(
    () => composeMessage({ ...BASE, ...input }),
    (e: unknown) => {
      assert.ok(e instanceof SMTPError && e.code === "EINPUT", String(e));
      assert.match(e.message, field);
      return true;
    },
  );
}

describe("odd characters in headers: one rule, EINPUT naming the field", () => {
  for (const [what, text] of ODD) {
    it(`${what}: refused in the subject, a display name, an extra header and an address header`, () => {
      refused({ subject: text }, /header Subject contains/);
      refused({ from: `"${text}" <a@example.org>` }, /^From: /);
      refused({ to: [`${text.replace(/\s/g, "")} <b@example.org>`] }, /^To: /);
      refused({ cc: [`"${text}" <c@example.org>`] }, /^Cc: /);
      refused({ headers: { "X-Note": text } }, /header X-Note contains/);
      refused({ headers: { "Reply-To": `"${text}" <r@example.org>` } }, /Reply-To/);
    });
  }

  it("the message names the character", () => {
    refused({ subject: "a\u0085b" }, /control character \(U\+0085\)/);
    refused({ subject: "a\uD800b" }, /lone UTF-16 surrogate \(U\+D800\)/);
  });

  it("a surrogate pair (a real character), TAB in a value and ordinary non-ASCII are fine", () => {
    const composed = composeMessage({
      ...BASE,
      from: '"Zoë 😀" <a@example.org>',
      subject: "Grüße 😀\tand a tab",
      headers: { "X-Note": "naïve 😀" },
    });
    assert.match(composed.messageId, /^<.+@client\.example>$/);
  });
});

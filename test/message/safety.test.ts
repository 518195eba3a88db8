// Review findings kept as tests: an IDN domain may not be rewritten by the URL host parser, a lone
// surrogate is not an address, a Bcc line at the start of the content is never sent as text, and one rule
// for odd characters in every header we write: C0 controls (but TAB in a value), DEL, C1 controls and lone
// surrogates are EINPUT naming the field, in the subject, display names, addresses and extra headers alike;
// real characters outside the BMP (a surrogate pair) are fine.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { SMTPError } from "../../src/errors.js";
import { parseMailbox, toEnvelopeAddress } from "../../src/message/address.js";
import { type ComposeInput, composeMessage } from "../../src/message/compose.js";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

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

async function bytesOf(input: Partial<ComposeInput>): Promise<string> {
  const composed = composeMessage({ ...BASE, ...input });
  const parts: Buffer[] = [];
  for await (const chunk of composed.chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString("latin1");
}

describe("addresses that a URL host parser would rewrite", () => {
  const refused = [
    "alice@evil.example/ü.trusted.com",
    "alice@ü%41.com",
    "alice@ü.com\\x",
    "alice@ü.com?x",
    "alice@ü.com#x",
    'alice@ü.example/"',
    "alice@ü.example/:",
    "alice@ｅｘａｍｐｌｅ.ü.com",
    "alice@ü。com",
    "\ud800bob@example.com",
  ];
  for (const address of refused) {
    it(`refuses ${JSON.stringify(address)}`, () => {
      assert.throws(() => parseMailbox(address), isInputError);
    });
  }

  it("keeps valid IDNs, in either case, and converts them to A-labels without SMTPUTF8", () => {
    assert.equal(parseMailbox("jörg@Müller.Example").address, "jörg@Müller.Example");
    assert.equal(toEnvelopeAddress("b@müller.example", false), "b@xn--mller-kva.example");
    assert.equal(toEnvelopeAddress("b@Müller.Example", false), "b@xn--mller-kva.example");
  });
});

describe("a Bcc at the start of the content is never sent as text", () => {
  const cases: [string, string][] = [
    ["obsolete white space before the colon", "MIME-Version: 1.0\nBcc : secret@hidden.example\n\nbody\n"],
    ["a header block without MIME-Version or Content-Type", "Bcc: secret@hidden.example\nX-A: 1\n\nbody\n"],
    ["a block with a line that is not a field", "Bcc: secret@hidden.example\nnot a field\n\nbody\n"],
  ];
  for (const [what, content] of cases) {
    it(`${what}: removed or refused`, async () => {
      let sent: string | undefined;
      try {
        sent = await bytesOf({ content });
      } catch (error) {
        assert.ok(isInputError(error), String(error));
        return;
      }
      assert.ok(!sent.includes("secret@hidden.example"), sent);
    });
  }

  it("a streamed header block longer than the 64 KiB peek, holding a Bcc: refused while streaming", async () => {
    const head = `MIME-Version: 1.0\nBcc: secret@hidden.example\n${"X-Filler: ".concat("y".repeat(80), "\n").repeat(900)}\nbody\n`;
    const content = Readable.from(
      Buffer.from(head)
        .toString()
        .match(/[\s\S]{1,1024}/g)!,
    );
    await assert.rejects(bytesOf({ content }), isInputError);
  });

  it("plain text that merely mentions Bcc later is sent as it is", async () => {
    const sent = await bytesOf({ content: "Hello,\n\nBcc: is a header name.\n" });
    assert.match(sent, /Bcc: is a header name\./);
  });
});

describe("extra headers keep their meaning", () => {
  it("address headers are written as addresses (display names encoded, never the address)", async () => {
    const { simpleParser } = await import("mailparser");
    const sent = await bytesOf({
      headers: { "Reply-To": '"Müller, Hans" <hans@example.com>, ops@example.com' },
    });
    const parsed = await simpleParser(Buffer.from(sent, "latin1"));
    const replyTo = Array.isArray(parsed.replyTo) ? parsed.replyTo[0] : parsed.replyTo;
    assert.deepEqual(
      replyTo?.value.map((v: { name: string; address?: string }) => [v.name, v.address]),
      [
        ["Müller, Hans", "hans@example.com"],
        ["", "ops@example.com"],
      ],
    );
    await assert.rejects(bytesOf({ headers: { "Reply-To": "not an address" } }), isInputError);
  });

  it("ASCII values are written as given, even with '=?' in them", async () => {
    const sent = await bytesOf({ headers: { "List-Unsubscribe": "<https://example.com/unsub?id=?x>" } });
    assert.match(sent, /^List-Unsubscribe: <https:\/\/example\.com\/unsub\?id=\?x>\r\n/m);
  });
});

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
      assert.ok(isInputError(e), String(e));
      assert.match((e as SMTPError).message, field);
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

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { type AddressObject, simpleParser } from "mailparser";
import { SMTPError } from "../../src/errors.js";
import { type ComposedMessage, type ComposeInput, composeMessage } from "../../src/message/compose.js";
import { LineEndNormalizer } from "../../src/protocol/dot-stuff.js";

process.env.TZ = "UTC";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

/** The message as the server stores it: chunks with line ends normalised, as on the wire. */
async function wire(message: ComposedMessage): Promise<Buffer> {
  const normalizer = new LineEndNormalizer();
  const out: Uint8Array[] = [];
  for await (const chunk of message.chunks) out.push(normalizer.encode(chunk));
  out.push(normalizer.end());
  return Buffer.concat(out);
}

const BASE: ComposeInput = {
  from: "Sender <sender@example.com>",
  to: ["rcpt@example.org"],
  cc: [],
  subject: "Hello",
  content: "Hi there.\n",
  date: new Date(Date.UTC(2026, 10, 29, 21, 3, 59)),
  messageId: "<fixed.1@example.com>",
  eightBitMime: false,
  smtpUtf8: false,
  hostname: "client.example.com",
};

const compose = (overrides: Partial<ComposeInput>): ComposedMessage =>
  composeMessage({ ...BASE, ...overrides });
const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(field) ? field.flatMap((f) => f.value) : (field?.value ?? [])).map((a) => ({
    name: a.name,
    address: a.address,
  }));

describe("composeMessage: golden output", () => {
  it("writes a plain ASCII message", async () => {
    const message = compose({});
    assert.equal(
      (await wire(message)).toString("latin1"),
      "From: Sender <sender@example.com>\r\n" +
        "To: rcpt@example.org\r\n" +
        "Subject: Hello\r\n" +
        "Date: Sun, 29 Nov 2026 21:03:59 +0000\r\n" +
        "Message-ID: <fixed.1@example.com>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: 7bit\r\n" +
        "\r\n" +
        "Hi there.\r\n",
    );
    assert.equal(message.messageId, "<fixed.1@example.com>");
    assert.equal(message.eightBit, false);
    assert.equal(message.smtpUtf8, false);
  });

  it("writes names, Cc, extra headers and quoted-printable", async () => {
    const message = compose({
      from: "J\u00f6rg <joerg@b\u00fccher.example>",
      to: ['"Smith, John" <john@example.com>', "plain@example.com"],
      cc: ["Ann Lee <ann@example.net>"],
      subject: "Gr\u00fc\u00dfe",
      content: "Line one\n.dot line\ncaf\u00e9 \n",
      headers: { "X-Mailer": "smtpkit", "Reply-To": "help@example.com" },
    });
    assert.equal(
      (await wire(message)).toString("latin1"),
      "From: =?UTF-8?B?SsO2cmc=?= <joerg@xn--bcher-kva.example>\r\n" +
        'To: "Smith, John" <john@example.com>, plain@example.com\r\n' +
        "Cc: Ann Lee <ann@example.net>\r\n" +
        "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n" +
        "Date: Sun, 29 Nov 2026 21:03:59 +0000\r\n" +
        "Message-ID: <fixed.1@example.com>\r\n" +
        "X-Mailer: smtpkit\r\n" +
        "Reply-To: help@example.com\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: quoted-printable\r\n" +
        "\r\n" +
        "Line one\r\n=2Edot line\r\ncaf=C3=A9=20\r\n",
    );
  });

  it("writes To: undisclosed-recipients:; when there is no To and no Cc", async () => {
    const text = (await wire(compose({ to: [], cc: [] }))).toString("latin1");
    assert.match(text, /^To: undisclosed-recipients:;\r\n/m);
    const onlyCc = (await wire(compose({ to: [], cc: ["c@example.com"] }))).toString("latin1");
    assert.doesNotMatch(onlyCc, /^To:/m);
    assert.match(onlyCc, /^Cc: c@example.com\r\n/m);
  });
});

describe("composeMessage: read back with mailparser", () => {
  const cases: [string, Partial<ComposeInput>][] = [
    ["ASCII", {}],
    [
      "UTF-8 without 8BITMIME",
      {
        subject: Array(4)
          .fill("\u65e5\u672c\u8a9e\u306e\u4ef6\u540d \u2014 Gr\u00fc\u00dfe aus K\u00f6ln")
          .join(" "),
        from: "\u7530\u4e2d \u592a\u90ce <tanaka@example.jp>",
        to: ["J\u00f6rg M\u00fcller <j@example.de>", '"Doe, \\"JD\\" Jane" <jane@example.com>'],
        cc: ["Ren\u00e9e <renee@example.fr>", "x@example.com"],
        content: "Gr\u00fc\u00dfe,\n\n.leading dot\n\u{1f600} done  \n",
      },
    ],
    ["UTF-8 with 8BITMIME", { eightBitMime: true, content: "caf\u00e9\r\nna\u00efve\r\n" }],
    ["long line", { content: `${"word ".repeat(400)}\nshort\n` }],
    ["NUL byte", { content: "a\u0000b\n" }],
    ["bare CR line ends", { content: "one\rtwo\rthree" }],
    ["Uint8Array content", { content: new Uint8Array(Buffer.from("bytes \u00e9\n", "utf8")) }],
    ["empty", { content: "", subject: "" }],
  ];
  for (const [label, overrides] of cases) {
    it(`round-trips ${label}`, async () => {
      const input = { ...BASE, ...overrides };
      const message = composeMessage(input);
      const bytes = await wire(message);
      assert.equal(message.size, bytes.length, "size is the wire size before dot-stuffing");
      for (const line of bytes.toString("latin1").split("\r\n")) assert.ok(line.length <= 998);
      const parsed = await simpleParser(bytes);
      assert.equal(parsed.subject ?? "", input.subject);
      assert.deepEqual(addresses(parsed.from), [nameAndAddress(input.from)]);
      assert.deepEqual(addresses(parsed.to), input.to.map(nameAndAddress));
      assert.deepEqual(addresses(parsed.cc), input.cc.map(nameAndAddress));
      const content =
        typeof input.content === "string"
          ? input.content
          : Buffer.from(input.content as Uint8Array).toString();
      const expected = content.replace(/\r\n|\r/g, "\n");
      assert.equal(
        parsed.text ?? "",
        expected === "" || expected.endsWith("\n") ? expected : `${expected}\n`,
      );
      assert.equal(parsed.messageId, input.messageId);
      assert.equal(parsed.headers.has("bcc"), false);
    });
  }

  function nameAndAddress(mailbox: string): { name: string; address: string } {
    const m = /^(?:"?(.*?)"?\s*<(.+)>|(.+))$/.exec(mailbox)!;
    return { name: (m[1] ?? "").replace(/\\(.)/g, "$1"), address: m[2] ?? m[3]! };
  }
});

describe("composeMessage: transfer encoding", () => {
  const cte = async (overrides: Partial<ComposeInput>): Promise<string> =>
    /Content-Transfer-Encoding: (\S+)/.exec((await wire(compose(overrides))).toString("latin1"))![1]!;

  it("chooses 7bit, 8bit or quoted-printable", async () => {
    assert.equal(await cte({ content: "ascii\n" }), "7bit");
    assert.equal(await cte({ content: `${"a".repeat(998)}\n` }), "7bit");
    assert.equal(await cte({ content: `${"a".repeat(999)}\n` }), "quoted-printable");
    assert.equal(await cte({ content: `${"a".repeat(500)}\r${"a".repeat(500)}` }), "7bit");
    assert.equal(await cte({ content: "caf\u00e9" }), "quoted-printable");
    assert.equal(await cte({ content: "caf\u00e9", eightBitMime: true }), "8bit");
    assert.equal(
      await cte({ content: `caf\u00e9${"a".repeat(1000)}`, eightBitMime: true }),
      "quoted-printable",
    );
    assert.equal(await cte({ content: "nul\u0000", eightBitMime: true }), "quoted-printable");
    assert.equal(await cte({ content: Readable.from([Buffer.from("ascii stream\n")]) }), "quoted-printable");
  });

  it("reports the exact wire size for random content, in every encoding", async () => {
    let seed = 4242;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ["\r", "\n", "\r\n", ".", "a", " ", "\u00e9", "\u0000", "x".repeat(600)];
    for (let round = 0; round < 200; round++) {
      let content = "";
      for (let i = random(12); i > 0; i--) content += alphabet[random(alphabet.length)];
      for (const eightBitMime of [false, true]) {
        const message = compose({ content, eightBitMime });
        assert.equal(message.size, (await wire(message)).length, JSON.stringify(content));
        const ready = compose({ content: `Content-Type: text/plain\n\n${content}`, eightBitMime });
        assert.equal(ready.size, (await wire(ready)).length, JSON.stringify(content));
      }
    }
  });

  it("flags 8-bit bodies and raw UTF-8 headers", () => {
    assert.equal(compose({ content: "caf\u00e9", eightBitMime: true }).eightBit, true);
    assert.equal(compose({ content: "caf\u00e9" }).eightBit, false);
    const utf8 = compose({ to: ["j\u00f6rg@b\u00fccher.example"], smtpUtf8: true });
    assert.equal(utf8.smtpUtf8, true);
  });
});

describe("composeMessage: addresses and SMTPUTF8", () => {
  it("writes IDN domains as A-labels without SMTPUTF8 and raw with it", async () => {
    const ascii = (await wire(compose({ to: ["u@b\u00fccher.example"] }))).toString("utf8");
    assert.match(ascii, /^To: u@xn--bcher-kva\.example\r\n/m);
    const raw = (await wire(compose({ to: ["j\u00f6rg@b\u00fccher.example"], smtpUtf8: true }))).toString(
      "utf8",
    );
    assert.match(raw, /^To: j\u00f6rg@b\u00fccher\.example\r\n/m);
  });

  it("refuses a non-ASCII local part without SMTPUTF8 with EENVELOPE", () => {
    assert.throws(
      () => compose({ cc: ["j\u00f6rg@example.com"] }),
      (e: unknown) => e instanceof SMTPError && e.code === "EENVELOPE",
    );
  });
});

describe("composeMessage: validation (EINPUT before anything is produced)", () => {
  const refuses = (overrides: Partial<ComposeInput>, reason?: RegExp): void => {
    assert.throws(
      () => compose(overrides),
      (e: unknown) => isInputError(e) && (reason === undefined || reason.test((e as Error).message)),
    );
  };

  it("refuses bad addresses", () => {
    refuses({ from: "a@b.com, c@d.com" });
    refuses({ to: ["ok@example.com", "bad"] });
    refuses({ cc: ["x@example.com\r\nBcc: y@example.com"] });
    refuses({ to: "a@example.com" as unknown as string[] });
  });

  it("refuses Bcc and duplicates of our own headers in headers", () => {
    for (const name of [
      "Bcc",
      "bcc",
      "Resent-Bcc",
      "From",
      "to",
      "CC",
      "Subject",
      "date",
      "Message-ID",
      "Content-Type",
    ]) {
      refuses({ headers: { [name]: "x@example.com" } });
    }
  });

  it("refuses bad header names and values", () => {
    refuses({ headers: { "Bad Name": "v" } });
    refuses({ headers: { "X:Y": "v" } });
    refuses({ headers: { "": "v" } });
    refuses({ headers: { "X-Inject": "v\r\nBcc: evil@example.com" } });
    refuses({ headers: { "X-Num": 5 as unknown as string } });
    refuses({ subject: "hi\r\nBcc: evil@example.com" });
    refuses({ subject: 5 as unknown as string });
  });

  it("checks messageId syntax, adding missing brackets", () => {
    refuses({ messageId: "no-at-sign" }, /msg-id/);
    refuses({ messageId: "<a b@c>" });
    refuses({ messageId: "<a@b>\r\nBcc: x" });
    assert.equal(compose({ messageId: "abc@host.example" }).messageId, "<abc@host.example>");
    assert.match(compose({ messageId: undefined }).messageId, /^<[0-9a-f-]+@client\.example\.com>$/);
  });

  it("refuses content of the wrong type", () => {
    refuses({ content: 42 as unknown as string });
  });
});

const READY =
  "From: Own Sender <own@example.com>\n" +
  "Subject: Own subject\n" +
  "Bcc: hidden@example.com\n" +
  "MIME-Version: 1.0\n" +
  "Content-Type: multipart/alternative; boundary=XYZ\n" +
  "Message-ID: <own.id@example.com>\n" +
  "X-Folded: first\n  second\n" +
  "\n" +
  "--XYZ\nContent-Type: text/plain; charset=us-ascii\n\nplain part\n.dot\n--XYZ\n" +
  "Content-Type: text/html\n\n<p>html part</p>\n--XYZ--\n";

describe("composeMessage: ready MIME content", () => {
  for (const [label, content] of [
    ["string", READY],
    ["stream", Readable.from([READY.slice(0, 50), READY.slice(50)].map((s) => Buffer.from(s)))],
  ] as const) {
    it(`keeps the caller's headers and body (${label}), drops Bcc, adds only what is missing`, async () => {
      const message = compose({ content, messageId: "<ours@example.com>" });
      const bytes = await wire(message);
      const text = bytes.toString("latin1");
      const [head, ...body] = text.split("\r\n\r\n");
      assert.equal(
        head,
        "To: rcpt@example.org\r\n" +
          "Date: Sun, 29 Nov 2026 21:03:59 +0000\r\n" +
          "From: Own Sender <own@example.com>\r\n" +
          "Subject: Own subject\r\n" +
          "MIME-Version: 1.0\r\n" +
          "Content-Type: multipart/alternative; boundary=XYZ\r\n" +
          "Message-ID: <own.id@example.com>\r\n" +
          "X-Folded: first\r\n  second",
      );
      assert.equal(body.join("\r\n\r\n"), READY.slice(READY.indexOf("\n\n") + 2).replace(/\n/g, "\r\n"));
      assert.doesNotMatch(text, /hidden/);
      assert.equal(message.messageId, "<own.id@example.com>");
      if (label === "string") assert.equal(message.size, bytes.length);
      const parsed = await simpleParser(bytes);
      assert.equal(parsed.subject, "Own subject");
      assert.equal(parsed.text?.trim(), "plain part\n.dot");
      assert.equal(parsed.html, "<p>html part</p>");
      assert.equal(parsed.headers.has("bcc"), false);
    });
  }

  it("adds MIME-Version when the caller's block has only Content-Type, and uses our Message-ID when none", async () => {
    const message = compose({ content: "Content-Type: text/plain; charset=utf-8\r\n\r\nbody \u00e9\r\n" });
    const text = (await wire(message)).toString("utf8");
    assert.match(
      text,
      /^MIME-Version: 1\.0\r\nContent-Type: text\/plain; charset=utf-8\r\n\r\nbody \u00e9\r\n$/m,
    );
    assert.equal(message.messageId, "<fixed.1@example.com>");
    assert.match(text, /^Message-ID: <fixed\.1@example\.com>\r\n/m);
    assert.equal(message.eightBit, true);
  });

  it("treats a header block without MIME-Version or Content-Type as plain text", async () => {
    const message = compose({ content: "Note: this is text\n\nmore" });
    const parsed = await simpleParser(await wire(message));
    assert.equal(parsed.text, "Note: this is text\n\nmore\n");
  });
});

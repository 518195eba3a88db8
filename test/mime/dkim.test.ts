// DKIM signatures checked by two verifiers none of us wrote: dkimpy (Debian python3-dkim) and mailauth, with
// the public keys served by a stub resolver. rsa-sha256 and ed25519-sha256, relaxed and simple, several
// signatures, x=; a tampered body or header fails both; one-shot streams are spooled (0600) and removed.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import { composeMail, type DkimOptions, type MailOptions, SMTPError } from "../../src/index.js";
import { composeForSending } from "../../src/mime/compose.js";
import {
  collect,
  dkimpyVerify,
  ed25519Key,
  freshChunks,
  leavesOf,
  mailauthVerify,
  parseWithPython,
  rsaKey,
  sha256,
  type TestKey,
} from "./verifiers.js";

const DOMAIN = "example.test";
let rsa: TestKey;
let ed: TestKey;
let records: Record<string, string>;

before(() => {
  rsa = rsaKey(2048);
  ed = ed25519Key();
  records = { [`rsa._domainkey.${DOMAIN}`]: rsa.record, [`ed._domainkey.${DOMAIN}`]: ed.record };
});

const MAIL: MailOptions = {
  from: '"Jörg" <joerg@example.test>',
  to: ["bob@example.test"],
  cc: "carol@example.test",
  subject: "Signed — Grüße",
  text: "Hello  with   spaces   \n\ttabs\t\n\n\n",
  html: "<p>Hello</p>\n\n",
  replyTo: "reply@example.test",
  listUnsubscribe: { url: "https://example.test/u", oneClick: true },
  attachments: [
    { filename: "data.bin", content: Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff)) },
  ],
};

function signer(
  key: "rsa" | "ed",
  canon: "relaxed" | "simple",
  extra: Partial<DkimOptions> = {},
): DkimOptions {
  return {
    domainName: DOMAIN,
    keySelector: key,
    privateKey: key === "rsa" ? rsa.pem : ed.privateKey,
    headerCanonicalization: canon,
    bodyCanonicalization: canon,
    ...extra,
  };
}

/** The spool directories in the temporary directory now. */
const spools = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith("smtpkit-spool-"));

async function signed(mail: MailOptions): Promise<Buffer> {
  const composed = composeMail(mail);
  const raw = await collect(composed.stream());
  if (composed.size !== undefined) assert.equal(composed.size, raw.length, "announced size");
  return raw;
}

async function verdicts(raw: Buffer): Promise<{ dkimpy: boolean[]; mailauth: string[] }> {
  return { dkimpy: dkimpyVerify(raw, records), mailauth: await mailauthVerify(raw, records) };
}

describe("DKIM: verified by dkimpy and mailauth", () => {
  for (const key of ["rsa", "ed"] as const) {
    for (const canon of ["relaxed", "simple"] as const) {
      it(`${key === "rsa" ? "rsa-sha256" : "ed25519-sha256"} ${canon}/${canon}`, async () => {
        const raw = await signed({ ...MAIL, dkim: signer(key, canon) });
        assert.deepEqual(await verdicts(raw), { dkimpy: [true], mailauth: ["pass"] });
        const header = raw.toString("latin1").split("\r\n\r\n")[0]!;
        assert.match(
          header,
          new RegExp(`a=${key === "rsa" ? "rsa" : "ed25519"}-sha256; c=${canon}/${canon}`),
        );
        // From over-signed: listed once more than it occurs
        assert.match(
          header.replace(/\r\n\t/g, ""),
          /h=from:from:to:cc:subject:date:message-id:reply-to:mime-version:content-type:list-unsubscribe:list-unsubscribe-post;/,
        );
      });
    }
  }

  it("two signatures (RSA relaxed + Ed25519 simple) with x=; both verify", async () => {
    const raw = await signed({
      ...MAIL,
      dkim: [signer("rsa", "relaxed", { expires: 3600 }), signer("ed", "simple")],
    });
    assert.deepEqual(await verdicts(raw), { dkimpy: [true, true], mailauth: ["pass", "pass"] });
    const header = raw.toString("latin1");
    const t = Number(/ t=(\d+);/.exec(header)![1]);
    const x = Number(/ x=(\d+);/.exec(header)![1]);
    assert.equal(x - t, 3600);
  });

  it("a signed field that occurs twice: both instances in h=, taken bottom up, and both verifiers agree", async () => {
    const raw = await signed({
      ...MAIL,
      headers: { "X-Tag": ["one", "two"] },
      dkim: [
        signer("rsa", "relaxed", { headers: ["from", "subject", "x-tag"] }),
        signer("ed", "simple", { headers: ["from", "subject", "x-tag"] }),
      ],
    });
    assert.deepEqual(await verdicts(raw), { dkimpy: [true, true], mailauth: ["pass", "pass"] });
    assert.match(raw.toString("latin1").replace(/\r\n\t/g, ""), /h=from:from:subject:x-tag:x-tag;/);
  });

  it("a tampered body or header fails both verifiers", async () => {
    const raw = await signed({ ...MAIL, dkim: [signer("rsa", "relaxed"), signer("ed", "simple")] });
    const text = raw.toString("latin1");
    const body = Buffer.from(text.replace("Hello  with", "Hallo  with"), "latin1");
    const header = Buffer.from(text.replace("Subject: ", "Subject: Re: "), "latin1");
    const from = Buffer.from(text.replace(/\r\n\r\n/, "\r\nFrom: evil@attacker.test\r\n\r\n"), "latin1");
    for (const tampered of [body, header, from]) {
      assert.notDeepEqual(tampered, raw);
      const v = await verdicts(tampered);
      assert.deepEqual(v.dkimpy, [false, false]);
      assert.deepEqual(
        v.mailauth.map((r) => r === "pass"),
        [false, false],
      );
    }
  });

  it("relaxed survives re-folding and whitespace changes; simple does not", async () => {
    const raw = await signed({ ...MAIL, dkim: [signer("rsa", "relaxed"), signer("ed", "simple")] });
    const changed = Buffer.from(raw.toString("latin1").replace("Hello  with", "Hello with"), "latin1");
    const v = await verdicts(changed);
    assert.deepEqual(v.dkimpy, [true, false]);
    assert.deepEqual(
      v.mailauth.map((r) => r === "pass"),
      [true, false],
    ); // mailauth says "neutral" for a body hash mismatch
  });

  it("content mode (a plain body, the pre-§5 behaviour) is signed too", async () => {
    const raw = await signed({
      ...MAIL,
      text: undefined,
      html: undefined,
      attachments: undefined,
      content: "plain body\nwith a bare LF\rand a bare CR\r\nand CRLF\n\n",
      dkim: [signer("ed", "relaxed"), signer("rsa", "simple")],
    });
    assert.deepEqual(await verdicts(raw), { dkimpy: [true, true], mailauth: ["pass", "pass"] });
  });

  it("one-shot streams under 1 MiB (an attachment; a whole content) are kept in memory and arrive whole", async () => {
    const before = new Set(spools());
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 10)) & 0xff));
    const attached = await signed({
      ...MAIL,
      attachments: [{ filename: "stream.bin", content: freshChunks(data, 64 * 1024) }],
      dkim: signer("rsa", "relaxed"),
    });
    assert.deepEqual(await verdicts(attached), { dkimpy: [true], mailauth: ["pass"] });
    const [, , bin] = leavesOf(parseWithPython(attached).tree);
    assert.equal(bin?.sha256, sha256(data));
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i} of a streamed plain body\n`).join("");
    const content = await signed({
      ...MAIL,
      text: undefined,
      html: undefined,
      attachments: undefined,
      content: freshChunks(Buffer.from(text), 4096),
      dkim: signer("ed", "simple"),
    });
    assert.deepEqual(await verdicts(content), { dkimpy: [true], mailauth: ["pass"] });
    assert.equal((await simpleParser(content)).text, text);
    assert.deepEqual(
      spools().filter((n) => !before.has(n)),
      [],
      "no spool directory",
    );
  });

  it("a one-shot stream over 1 MiB is spooled to a 0600 file in a private directory, removed afterwards", async () => {
    const before = new Set(spools());
    const data = Buffer.from(Array.from({ length: 40 * 64 * 1024 }, (_, i) => (i * 13 + (i >> 12)) & 0xff));
    const composed = composeMail({
      ...MAIL,
      attachments: [{ filename: "big.bin", content: freshChunks(data, 64 * 1024) }],
      dkim: signer("rsa", "relaxed"),
    });
    const parts: Buffer[] = [];
    let seen: { dir: number; file: number } | undefined;
    for await (const c of composed.stream()) {
      parts.push(Buffer.from(c));
      if (seen === undefined) {
        const fresh = spools().filter((n) => !before.has(n));
        assert.equal(fresh.length, 1, "one spool directory while the message is written");
        const dir = join(tmpdir(), fresh[0]!);
        seen = {
          dir: statSync(dir).mode & 0o777,
          file: statSync(join(dir, readdirSync(dir)[0]!)).mode & 0o777,
        };
      }
    }
    assert.deepEqual(seen, { dir: 0o700, file: 0o600 });
    assert.deepEqual(
      spools().filter((n) => !before.has(n)),
      [],
      "removed afterwards",
    );
    const raw = Buffer.concat(parts);
    assert.deepEqual(await verdicts(raw), { dkimpy: [true], mailauth: ["pass"] });
    const [, , big] = leavesOf(parseWithPython(raw).tree);
    assert.equal(big?.sha256, sha256(data), "the attachment arrives whole");
  });

  it("a consumer that gives up mid-message (release, as the data path does on a stall) removes the spool", async () => {
    const before = new Set(spools());
    const composed = composeForSending(
      {
        ...MAIL,
        attachments: [
          {
            content: Readable.from(
              (function* () {
                for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, 0x43);
              })(),
            ),
          },
        ],
        dkim: signer("ed", "relaxed"),
      },
      {},
    );
    const iterator = composed.stream()[Symbol.asyncIterator]();
    await iterator.next(); // spooled, first chunk written: the consumer stops here and never resumes
    assert.equal(spools().filter((n) => !before.has(n)).length, 1);
    composed.release();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(
      spools().filter((n) => !before.has(n)),
      [],
    );
  });

  it("a stream that fails while spooling: the error comes through and the file is removed", async () => {
    const before = new Set(spools());
    const failing = Readable.from(
      (async function* () {
        for (let i = 0; i < 30; i++) yield Buffer.alloc(64 * 1024, 0x42);
        throw new Error("disk went away");
      })(),
    );
    const composed = composeMail({
      ...MAIL,
      attachments: [{ content: failing }],
      dkim: signer("ed", "relaxed"),
    });
    await assert.rejects(collect(composed.stream()), /disk went away/);
    assert.deepEqual(
      spools().filter((n) => !before.has(n)),
      [],
    );
  });

  it("keys: RSA under 1024 bits, a non-key and a public key are EINPUT", () => {
    const small = rsaKey(512);
    const cases: [unknown, RegExp][] = [
      [small.pem, /512 bits/],
      ["not a key", /does not parse/],
    ];
    for (const [privateKey, message] of cases) {
      assert.throws(
        () =>
          composeMail({
            ...MAIL,
            dkim: { domainName: DOMAIN, keySelector: "s", privateKey: privateKey as string },
          }),
        (e: unknown) => e instanceof SMTPError && e.code === "EINPUT" && message.test(e.message),
      );
    }
    const publicKey = createPublicKey(ed.privateKey);
    assert.throws(
      () =>
        composeMail({
          ...MAIL,
          dkim: { domainName: DOMAIN, keySelector: "s", privateKey: publicKey },
        }),
      (e: unknown) =>
        e instanceof SMTPError && e.code === "EINPUT" && /must be a private key/.test(e.message),
    );
    assert.throws(
      () =>
        composeMail({ ...MAIL, dkim: { domainName: "bad domain", keySelector: "s", privateKey: ed.pem } }),
      (e: unknown) => e instanceof SMTPError && e.code === "EINPUT" && /domainName/.test(e.message),
    );
  });
});

// send()/sendRaw() round trips through real servers none of us wrote (Postfix, aiosmtpd and its LMTP server),
// with what was delivered parsed by a real parser (mailparser) and compared exactly.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { type AddressObject, type ParsedMail, simpleParser } from "mailparser";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { type DovecotLmtpServer, startDovecotLmtp } from "../helpers/servers/dovecot-lmtp.js";
import { type PostfixServer, startPostfix } from "../helpers/servers/postfix.js";

const LONG_LINE = "L".repeat(2000);
/** A body that exercises every wire rule: dots, a lone ".", a 2 000-character line, CR/LF mixes, UTF-8. */
const TRICKY_BODY = [
  "Hello,",
  ".starts with a dot",
  ".",
  "..two dots",
  LONG_LINE,
  "mixed\r\nline ends\rhere\nand there",
  "UTF-8: Grüße, 世界, emoji 🎉",
  "",
  "last line without newline",
].join("\n");
/** What the body reads as after delivery: every line end a newline. */
const EXPECTED_TEXT = TRICKY_BODY.replace(/\r\n|\r/g, "\n");

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value.map((v) => `${v.name ? `${v.name} ` : ""}<${v.address}>`));
}

function assertLineLimits(raw: Buffer): void {
  for (const line of raw.toString("binary").split(/\r?\n/)) {
    assert.ok(Buffer.byteLength(line, "binary") <= 998, `line of ${line.length} octets`);
  }
}

async function assertDelivered(raw: Buffer, subject: string): Promise<ParsedMail> {
  assertLineLimits(raw);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.subject, subject);
  assert.equal(parsed.text?.replace(/\n$/, ""), EXPECTED_TEXT);
  assert.deepEqual(addresses(parsed.from), ["Ålice Ångström <alice@example.test>"]);
  assert.deepEqual(addresses(parsed.to), ['Bob, the "Builder" <bob@example.test>']);
  assert.deepEqual(addresses(parsed.cc), ["<carol@example.test>"]);
  assert.equal(parsed.headers.has("bcc"), false);
  assert.ok(parsed.date instanceof Date && !Number.isNaN(parsed.date.getTime()));
  assert.match(parsed.messageId ?? "", /^<.+@.+>$/);
  return parsed;
}

const SUBJECT =
  "Grüße — a subject that is long enough to be folded, with UTF-8 and «quotes» in it, twice: Grüße";

async function sendTricky(smtp: SMTP, bcc: string[]) {
  return smtp.send(
    '"Ålice Ångström" <alice@example.test>',
    ['"Bob, the \\"Builder\\"" <bob@example.test>'],
    ["carol@example.test"],
    bcc,
    SUBJECT,
    TRICKY_BODY,
  );
}

describe("round trip through Postfix (PIPELINING, CHUNKING, SMTPUTF8, 8BITMIME, DSN)", () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({});
  });
  after(() => postfix.stop());

  async function session(entries?: TranscriptEntry[]): Promise<SMTP> {
    const smtp = new SMTP({
      clientName: "client.example",
      logger: entries ? (e) => entries.push(e) : undefined,
    });
    assert.equal(await smtp.connect(await connectTo(postfix.port)), true);
    assert.equal(await smtp.startTLS({ ca: postfix.ca, servername: "localhost" }), true);
    return smtp;
  }

  it("offers what the test needs", async () => {
    const smtp = await session();
    const options = smtp.getServerOptions();
    for (const keyword of ["PIPELINING", "CHUNKING", "SMTPUTF8", "8BITMIME", "DSN"]) {
      assert.ok(options.includes(keyword), `${keyword} in ${options.join(",")}`);
    }
    await smtp.close();
  });

  it("send(): every recipient gets exactly the message; Bcc only in the envelope; one flight (BDAT)", async () => {
    await postfix.clearDelivered();
    const entries: TranscriptEntry[] = [];
    const smtp = await session(entries);
    const result = await sendTricky(smtp, ["dave@example.test"]);
    await smtp.close();
    assert.deepEqual(result.accepted, ["bob@example.test", "carol@example.test", "dave@example.test"]);
    const delivered = await postfix.waitForDelivery(3);
    assert.deepEqual(delivered.map((d) => d.recipient).sort(), [
      "bob@example.test",
      "carol@example.test",
      "dave@example.test",
    ]);
    for (const d of delivered) {
      const parsed = await assertDelivered(d.message, SUBJECT);
      assert.equal(parsed.messageId, result.messageId);
      assert.doesNotMatch(d.message.toString("utf8"), /dave/);
    }
    // MAIL, RCPT x3 and BDAT ... LAST were written before the server's first reply
    const lines = entries.map((e) => `${e.direction} ${e.line}`);
    const mailAt = lines.findIndex((l) => l.startsWith("C MAIL FROM:"));
    assert.ok(
      lines[mailAt + 4]?.startsWith("C BDAT") && lines[mailAt + 4]?.endsWith("LAST"),
      lines.slice(mailAt).join("\n"),
    );
  });

  it("a refused recipient among accepted ones (550) and a temporary one (452)", async () => {
    await postfix.clearDelivered();
    const smtp = await session();
    const result = await smtp.send(
      "a@example.test",
      ["bob@example.test", "reject@example.test", "tempfail@example.test"],
      [],
      [],
      "partial",
      "x",
    );
    assert.deepEqual(result.accepted, ["bob@example.test"]);
    assert.deepEqual(
      result.rejected.map((r) => [r.recipient, r.reply.code]),
      [
        ["reject@example.test", 550],
        ["tempfail@example.test", 452],
      ],
    );
    // every recipient refused: EENVELOPE, and the session stays usable
    await assert.rejects(
      smtp.send("a@example.test", ["reject@example.test"], [], [], "none", "x"),
      (e: unknown) => e instanceof SMTPError && e.code === "EENVELOPE" && e.stage === "RCPT",
    );
    const again = await smtp.send("a@example.test", ["carol@example.test"], [], [], "after refusal", "x");
    assert.deepEqual(again.accepted, ["carol@example.test"]);
    await smtp.close();
    assert.equal((await postfix.waitForDelivery(2)).length, 2);
  });

  it("SMTPUTF8: a non-ASCII address and header go through as UTF-8", async () => {
    await postfix.clearDelivered();
    const smtp = await session();
    await smtp.send("jörg@example.test", ["zoë@example.test"], [], [], "Grüße", "Hallo Zoë");
    await smtp.close();
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d?.recipient, "zoë@example.test");
    assert.equal(d?.returnPath, "jörg@example.test");
    const parsed = await simpleParser(d!.message);
    assert.equal(parsed.subject, "Grüße");
    assert.equal(parsed.text?.trim(), "Hallo Zoë");
  });

  it("DATA path (CHUNKING hidden) with queued sends, and a 5 MiB stream of dot lines", async () => {
    const plain = await startPostfix({ discardEhloKeywords: ["chunking"] });
    try {
      const smtp = new SMTP({ clientName: "client.example" });
      await smtp.connect(await connectTo(plain.port));
      assert.ok(!smtp.getServerOptions().includes("CHUNKING"));
      const sends = [1, 2, 3].map((i) =>
        smtp.send("a@example.test", [`r${i}@example.test`], [], [], `queued ${i}`, `body ${i}\n.\n`),
      );
      const results = await Promise.all(sends);
      assert.deepEqual(
        results.map((r) => r.accepted[0]),
        ["r1@example.test", "r2@example.test", "r3@example.test"],
      );
      const line = ".a line that starts with a dot, and is long enough to matter........................\n";
      const iterations = 1000; // 64 000 lines, about 5.5 MiB
      async function* stream() {
        for (let i = 0; i < iterations; i++) yield Buffer.from(line.repeat(64));
      }
      const big = await smtp.sendRaw("a@example.test", ["big@example.test"], Readable.from(stream()));
      assert.equal(big.accepted.length, 1);
      await smtp.close();
      const delivered = await plain.waitForDelivery(4, 20_000);
      const bodies = await Promise.all(delivered.slice(0, 3).map((d) => simpleParser(d.message)));
      assert.deepEqual(bodies.map((b) => b.text?.trim()).sort(), ["body 1\n.", "body 2\n.", "body 3\n."]);
      const bigOne = delivered.find((d) => d.recipient === "big@example.test")!;
      const text = bigOne.message.toString("utf8");
      const dotLines = text.split("\n").filter((l) => l === line.slice(0, -1));
      assert.equal(dotLines.length, iterations * 64, "every dot line arrives once, unstuffed");
    } finally {
      await plain.stop();
    }
  });
});

describe("round trip through aiosmtpd (SMTP and LMTP)", () => {
  let smtpServer: AiosmtpdServer;
  let lmtpServer: AiosmtpdServer;
  before(async () => {
    [smtpServer, lmtpServer] = await Promise.all([
      startAiosmtpd({ starttls: true, pipelining: true }),
      startAiosmtpd({ lmtp: true }),
    ]);
  });
  after(async () => {
    await smtpServer.stop();
    await lmtpServer.stop();
  });

  it("send() through STARTTLS: exact content, envelope with Bcc, no Bcc header, parameters", async () => {
    const smtp = new SMTP({ clientName: "client.example" });
    await smtp.connect(await connectTo(smtpServer.port));
    await smtp.startTLS({ ca: smtpServer.ca, servername: "localhost" });
    const result = await sendTricky(smtp, ["dave@example.test"]);
    await smtp.close();
    const [message] = await smtpServer.waitForMessages(1);
    assert.equal(message?.mailFrom, "alice@example.test");
    assert.deepEqual(message?.rcptTos, ["bob@example.test", "carol@example.test", "dave@example.test"]);
    assert.ok(
      message?.mailOptions.some((o) => o.startsWith("SIZE=")),
      message?.mailOptions.join(","),
    );
    assert.equal(message?.tls, true);
    const parsed = await assertDelivered(message!.content, SUBJECT);
    assert.equal(parsed.messageId, result.messageId);
  });

  it("LMTP: per-recipient results after the data", async () => {
    const smtp = new SMTP({ clientName: "client.example", lmtp: true });
    await smtp.connect(await connectTo(lmtpServer.port));
    const result = await smtp.send(
      "a@example.test",
      ["ok@example.test", "faildata@example.test", "reject@example.test"],
      [],
      [],
      "lmtp",
      "hi",
    );
    await smtp.close();
    assert.deepEqual(result.accepted, ["ok@example.test"]);
    assert.deepEqual(result.rejected.map((r) => [r.recipient, Math.floor(r.reply.code / 100)]).sort(), [
      ["faildata@example.test", 5],
      ["reject@example.test", 5],
    ]);
    const [message] = await lmtpServer.waitForMessages(1);
    assert.deepEqual(message?.accepted, ["ok@example.test"]);
  });
});

describe("LMTP round trip through Dovecot's LMTP server", () => {
  let lmtp: DovecotLmtpServer;
  before(async () => {
    lmtp = await startDovecotLmtp({ starttls: true });
  });
  after(() => lmtp.stop());

  it("per-recipient replies after the data (BDAT with PIPELINING): delivered, refused at RCPT, refused after data", async () => {
    const smtp = new SMTP({ clientName: "client.example", lmtp: true });
    assert.equal(await smtp.connect(await connectTo(lmtp.port)), true);
    const options = smtp.getServerOptions();
    assert.ok(options.includes("CHUNKING") && options.includes("PIPELINING"), options.join(","));
    const result = await sendTricky(smtp, ["reject@example.test", "faildata@example.test"]);
    await smtp.close();
    assert.deepEqual(result.accepted, ["bob@example.test", "carol@example.test"]);
    assert.deepEqual(result.rejected.map((r) => [r.recipient, r.reply.code]).sort(), [
      ["faildata@example.test", 552],
      ["reject@example.test", 550],
    ]);
    const delivered = await lmtp.waitForDelivery(2);
    for (const d of delivered) await assertDelivered(d.message, SUBJECT);
  });
});

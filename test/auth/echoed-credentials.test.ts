// A server that echoes what the client sent in AUTH (the PLAIN argument, LOGIN's base64 lines, the raw
// password) must not get it into the transcript, lastReply, an SMTPError's message or its reply.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect, SMTP, type TranscriptEntry } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { CA, connectTo, greetAndEhlo, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const USER = "alice@example.com";
const PASSWORD = "correct horse battery staple";

function tlsThen(authLine: string, steps: Step[]): Step[] {
  return [
    ...greetAndEhlo(["STARTTLS"], NAME),
    { expect: "STARTTLS", reply: "220 go\r\n" },
    { tls: "localhost" },
    { expect: `EHLO ${NAME}`, reply: `250-test.example\r\n250 ${authLine}\r\n` },
    ...steps,
  ];
}

/** Everything a user could see: the transcript, lastReply, and the error's message and reply. */
function assertNowhere(secrets: string[], seen: { entries: TranscriptEntry[]; texts: string[] }): void {
  const all = [...seen.entries.map((e) => e.line), ...seen.texts].join("\n");
  for (const secret of secrets) assert.ok(!all.includes(secret), `leaked ${JSON.stringify(secret)}:\n${all}`);
  assert.match(all, /<redacted>/);
}

describe("credentials a server echoes back are redacted", () => {
  it("PLAIN: 535 with the AUTH argument and the password (seed: false, lastReply redacted)", async () => {
    const plain = b64(`\0${USER}\0${PASSWORD}`);
    const server = await start(
      tlsThen("AUTH PLAIN", [
        {
          expect: `AUTH PLAIN ${plain}`,
          reply: `535-5.7.8 bad credentials: ${plain}\r\n535 5.7.8 (you said "${PASSWORD}")\r\n`,
        },
        { expect: "NOOP", reply: `250 still ${plain}\r\n` },
      ]),
    );
    const entries: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
    await smtp.connect(await connectTo(server.port));
    await smtp.startTLS({ ca: CA, servername: "localhost" });
    assert.equal(await smtp.authenticate(USER, PASSWORD, SMTP.AUTH_PLAIN), false);
    const refusal = smtp.lastReply;
    assert.equal(refusal?.code, 535);
    assert.equal(refusal?.enhancedCode, "5.7.8");
    const after = await smtp.noop(); // a later reply that repeats it is redacted too
    await server.done;
    assertNowhere([plain, PASSWORD], {
      entries,
      texts: [refusal?.text ?? "", ...(refusal?.lines ?? []), after.text],
    });
  });

  it("LOGIN through connect(): the EAUTH error names neither the base64 lines nor the password", async () => {
    const server = await start(
      tlsThen("AUTH LOGIN", [
        { expect: "AUTH LOGIN", reply: `334 ${b64("Username:")}\r\n` },
        { expect: b64(USER), reply: `334 ${b64("Password:")}\r\n` },
        {
          expect: b64(PASSWORD),
          reply: `535 5.7.8 user ${b64(USER)} password ${b64(PASSWORD)} raw ${PASSWORD}\r\n`,
        },
        { expect: "QUIT", reply: "221 bye\r\n" },
      ]),
    );
    const entries: TranscriptEntry[] = [];
    const error = await rejectsWith(
      connect({
        host: "127.0.0.1",
        port: server.port,
        tls: { ca: CA, servername: "localhost" },
        clientName: NAME,
        auth: { username: USER, password: PASSWORD, type: SMTP.AUTH_LOGIN },
        logger: (e) => entries.push(e),
      }),
      "EAUTH",
    );
    assert.equal(error.reply?.code, 535);
    assertNowhere([b64(USER), b64(PASSWORD), PASSWORD], {
      entries,
      texts: [error.message, error.reply?.text ?? "", String(error.stack)],
    });
  });

  it("the reply after the exchange is redacted too, even for a short password; 334 challenges are left as sent", async () => {
    // 334 challenges go to the mechanism as sent (the transcript shows only "<challenge redacted>")
    const server = await start(
      tlsThen("AUTH LOGIN", [
        { expect: "AUTH LOGIN", reply: `334 ${b64("pw: ab")}\r\n` },
        { expect: b64(USER), reply: `334 ${b64("Password:")}\r\n` },
        { expect: b64("ab"), reply: "235 ok ab\r\n" },
      ]),
    );
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(await connectTo(server.port));
    await smtp.startTLS({ ca: CA, servername: "localhost" });
    assert.equal(await smtp.authenticate(USER, "ab", SMTP.AUTH_LOGIN), true);
    assert.equal(smtp.lastReply?.text, "ok <redacted>");
    await server.done;
  });

  it("the transcript shows that a 334 challenge came, never its text", async () => {
    const challenge = b64("<1896.697170952@postoffice.example.net>");
    const server = await start(
      tlsThen("AUTH CRAM-MD5", [
        { expect: "AUTH CRAM-MD5", reply: `334 ${challenge}\r\n` },
        { expect: /^[A-Za-z0-9+/=]+$/, reply: "235 ok\r\n" },
      ]),
    );
    const entries: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
    await smtp.connect(await connectTo(server.port));
    await smtp.startTLS({ ca: CA, servername: "localhost" });
    assert.equal(await smtp.authenticate("tim", "tanstaaftanstaaf", SMTP.AUTH_CRAM_MD5), true);
    await server.done;
    const transcript = entries.map((e) => e.line).join("\n");
    assert.ok(!transcript.includes(challenge), transcript);
    assert.match(transcript, /^334 <challenge redacted>$/m);
  });
});

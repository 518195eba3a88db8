// The same scripted server (test/helpers/script-server.ts, exact bytes) in front of nodemailer's own SMTP
// transport and in front of smtpkitTransport: on success both give the same `info`; on the hostile cases
// nodemailer's transport is fooled (password in clear, an unsolicited reply taken as the answer) and ours is not.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import nodemailer from "nodemailer";
import { SMTPError } from "../../src/index.js";
import { smtpkitTransport, type TransportError } from "../../src/nodemailer/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { greetAndEhlo, type ScriptServer, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";
const MESSAGE_ID = "<same-for-both@example.test>";
const PASSWORD = "clear-Text-Secret-42";
const MAIL_OK: Step = { expect: /^MAIL FROM:<alice@example\.test>/, reply: "250 2.1.0 Ok\r\n" };
/** The message of the failure cases: what it says does not matter, only how the send ends. */
const MAIL = { from: "alice@example.test", to: "bob@example.test", subject: "x", text: "x\n" };

type Client = "nodemailer" | "smtpkit";

/** A transporter of either kind, in clear to the scripted server (the scripts offer no STARTTLS). */
function transporter(client: Client, port: number, auth?: { user: string; pass: string }) {
  if (client === "nodemailer")
    return nodemailer.createTransport({ host: "127.0.0.1", port, name: NAME, ignoreTLS: true, auth });
  return nodemailer.createTransport(
    smtpkitTransport({ host: "127.0.0.1", port, name: NAME, security: "none", ignoreTLS: true, auth }),
  );
}

/**
 * How a script ends for each client. Ours: RSET after a refused envelope (when `rset`), then QUIT and the
 * close, exactly. nodemailer's: whatever it does next is not under test, so the script holds there and the
 * test closes the server (`finish`), which ends the script without a mismatch.
 */
function ending(client: Client, rset = false): Step[] {
  if (client === "nodemailer") return [{ hold: "end" }];
  return [
    ...(rset ? [{ expect: "RSET", reply: "250 2.0.0 Ok\r\n" }] : []),
    { expect: "QUIT", reply: "221 2.0.0 bye\r\n" },
    { expectClose: true },
  ];
}

/** After a client's run: nodemailer's script is held at its end, close it; ours must have run to its end. */
async function finish(client: Client, server: ScriptServer): Promise<void> {
  if (client === "nodemailer") await server.close();
  else await server.done;
}

function transaction(client: Client, rcptReplies: [string, string][]): Step[] {
  return [
    ...greetAndEhlo(["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"], NAME),
    { expect: /^MAIL FROM:<alice@example\.test>( BODY=8BITMIME)?$/, reply: "250 2.1.0 Ok\r\n" },
    ...rcptReplies.map(([to, reply]): Step => ({ expect: `RCPT TO:<${to}>`, reply: `${reply}\r\n` })),
    { expect: "DATA", reply: "354 End data with <CR><LF>.<CR><LF>\r\n" },
    { data: true, reply: "250 2.0.0 Ok: queued as 4Fx1Abc\r\n" },
    ...ending(client),
  ];
}

async function sendWith(client: Client, to: string[], replies: [string, string][]) {
  const server = await start(transaction(client, replies));
  const info = await transporter(client, server.port).sendMail({
    from: "Alice <alice@example.test>",
    to,
    subject: "same script",
    text: "Hello.\n",
    messageId: MESSAGE_ID,
  });
  assert.equal(server.messages.length, 1, `${client} sent the message`);
  await finish(client, server);
  return info;
}

/** nodemailer's per-send timings and size, which smtpkit does not report (README: "nodemailer"). */
const NODEMAILER_ONLY = ["envelopeTime", "messageTime", "messageSize"];

function refusalFields(errors: unknown): unknown {
  return (errors as TransportError[] | undefined)?.map((e) => ({
    code: e.code,
    responseCode: e.responseCode,
    response: e.response,
    command: e.command,
    recipient: e.recipient,
  }));
}

describe("nodemailer's SMTP transport and smtpkitTransport against the same script", {
  timeout: 15_000,
}, () => {
  for (const [label, replies] of [
    [
      "every recipient accepted",
      [
        ["bob@example.test", "250 2.1.5 Ok"],
        ["carol@example.test", "250 2.1.5 Ok"],
      ],
    ],
    [
      "one recipient refused",
      [
        ["bob@example.test", "250 2.1.5 Ok"],
        ["carol@example.test", "550 5.1.1 <carol@example.test>: no such user"],
      ],
    ],
  ] as [string, [string, string][]][]) {
    it(`${label}: the same info fields and values (ours adds smtpkit)`, async () => {
      const to = replies.map(([address]) => address);
      const theirs = await sendWith("nodemailer", to, replies);
      const ours = await sendWith("smtpkit", to, replies);
      const { smtpkit, ...rest } = ours;
      assert.equal(smtpkit.reply.code, 250);
      const theirKeys = Object.keys(theirs).filter((k) => !NODEMAILER_ONLY.includes(k));
      assert.deepEqual(Object.keys(rest).sort(), theirKeys.sort());
      for (const key of ["envelope", "messageId", "accepted", "rejected", "response", "ehlo"] as const)
        assert.deepEqual(rest[key], theirs[key], key);
      assert.deepEqual(refusalFields(rest.rejectedErrors), refusalFields(theirs.rejectedErrors));
      assert.equal(ours.messageId, MESSAGE_ID);
    });
  }

  const GREET = greetAndEhlo(["8BITMIME", "ENHANCEDSTATUSCODES"], NAME);
  const RCPT_OK: Step = { expect: "RCPT TO:<bob@example.test>", reply: "250 2.1.5 Ok\r\n" };
  for (const [label, steps, rset] of [
    [
      "every recipient refused",
      [
        ...GREET,
        MAIL_OK,
        { expect: "RCPT TO:<bob@example.test>", reply: "550 5.1.1 <bob@example.test>: no such user\r\n" },
      ],
      true,
    ],
    [
      "the sender refused",
      [...GREET, { expect: /^MAIL FROM:/, reply: "553 5.7.1 sender not allowed\r\n" }],
      true,
    ],
    [
      "DATA refused",
      [...GREET, MAIL_OK, RCPT_OK, { expect: "DATA", reply: "554 5.5.1 no valid recipients\r\n" }],
      true,
    ],
    [
      "the message refused at its end",
      [
        ...GREET,
        MAIL_OK,
        RCPT_OK,
        { expect: "DATA", reply: "354 go\r\n" },
        { data: true, reply: "552 5.3.4 message too big\r\n" },
      ],
      false,
    ],
  ] as [string, Step[], boolean][]) {
    it(`${label}: the same code, responseCode, response and command`, async () => {
      const errors: TransportError[] = [];
      for (const client of ["nodemailer", "smtpkit"] as const) {
        const server = await start([...steps, ...ending(client, rset)]);
        await transporter(client, server.port)
          .sendMail(MAIL)
          .then(
            () => assert.fail(`${client}: expected a rejection`),
            (error: TransportError) => errors.push(error),
          );
        await finish(client, server);
      }
      const [theirs, ours] = errors;
      assert.ok(ours instanceof SMTPError);
      for (const key of ["code", "responseCode", "response", "command"] as const)
        assert.equal(ours[key], theirs![key], key);
      assert.deepEqual(refusalFields(ours.rejectedErrors), refusalFields(theirs!.rejectedErrors));
    });
  }
});

describe("hostile servers: nodemailer's transport is fooled, smtpkitTransport is not", {
  timeout: 15_000,
}, () => {
  it("AUTH offered only in clear: nodemailer sends the password; ours refuses (EAUTH) and sends nothing", async () => {
    const greet = greetAndEhlo(["AUTH PLAIN LOGIN", "8BITMIME"], NAME);
    const auth = { user: "alice@example.test", pass: PASSWORD };
    const inClear = (text: string) =>
      text.includes(Buffer.from(`\0alice@example.test\0${PASSWORD}`).toString("base64")) ||
      text.includes(Buffer.from(PASSWORD).toString("base64"));

    const theirServer = await start([
      ...greet,
      { expect: /^AUTH PLAIN /, reply: "535 5.7.8 Authentication failed\r\n" },
      ...ending("nodemailer"),
    ]);
    const theirs = await transporter("nodemailer", theirServer.port, auth)
      .sendMail(MAIL)
      .then(
        () => undefined,
        (error: TransportError) => error,
      );
    assert.equal(theirs?.code, "EAUTH");
    assert.ok(inClear(theirServer.received()), "nodemailer sent the credentials over the clear channel");
    await finish("nodemailer", theirServer);

    // ours, as nodemailer's default (STARTTLS when offered) would be written: still never AUTH in clear
    const ourServer = await start([...greet, ...ending("smtpkit")]);
    const ours: TransportError = await rejectsWith(
      nodemailer
        .createTransport(
          smtpkitTransport({
            host: "127.0.0.1",
            port: ourServer.port,
            name: NAME,
            security: "starttls-if-offered",
            auth,
          }),
        )
        .sendMail(MAIL),
      "EAUTH",
    );
    assert.equal(ours.command, "AUTH");
    assert.match(ours.message, /refusing to authenticate over a clear channel/);
    assert.doesNotMatch(ourServer.received(), /^AUTH/m);
    assert.equal(inClear(ourServer.received()), false);
    assert.equal(ours.message.includes(PASSWORD), false);
    await finish("smtpkit", ourServer);
  });

  const ENVELOPE: Step[] = [MAIL_OK, { expect: /^RCPT TO:<bob@example\.test>/, reply: "250 2.1.5 Ok\r\n" }];
  // nodemailer goes on (out of step) after the unsolicited reply; ours stops where it arrives
  for (const [label, theirScript, ourScript] of [
    [
      "a 250 sent with the 354, before the message",
      [
        ...greetAndEhlo(["8BITMIME"], NAME),
        ...ENVELOPE,
        { expect: "DATA", reply: "354 go ahead\r\n250 2.0.0 Ok: queued as FAKE\r\n" },
        ...ending("nodemailer"),
      ],
      [
        ...greetAndEhlo(["8BITMIME"], NAME),
        ...ENVELOPE,
        { expect: "DATA", reply: "354 go ahead\r\n250 2.0.0 Ok: queued as FAKE\r\n" },
        { expectClose: true },
      ],
    ],
    [
      "a reply before the client said anything",
      [
        { send: "220 test.example ESMTP\r\n250 2.0.0 unsolicited\r\n" },
        { expect: `EHLO ${NAME}`, reply: "250-test.example\r\n250 8BITMIME\r\n" },
        ...ENVELOPE,
        { expect: "DATA", reply: "354 go ahead\r\n" },
        ...ending("nodemailer"),
      ],
      [{ send: "220 test.example ESMTP\r\n250 2.0.0 unsolicited\r\n" }, { expectClose: true }],
    ],
  ] as [string, Step[], Step[]][]) {
    it(`unsolicited reply (${label}): nodemailer takes it out of step; ours is EPROTOCOL`, async () => {
      const theirServer = await start(theirScript);
      const theirs = await transporter("nodemailer", theirServer.port)
        .sendMail(MAIL)
        .then(
          (info) => ({ code: "OK", response: info.response }),
          (error: TransportError) => ({ code: error.code, response: error.response }),
        );
      // fooled: a "sent" that was never delivered, or an error blaming the wrong reply
      assert.notEqual(theirs.code, "EPROTOCOL", JSON.stringify(theirs));
      await finish("nodemailer", theirServer);

      const ourServer = await start(ourScript);
      await rejectsWith(transporter("smtpkit", ourServer.port).sendMail(MAIL), "EPROTOCOL");
      assert.equal(ourServer.messages.length, 0, "no message content was written");
      await finish("smtpkit", ourServer);
    });
  }
});

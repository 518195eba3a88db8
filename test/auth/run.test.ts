import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMechanism } from "../../src/auth/create.js";
import {
  AUTH_CRAM_MD5,
  AUTH_LOGIN,
  AUTH_OAUTHBEARER,
  AUTH_PLAIN,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_XOAUTH2,
  MechanismError,
  type SASLClient,
} from "../../src/auth/mechanism.js";
import { runSASL } from "../../src/auth/run.js";
import { SMTPError } from "../../src/errors.js";
import type { Reply } from "../../src/types.js";
import { authError, b64, clear, fakeSend, reply } from "../helpers/sasl.js";

/** A mechanism that answers every challenge with "ok" (to test the loop, not a mechanism). */
function echo(initial?: Uint8Array): SASLClient {
  return { name: "X-ECHO", start: () => initial, next: () => Buffer.from("ok") };
}

describe("runSASL", () => {
  it("PLAIN: one AUTH line with the initial response; 235 resolves", async () => {
    const s = fakeSend(reply(235, "Authentication successful"));
    const mech = createMechanism(AUTH_PLAIN, { username: "tim", password: "tanstaaftanstaaf" }, clear);
    const outcome = await runSASL(mech, s.send);
    assert.equal(outcome.reply.code, 235);
    assert.equal(outcome.serverError, undefined);
    assert.deepEqual(s.wire(), ["AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"]);
    assert.deepEqual(
      s.sent.map((c) => c.log),
      ["AUTH PLAIN <redacted>"],
    );
  });

  it("a refusal is returned, not thrown", async () => {
    const s = fakeSend(reply(535, "Authentication credentials invalid"));
    const outcome = await runSASL(
      createMechanism(AUTH_PLAIN, { username: "a", password: "b" }, clear),
      s.send,
    );
    assert.equal(outcome.reply.code, 535);
  });

  it("EINPUT before anything is sent: NUL in PLAIN, \\x01 in XOAUTH2, -PLUS without binding", async () => {
    const cases: [number, string, string][] = [
      [AUTH_PLAIN, "tim", "pass\0word"],
      [AUTH_XOAUTH2, "u\x01", "token"],
      [AUTH_SCRAM_SHA_256_PLUS, "user", "pencil"],
      [AUTH_SCRAM_SHA_256, "user", "pen\u0007cil"],
    ];
    for (const [type, username, password] of cases) {
      const s = fakeSend();
      await assert.rejects(
        runSASL(createMechanism(type, { username, password }, clear), s.send),
        authError("EINPUT"),
      );
      assert.equal(s.sent.length, 0);
    }
  });

  it("no trailing space without an initial response, '=' for an empty one (RFC 4954 §4)", async () => {
    const a = fakeSend(reply(235));
    await runSASL(echo(undefined), a.send);
    assert.deepEqual(a.wire(), ["AUTH X-ECHO\r\n"]);
    const b = fakeSend(reply(235));
    await runSASL(echo(new Uint8Array(0)), b.send);
    assert.deepEqual(b.wire(), ["AUTH X-ECHO =\r\n"]);
  });

  it("an initial response that would make AUTH longer than 512 octets answers the first 334 instead", async () => {
    const token = "t".repeat(600);
    const s = fakeSend(reply(334, ""), reply(235));
    const mech = createMechanism(AUTH_XOAUTH2, { username: "u@example.com", password: token }, clear);
    const outcome = await runSASL(mech, s.send);
    assert.equal(outcome.reply.code, 235);
    assert.equal(outcome.serverError, undefined);
    assert.deepEqual(s.wire(), [
      "AUTH XOAUTH2\r\n",
      `${b64(`user=u@example.com\x01auth=Bearer ${token}\x01\x01`)}\r\n`,
    ]);
    assert.deepEqual(
      s.sent.map((c) => c.log),
      ["AUTH XOAUTH2", "<redacted>"],
    );
    // The limit is on the whole line with CRLF: 510 octets go with AUTH, 514 do not.
    const fits = fakeSend(reply(235));
    await runSASL(echo(new Uint8Array(372)), fits.send);
    assert.equal(fits.wire()[0]?.length, 510);
    const over = fakeSend(reply(334, ""), reply(235));
    await runSASL(echo(new Uint8Array(375)), over.send);
    assert.deepEqual(
      over.wire().map((w) => w.length),
      ["AUTH X-ECHO\r\n".length, 502],
    );
  });

  it("LOGIN with arbitrary prompts, and nothing secret in any log form", async () => {
    const s = fakeSend(reply(334, b64("Who are you?")), reply(334, ""), reply(235, "2.7.0 OK"));
    const mech = createMechanism(AUTH_LOGIN, { username: "alice", password: "wonderland" }, clear);
    await runSASL(mech, s.send);
    assert.deepEqual(s.wire(), ["AUTH LOGIN\r\n", `${b64("alice")}\r\n`, `${b64("wonderland")}\r\n`]);
    assert.deepEqual(
      s.sent.map((c) => c.log),
      ["AUTH LOGIN", "<redacted>", "<redacted>"],
    );
  });

  it("no log form of any mechanism contains the password or its base64", async () => {
    const password = "Tr0ub4dor&3";
    const scripts: Record<number, Reply[]> = {
      [AUTH_PLAIN]: [reply(235)],
      [AUTH_LOGIN]: [reply(334, b64("Username:")), reply(334, b64("Password:")), reply(235)],
      [AUTH_CRAM_MD5]: [reply(334, b64("<1.2@host>")), reply(235)],
      [AUTH_XOAUTH2]: [reply(334, b64('{"status":"400"}')), reply(535)],
      [AUTH_OAUTHBEARER]: [reply(334, b64('{"status":"invalid_token"}')), reply(535)],
      [AUTH_SCRAM_SHA_1]: [
        reply(334, b64("r=abcdef,s=c2FsdA==,i=4096")),
        reply(334, b64("v=AAAA")),
        reply(501),
      ],
    };
    for (const [type, replies] of Object.entries(scripts)) {
      const s = fakeSend(...replies);
      const mech = createMechanism(Number(type), { username: "user", password }, clear, {
        nonce: () => "abc",
      });
      const error = await runSASL(mech, s.send).then(
        () => undefined,
        (e: Error) => e,
      );
      const texts = [...s.sent.map((c) => c.log), error?.message ?? ""];
      for (const t of texts) {
        assert.ok(!t.includes(password) && !t.includes(b64(password)), `${mech.name}: ${t}`);
        assert.ok(!t.includes(b64(`user\x01auth`)) && !/[A-Za-z0-9+/]{12,}/.test(t), `${mech.name}: ${t}`);
      }
    }
  });

  it("cancels with '*' on a challenge that is not base64, and rejects with EAUTH and the 501", async () => {
    for (const bad of ["Username:", "abc", "a b c d", "====", "YQ"]) {
      const s = fakeSend(reply(334, bad), reply(501, "5.7.0 Cancelled"));
      const mech = createMechanism(AUTH_LOGIN, { username: "u", password: "p" }, clear);
      await assert.rejects(runSASL(mech, s.send), (e: unknown) => {
        return authError("EAUTH", /not base64/)(e) && (e as SMTPError).reply?.code === 501;
      });
      assert.deepEqual(s.wire(), ["AUTH LOGIN\r\n", "*\r\n"], bad);
      assert.equal(s.sent[1]?.log, "*");
    }
  });

  it("caps the rounds (default 10, or maxRounds) and cancels with '*'", async () => {
    const many = Array.from({ length: 20 }, () => reply(334, ""));
    const a = fakeSend(...many.slice(0, 11), reply(501));
    await assert.rejects(runSASL(echo(), a.send), authError("EAUTH", /more than 10 challenges/));
    assert.equal(a.sent.length, 12); // AUTH, 10 answers, "*"
    assert.equal(a.sent.at(-1)?.wire, "*\r\n");
    const b = fakeSend(...many.slice(0, 3), reply(501));
    await assert.rejects(runSASL(echo(), b.send, { maxRounds: 2 }), authError("EAUTH", /more than 2/));
    assert.deepEqual(b.wire(), ["AUTH X-ECHO\r\n", "b2s=\r\n", "b2s=\r\n", "*\r\n"]);
  });

  it("a server that does not end the exchange on '*' is EPROTOCOL", async () => {
    const s = fakeSend(reply(334, "not base64!"), reply(334, ""));
    await assert.rejects(runSASL(echo(), s.send), authError("EPROTOCOL"));
  });

  it("an unexpected success code is EPROTOCOL; errors from send propagate unchanged", async () => {
    await assert.rejects(runSASL(echo(), fakeSend(reply(250)).send), authError("EPROTOCOL"));
    const lost = new SMTPError("ECONNECTION", "connection lost");
    await assert.rejects(
      runSASL(echo(), async () => {
        throw lost;
      }),
      (e: unknown) => e === lost,
    );
  });

  it("a multi-line 334 is not a valid challenge", async () => {
    const s = fakeSend(reply(334, "YQ==", "Yg=="), reply(501));
    await assert.rejects(runSASL(echo(), s.send), authError("EAUTH", /not base64/));
  });

  it("a mechanism throwing something unexpected in start() is EAUTH, without its message", async () => {
    const broken: SASLClient = {
      name: "X-BROKEN",
      start: () => {
        throw new TypeError("secret-ish detail");
      },
      next: () => new Uint8Array(0),
    };
    await assert.rejects(runSASL(broken, fakeSend().send), (e: unknown) => {
      return authError("EAUTH")(e) && !(e as Error).message.includes("secret-ish");
    });
    const input: SASLClient = {
      ...broken,
      start: () => {
        throw new MechanismError("input", "bad");
      },
    };
    await assert.rejects(runSASL(input, fakeSend().send), authError("EINPUT"));
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMechanism } from "../../src/auth/create.js";
import {
  AUTH_OAUTHBEARER,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_XOAUTH2,
  MechanismError,
} from "../../src/auth/mechanism.js";
import { runSASL } from "../../src/auth/run.js";
import type { SMTPError } from "../../src/errors.js";
import { authError, b64, clear, fakeSend, reply } from "../helpers/sasl.js";

describe("runSASL with SCRAM and the OAuth mechanisms", () => {
  it("a mechanism failure mid-exchange (forged SCRAM signature) cancels with '*' and rejects EAUTH", async () => {
    const s = fakeSend(
      reply(334, b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")),
      reply(334, b64("v=rmF9pqV8S7suAoZWja4dJRkFsKA=")),
      reply(501, "Cancelled"),
    );
    const mech = createMechanism(AUTH_SCRAM_SHA_1, { username: "user", password: "pencil" }, clear, {
      nonce: () => "fyko+d2lbbFgONRv9qkxdawL",
    });
    await assert.rejects(runSASL(mech, s.send), (e: unknown) => {
      return (
        authError("EAUTH", /signature does not match/)(e) && (e as SMTPError).cause instanceof MechanismError
      );
    });
    assert.equal(s.wire().at(-1), "*\r\n");
  });

  it("SCRAM-SHA-256 with the server-final as 235 additional data (RFC 4954 §4)", async () => {
    const s = fakeSend(
      reply(
        334,
        b64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
      ),
      reply(235, b64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")),
    );
    const mech = createMechanism(AUTH_SCRAM_SHA_256, { username: "user", password: "pencil" }, clear, {
      nonce: () => "rOprNGfwEbeRWgbNEkqO",
    });
    const outcome = await runSASL(mech, s.send);
    assert.equal(outcome.reply.code, 235);
    assert.equal(mech.serverVerified, true);
    assert.deepEqual(s.wire(), [
      `AUTH SCRAM-SHA-256 ${b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")}\r\n`,
      `${b64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")}\r\n`,
    ]);
  });

  it("SCRAM-SHA-1 with the server-final in a 334: an empty line, then 235", async () => {
    const s = fakeSend(
      reply(334, b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")),
      reply(334, b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")),
      reply(235, "Authentication successful"),
    );
    const mech = createMechanism(AUTH_SCRAM_SHA_1, { username: "user", password: "pencil" }, clear, {
      nonce: () => "fyko+d2lbbFgONRv9qkxdawL",
    });
    assert.equal((await runSASL(mech, s.send)).reply.code, 235);
    assert.equal(s.wire().at(-1), "\r\n");
  });

  it("a 235 that skips the SCRAM server-final, or carries a forged one, is EAUTH", async () => {
    const serverFirst = reply(
      334,
      b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"),
    );
    const finals = [
      reply(235, "Authentication successful"),
      reply(235, b64("v=rmF9pqV8S7suAoZWja4dJRkFsKA=")),
    ];
    for (const final of finals) {
      const s = fakeSend(serverFirst, final);
      const mech = createMechanism(AUTH_SCRAM_SHA_1, { username: "user", password: "pencil" }, clear, {
        nonce: () => "fyko+d2lbbFgONRv9qkxdawL",
      });
      await assert.rejects(
        runSASL(mech, s.send),
        (e: unknown) => authError("EAUTH")(e) && (e as SMTPError).reply === final,
      );
      assert.equal(s.sent.length, 2); // nothing to cancel after 235
    }
    const immediate = fakeSend(reply(235));
    const mech = createMechanism(AUTH_SCRAM_SHA_256, { username: "u", password: "p" }, clear);
    await assert.rejects(runSASL(mech, immediate.send), authError("EAUTH", /without proving/));
  });

  it("XOAUTH2: error challenge -> empty line -> refusal, with the JSON in serverError", async () => {
    const json = '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}';
    const s = fakeSend(reply(334, b64(json)), reply(535, "5.7.8 Username and Password not accepted"));
    const mech = createMechanism(AUTH_XOAUTH2, { username: "u@example.com", password: "ya29.token" }, clear);
    const outcome = await runSASL(mech, s.send);
    assert.equal(outcome.reply.code, 535);
    assert.equal(outcome.serverError, json);
    assert.deepEqual(s.wire(), [
      `AUTH XOAUTH2 ${b64("user=u@example.com\x01auth=Bearer ya29.token\x01\x01")}\r\n`,
      "\r\n",
    ]);
  });

  it("OAUTHBEARER: error challenge -> \\x01 -> refusal, with the JSON in serverError", async () => {
    const json = '{"status":"invalid_token"}';
    const s = fakeSend(reply(334, b64(json)), reply(535));
    const mech = createMechanism(AUTH_OAUTHBEARER, { username: "u@example.com", password: "tok" }, clear);
    const outcome = await runSASL(mech, s.send);
    assert.equal(outcome.serverError, json);
    assert.equal(s.wire()[1], "AQ==\r\n");
  });
});

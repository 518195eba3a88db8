// The exit status names the stage that failed (API.md §3, swaks's numbers), whatever the error code.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EXIT, exitCodeFor } from "../../src/cli/exit-codes.js";
import { SMTPError, type SMTPErrorCode, type SMTPStage } from "../../src/errors.js";

const error = (code: SMTPErrorCode, stage?: SMTPStage): SMTPError => new SMTPError(code, "x", { stage });

describe("exitCodeFor", () => {
  const table: [SMTPError, number][] = [
    [error("ECONNECTION", "CONNECT"), EXIT.CONNECT],
    [error("ETLS", "CONNECT"), EXIT.TLS],
    [error("ECONNECTION", "GREETING"), EXIT.GREETING],
    [error("ECONNECTION", "EHLO"), EXIT.HELLO],
    [error("ETLS", "EHLO"), EXIT.HELLO_AFTER_TLS],
    [error("ETLS", "STARTTLS"), EXIT.TLS],
    [error("EAUTH", "AUTH"), EXIT.AUTH],
    [error("EENVELOPE", "MAIL"), EXIT.SENDER],
    [error("EENVELOPE", "RCPT"), EXIT.RECIPIENTS],
    [error("EMESSAGE", "MAIL"), EXIT.DATA], // SIZE over the limit, found before MAIL was written
    [error("EMESSAGE", "DATA"), EXIT.DATA],
    [error("EMESSAGE", "END"), EXIT.END_OF_DATA],
    [error("ECONNECTION", "END"), EXIT.END_OF_DATA],
    [error("EINPUT", "MAIL"), EXIT.USAGE],
  ];
  for (const [e, code] of table) {
    it(`${e.code} at ${e.stage} → ${code}`, () => assert.equal(exitCodeFor(e), code));
  }
  it("anything else is 1", () => assert.equal(exitCodeFor(new Error("bug")), EXIT.OTHER));
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as commands from "../../src/protocol/commands.js";

describe("command formatters", () => {
  it("render exact wire lines", () => {
    assert.equal(commands.ehlo("client.example").wire, "EHLO client.example\r\n");
    assert.equal(commands.helo("[127.0.0.1]").wire, "HELO [127.0.0.1]\r\n");
    assert.equal(commands.lhlo("x.example").wire, "LHLO x.example\r\n");
    assert.equal(
      commands.mailFrom("a@b.example", ["SIZE=10", "BODY=8BITMIME"]).wire,
      "MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME\r\n",
    );
    assert.equal(commands.mailFrom("").wire, "MAIL FROM:<>\r\n");
    assert.equal(
      commands.rcptTo("c@d.example", ["NOTIFY=FAILURE"]).wire,
      "RCPT TO:<c@d.example> NOTIFY=FAILURE\r\n",
    );
    assert.equal(commands.bdat(42, true).wire, "BDAT 42 LAST\r\n");
    assert.equal(commands.bdat(7, false).wire, "BDAT 7\r\n");
    assert.equal(commands.data().wire, "DATA\r\n");
    assert.equal(commands.quit().wire, "QUIT\r\n");
    assert.equal(commands.rset().wire, "RSET\r\n");
    assert.equal(commands.noop().wire, "NOOP\r\n");
    assert.equal(commands.starttls().wire, "STARTTLS\r\n");
  });

  it("redact secrets in the log form by construction", () => {
    const auth = commands.auth("PLAIN", "AGFsaWNlAHNlY3JldA==");
    assert.equal(auth.wire, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert.equal(auth.log, "AUTH PLAIN <redacted>");
    assert.equal(commands.auth("LOGIN").log, "AUTH LOGIN");
    assert.equal(
      commands.auth("LOGIN").wire,
      "AUTH LOGIN\r\n",
      "no trailing space without an initial response",
    );
    assert.equal(commands.auth("EXTERNAL", "").wire, "AUTH EXTERNAL =\r\n");
    const cont = commands.saslResponse("c2VjcmV0");
    assert.equal(cont.wire, "c2VjcmV0\r\n");
    assert.equal(cont.log, "<redacted>");
    assert.equal(commands.saslResponse("*").log, "*");
  });

  it("refuse CR, LF, NUL and other control characters in every argument", () => {
    const bad = ["a\r\nRCPT TO:<x@y>", "a\nb", "a\rb", "a\u0000b", "a\u001bb", "a\u007fb", "a\tb"];
    for (const value of bad) {
      assert.throws(() => commands.ehlo(value), commands.CommandArgumentError);
      assert.throws(() => commands.mailFrom(value), commands.CommandArgumentError);
      assert.throws(() => commands.rcptTo(value), commands.CommandArgumentError);
      assert.throws(() => commands.mailFrom("a@b", [value]), commands.CommandArgumentError);
      assert.throws(() => commands.auth("PLAIN", value), commands.CommandArgumentError);
      assert.throws(() => commands.saslResponse(value), commands.CommandArgumentError);
    }
  });

  it("refuse addresses that would break the path syntax", () => {
    assert.throws(() => commands.mailFrom("a@b> SIZE=1"), commands.CommandArgumentError);
    assert.throws(() => commands.rcptTo("<a@b>"), commands.CommandArgumentError);
    assert.throws(() => commands.rcptTo(""), commands.CommandArgumentError);
    assert.throws(() => commands.mailFrom("a@b", ["A B"]), commands.CommandArgumentError);
    assert.throws(() => commands.bdat(-1, false), commands.CommandArgumentError);
    assert.throws(() => commands.auth("PLAIN X"), commands.CommandArgumentError);
  });
});

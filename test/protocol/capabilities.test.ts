import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCapabilities } from "../../src/protocol/capabilities.js";
import { buildReply } from "../../src/protocol/reply.js";

describe("parseCapabilities", () => {
  it("reads keywords, parameters and the old AUTH= form", () => {
    const options = [
      "PIPELINING",
      "SIZE 10240000",
      "auth plain LOGIN",
      "AUTH=CRAM-MD5",
      "8BITMIME",
      "SMTPUTF8",
      "CHUNKING",
      "DSN",
      "STARTTLS",
      "ENHANCEDSTATUSCODES",
      "REQUIRETLS",
    ];
    const caps = parseCapabilities(buildReply(250, ["mail.example greets you", ...options, ""]));
    assert.deepEqual(caps.lines, options);
    assert.deepEqual([...caps.authMechanisms].sort(), ["CRAM-MD5", "LOGIN", "PLAIN"]);
    assert.equal(caps.maxSize, 10240000);
    for (const flag of [
      "pipelining",
      "chunking",
      "eightBitMime",
      "smtpUtf8",
      "dsn",
      "starttls",
      "requireTls",
      "enhancedStatusCodes",
    ] as const) {
      assert.equal(caps[flag], true, flag);
    }
  });

  it("an empty last line is not an option; SIZE without a number means no fixed limit", () => {
    const caps = parseCapabilities(buildReply(250, ["host", "SIZE", " "]));
    assert.deepEqual(caps.lines, ["SIZE"]);
    assert.equal(caps.maxSize, 0);
    assert.equal(caps.pipelining, false);
    assert.equal(caps.starttls, false);
  });
});

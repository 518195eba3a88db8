// The CLI's second guard on secrets (src/cli/common.ts Transcript): every secret it was given, as given
// and base64-encoded (as AUTH LOGIN and XOAUTH2 put it on the wire), is scrubbed from every line, also
// one added during the session (a fetched access token), and from text scrubbed later (--json errors).
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { Transcript } from "../../src/cli/common.js";

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

describe("Transcript.scrub", () => {
  it("scrubs a secret and its base64 form, from the constructor and from addSecret, in every line", () => {
    const password = "s3cret-Pa55word";
    const token = "ya29.token-fetched-later";
    const echo = new PassThrough();
    const transcript = new Transcript(echo, [password, undefined]);
    transcript.logger({ direction: "S", line: `334 ${b64(password)}` });
    transcript.addSecret(token);
    transcript.logger({ direction: "S", line: `535 bad ${token} ${b64(token)}` });
    assert.deepEqual(transcript.lines, ["S: 334 <redacted>", "S: 535 bad <redacted> <redacted>"]);
    assert.equal(String(echo.read()), "S: 334 <redacted>\nS: 535 bad <redacted> <redacted>\n");
    assert.equal(transcript.scrub(`${password}/${b64(password)}`), "<redacted>/<redacted>");
  });

  it("leaves secrets shorter than 4 characters to the library (they would scrub ordinary text)", () => {
    const transcript = new Transcript(undefined, ["abc"]);
    assert.equal(transcript.scrub("abc YWJj"), "abc YWJj");
  });
});

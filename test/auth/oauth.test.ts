import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MechanismError } from "../../src/auth/mechanism.js";
import { OAuthBearerClient } from "../../src/auth/oauthbearer.js";
import { XOAuth2Client } from "../../src/auth/xoauth2.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const isKind = (kind: "input" | "server") => (error: unknown) =>
  error instanceof MechanismError && error.kind === kind;
const errorJson = '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}';

describe("XOAUTH2", () => {
  it("builds user=U\\x01auth=Bearer TOKEN\\x01\\x01 (Google's documented example)", () => {
    const x = new XOAuth2Client({
      username: "someuser@example.com",
      password: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
    });
    assert.equal(x.name, "XOAUTH2");
    const initial = x.start();
    assert.equal(
      text(initial),
      "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
    );
    assert.equal(
      Buffer.from(initial).toString("base64"),
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
    );
    assert.equal(x.serverError, undefined);
  });

  it("\\x01 in the user or the token is an input error", () => {
    assert.throws(() => new XOAuth2Client({ username: "a\x01b", password: "t" }).start(), isKind("input"));
    assert.throws(
      () => new XOAuth2Client({ username: "a", password: "t\x01auth=x" }).start(),
      isKind("input"),
    );
  });

  it("answers the error challenge with an empty response and keeps the JSON", () => {
    const x = new XOAuth2Client({ username: "u@example.com", password: "token" });
    x.start();
    const response = x.next(Buffer.from(errorJson));
    assert.equal(response.length, 0);
    assert.equal(x.serverError, errorJson);
    assert.throws(() => x.next(Buffer.from("{}")), isKind("server"));
  });
});

describe("OAUTHBEARER (RFC 7628)", () => {
  it("builds n,a=user,\\x01auth=Bearer TOKEN\\x01\\x01", () => {
    const o = new OAuthBearerClient({
      username: "user@example.com",
      password: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
    });
    assert.equal(o.name, "OAUTHBEARER");
    assert.equal(
      text(o.start()),
      "n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
    );
  });

  it("escapes , and = in the authzid (RFC 5801 §4) and omits a= for an empty user", () => {
    assert.equal(
      text(new OAuthBearerClient({ username: "a,b=c", password: "t" }).start()),
      "n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01",
    );
    assert.equal(
      text(new OAuthBearerClient({ username: "=2C", password: "t" }).start()).split(",")[1],
      "a==3D2C",
    );
    assert.equal(
      text(new OAuthBearerClient({ username: "", password: "t" }).start()),
      "n,,\x01auth=Bearer t\x01\x01",
    );
  });

  it("\\x01 in the user or token, or NUL in the user, is an input error", () => {
    assert.throws(() => new OAuthBearerClient({ username: "a\x01", password: "t" }).start(), isKind("input"));
    assert.throws(() => new OAuthBearerClient({ username: "a\0", password: "t" }).start(), isKind("input"));
    assert.throws(() => new OAuthBearerClient({ username: "a", password: "t\x01" }).start(), isKind("input"));
  });

  it("answers the error challenge with a single \\x01 (RFC 7628 §3.2.3) and keeps the JSON", () => {
    const o = new OAuthBearerClient({ username: "u@example.com", password: "token" });
    o.start();
    assert.deepEqual([...o.next(Buffer.from(errorJson))], [0x01]);
    assert.equal(o.serverError, errorJson);
    assert.throws(() => o.next(Buffer.from("{}")), isKind("server"));
  });
});

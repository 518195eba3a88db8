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
  type ChannelInfo,
} from "../../src/auth/mechanism.js";

const clear: ChannelInfo = { secure: false };

describe("createMechanism", () => {
  it("maps every AUTH_* constant to its mechanism name", () => {
    const credentials = { username: "u", password: "p" };
    const names = [
      [AUTH_PLAIN, "PLAIN"],
      [AUTH_LOGIN, "LOGIN"],
      [AUTH_CRAM_MD5, "CRAM-MD5"],
      [AUTH_XOAUTH2, "XOAUTH2"],
      [AUTH_OAUTHBEARER, "OAUTHBEARER"],
      [AUTH_SCRAM_SHA_1, "SCRAM-SHA-1"],
      [AUTH_SCRAM_SHA_256, "SCRAM-SHA-256"],
      [AUTH_SCRAM_SHA_256_PLUS, "SCRAM-SHA-256-PLUS"],
    ] as const;
    for (const [type, name] of names) assert.equal(createMechanism(type, credentials, clear).name, name);
  });

  it("AUTH_DEFAULT and unknown numbers are a RangeError", () => {
    assert.throws(() => createMechanism(0, { username: "u", password: "p" }, clear), RangeError);
    assert.throws(() => createMechanism(99, { username: "u", password: "p" }, clear), RangeError);
  });

  it("passes the nonce option to SCRAM and the channel binding to -PLUS", () => {
    const channel: ChannelInfo = {
      secure: true,
      channelBinding: { type: "tls-exporter", data: Buffer.from([9]) },
    };
    const mech = createMechanism(AUTH_SCRAM_SHA_256_PLUS, { username: "user", password: "p" }, channel, {
      nonce: () => "n0nce",
    });
    assert.equal(Buffer.from(mech.start() ?? new Uint8Array(0)).toString(), "p=tls-exporter,,n=user,r=n0nce");
  });
});

import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { describe, it } from "node:test";
import { type ChannelInfo, MechanismError } from "../../src/auth/mechanism.js";
import { ScramClient, type ScramHash } from "../../src/auth/scram.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const bytes = (s: string): Uint8Array => Buffer.from(s, "utf8");
const isKind = (kind: "input" | "server") => (error: unknown) =>
  error instanceof MechanismError && error.kind === kind;
const clear: ChannelInfo = { secure: false };

function client(
  hash: ScramHash,
  nonce: string,
  extra: Partial<ConstructorParameters<typeof ScramClient>[0]> = {},
) {
  return new ScramClient({
    hash,
    credentials: { username: "user", password: "pencil" },
    channel: clear,
    nonce: () => nonce,
    ...extra,
  });
}

/** A minimal SCRAM server written from RFC 5802 §3, to check proofs the RFC vectors do not cover. */
function serverFinalFor(hash: ScramHash, password: string, authMessage: string, salt: Buffer, i: number) {
  const salted = pbkdf2Sync(password, salt, i, hash === "sha1" ? 20 : 32, hash);
  const hmac = (key: Buffer, data: string) => createHmac(hash, key).update(data).digest();
  const clientKey = hmac(salted, "Client Key");
  const signature = hmac(createHash(hash).update(clientKey).digest(), authMessage);
  const proof = Buffer.from(clientKey.map((b, k) => b ^ (signature[k] ?? 0)));
  return {
    proof: proof.toString("base64"),
    v: hmac(hmac(salted, "Server Key"), authMessage).toString("base64"),
  };
}

// RFC 5802 §5 and RFC 7677 §3 exchanges (user "user", password "pencil").
const SHA1 = {
  nonce: "fyko+d2lbbFgONRv9qkxdawL",
  clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
  serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};
const SHA256 = {
  nonce: "rOprNGfwEbeRWgbNEkqO",
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

describe("SCRAM (RFC 5802, RFC 7677)", () => {
  it("RFC 5802 §5 SCRAM-SHA-1 exchange, byte for byte, server-final in a 334", () => {
    const c = client("sha1", SHA1.nonce);
    assert.equal(c.name, "SCRAM-SHA-1");
    assert.equal(text(c.start()), SHA1.clientFirst);
    assert.equal(text(c.next(bytes(SHA1.serverFirst))), SHA1.clientFinal);
    assert.equal(c.serverVerified, false);
    assert.equal(c.next(bytes(SHA1.serverFinal)).length, 0);
    assert.equal(c.serverVerified, true);
    c.finish(undefined); // 235 without data after a verified 334: nothing left to check
    assert.equal(c.serverVerified, true);
    assert.throws(() => c.next(bytes("r=more")), isKind("server"));
  });

  it("RFC 7677 §3 SCRAM-SHA-256 exchange, byte for byte, server-final with the 235", () => {
    const c = client("sha256", SHA256.nonce);
    assert.equal(c.name, "SCRAM-SHA-256");
    assert.equal(text(c.start()), SHA256.clientFirst);
    assert.equal(text(c.next(bytes(SHA256.serverFirst))), SHA256.clientFinal);
    c.finish(undefined);
    assert.equal(c.serverVerified, false);
    c.finish(bytes(SHA256.serverFinal));
    assert.equal(c.serverVerified, true);
  });

  it("a forged server signature throws and leaves serverVerified false", () => {
    for (const forged of ["v=rmF9pqV8S7suAoZWja4dJRkFsKA=", "v=AAAA", "v=", "v=not base64!"]) {
      const c = client("sha1", SHA1.nonce);
      c.start();
      c.next(bytes(SHA1.serverFirst));
      assert.throws(() => c.next(bytes(forged)), isKind("server"), forged);
      assert.equal(c.serverVerified, false);
    }
    const c = client("sha256", SHA256.nonce);
    c.start();
    c.next(bytes(SHA256.serverFirst));
    assert.throws(() => c.finish(bytes(SHA1.serverFinal)), /signature does not match/);
    assert.equal(c.serverVerified, false);
  });

  it("a server nonce that does not extend ours, or only repeats it, throws", () => {
    const cases = [
      "r=XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
      "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
      "r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    ];
    for (const serverFirst of cases) {
      const c = client("sha1", SHA1.nonce);
      c.start();
      assert.throws(() => c.next(bytes(serverFirst)), /nonce/, serverFirst);
    }
  });

  it("e= in the server-final (or the server-first) throws with the server's error name", () => {
    const c = client("sha1", SHA1.nonce);
    c.start();
    c.next(bytes(SHA1.serverFirst));
    assert.throws(
      () => c.next(bytes("e=invalid-proof")),
      (e: Error) => isKind("server")(e) && /invalid-proof/.test(e.message),
    );
    const d = client("sha1", SHA1.nonce);
    d.start();
    assert.throws(() => d.next(bytes("e=unknown-user")), /unknown-user/);
  });

  it("rejects a bad server-first: m=, missing or misordered attributes, bad salt, bad iteration counts", () => {
    const nonce = "r=fyko+d2lbbFgONRv9qkxdawL3rfc";
    const cases = [
      `m=ext,${nonce},s=QSXCR+Q6sek8bf92,i=4096`,
      `${nonce},i=4096`,
      `s=QSXCR+Q6sek8bf92,${nonce},i=4096`,
      `${nonce},s=,i=4096`,
      `${nonce},s=*notbase64*,i=4096`,
      `${nonce},s=QSXCR+Q6sek8bf92,i=0`,
      `${nonce},s=QSXCR+Q6sek8bf92,i=-1`,
      `${nonce},s=QSXCR+Q6sek8bf92,i=4096x`,
      `${nonce},s=QSXCR+Q6sek8bf92,i=1000001`,
      `${nonce},s=QSXCR+Q6sek8bf92,i=99999999999999999999`,
      "garbage",
    ];
    for (const serverFirst of cases) {
      const c = client("sha1", SHA1.nonce);
      c.start();
      assert.throws(() => c.next(bytes(serverFirst)), isKind("server"), serverFirst);
    }
    const capped = client("sha1", SHA1.nonce, { maxIterations: 4095 });
    capped.start();
    assert.throws(() => capped.next(bytes(SHA1.serverFirst)), /exceeds the limit/);
  });

  it("accepts extensions after i= and ignores them (RFC 5802 §7)", () => {
    const c = client("sha1", SHA1.nonce);
    c.start();
    const response = text(c.next(bytes(`${SHA1.serverFirst},x=future`)));
    assert.match(response, /^c=biws,r=fyko\+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=/);
  });

  it("escapes , and = in the username and applies SASLprep to username and password", () => {
    const c = new ScramClient({
      hash: "sha256",
      credentials: { username: "a,b=c\u00ad", password: "\u2168" },
      channel: clear,
      nonce: () => "abc",
    });
    assert.equal(text(c.start()), "n,,n=a=2Cb=3Dc,r=abc");
    const salt = Buffer.from("salt");
    const serverFirst = `r=abcdef,s=${salt.toString("base64")},i=4096`;
    const final = text(c.next(bytes(serverFirst)));
    const withoutProof = "c=biws,r=abcdef";
    const expected = serverFinalFor(
      "sha256",
      "IX",
      `n=a=2Cb=3Dc,r=abc,${serverFirst},${withoutProof}`,
      salt,
      4096,
    );
    assert.equal(final, `${withoutProof},p=${expected.proof}`);
    c.finish(bytes(`v=${expected.v}`));
    assert.equal(c.serverVerified, true);
  });

  it("credentials SASLprep refuses, an empty prepared username, or a bad injected nonce are input errors", () => {
    const make = (username: string, password: string, nonce = "abc") =>
      new ScramClient({
        hash: "sha1",
        credentials: { username, password },
        channel: clear,
        nonce: () => nonce,
      });
    assert.throws(() => make("user", "pen\u0007cil").start(), isKind("input"));
    assert.throws(() => make("\u00ad", "pencil").start(), isKind("input"));
    assert.throws(() => make("user", "").start(), isKind("input"));
    assert.throws(() => make("user", "pencil", "a,b").start(), isKind("input"));
    assert.throws(() => make("user", "pencil", "").start(), isKind("input"));
    assert.throws(
      () => make("user", "pen\u0007cil").start(),
      (e: Error) => !e.message.includes("pen"),
    );
  });

  it("the default nonce is random, printable and differs between exchanges", () => {
    const a = text(
      new ScramClient({
        hash: "sha1",
        credentials: { username: "u", password: "p" },
        channel: clear,
      }).start(),
    );
    const b = text(
      new ScramClient({
        hash: "sha1",
        credentials: { username: "u", password: "p" },
        channel: clear,
      }).start(),
    );
    assert.match(a, /^n,,n=u,r=[\x21-\x2b\x2d-\x7e]{24,}$/);
    assert.notEqual(a, b);
  });

  it("SCRAM-SHA-256-PLUS: gs2 header p=tls-exporter and c= is base64(gs2header + cbdata)", () => {
    const cbdata = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
    const channel: ChannelInfo = { secure: true, channelBinding: { type: "tls-exporter", data: cbdata } };
    const c = client("sha256", "nonce", { plus: true, channel });
    assert.equal(c.name, "SCRAM-SHA-256-PLUS");
    assert.equal(text(c.start()), "p=tls-exporter,,n=user,r=nonce");
    const salt = Buffer.from("pepper");
    const serverFirst = `r=nonceSERVER,s=${salt.toString("base64")},i=4096`;
    const final = text(c.next(bytes(serverFirst)));
    const cbind = Buffer.concat([Buffer.from("p=tls-exporter,,"), cbdata]).toString("base64");
    const withoutProof = `c=${cbind},r=nonceSERVER`;
    const expected = serverFinalFor(
      "sha256",
      "pencil",
      `n=user,r=nonce,${serverFirst},${withoutProof}`,
      salt,
      4096,
    );
    assert.equal(final, `${withoutProof},p=${expected.proof}`);
    assert.equal(c.next(bytes(`v=${expected.v}`)).length, 0);
    assert.equal(c.serverVerified, true);
  });

  it("SCRAM-SHA-256-PLUS with tls-server-end-point, and without binding data (input error)", () => {
    const channel: ChannelInfo = {
      secure: true,
      channelBinding: { type: "tls-server-end-point", data: Buffer.from([1, 2, 3]) },
    };
    assert.equal(
      text(client("sha256", "n1", { plus: true, channel }).start()),
      "p=tls-server-end-point,,n=user,r=n1",
    );
    assert.throws(
      () => client("sha256", "n1", { plus: true, channel: { secure: true } }).start(),
      isKind("input"),
    );
    // Without -PLUS, binding data on the channel is not used: "n,," and c=biws.
    const plain = client("sha1", SHA1.nonce, { channel });
    assert.equal(text(plain.start()), SHA1.clientFirst);
    assert.equal(text(plain.next(bytes(SHA1.serverFirst))), SHA1.clientFinal);
  });

  it("invalid UTF-8 from the server is a server error", () => {
    const c = client("sha1", SHA1.nonce);
    c.start();
    assert.throws(() => c.next(Uint8Array.of(0xff, 0xfe)), isKind("server"));
  });
});

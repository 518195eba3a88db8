import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { CramMD5Client } from "../../src/auth/cram-md5.js";
import { LoginClient } from "../../src/auth/login.js";
import { MechanismError } from "../../src/auth/mechanism.js";
import { PlainClient } from "../../src/auth/plain.js";

const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString("utf8");
const b64 = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString("base64");
const isKind = (kind: "input" | "server") => (error: unknown) =>
  error instanceof MechanismError && error.kind === kind;

describe("PLAIN (RFC 4616)", () => {
  it("RFC 4616 §4 example: \\0tim\\0tanstaaftanstaaf", () => {
    const plain = new PlainClient({ username: "tim", password: "tanstaaftanstaaf" });
    assert.equal(plain.name, "PLAIN");
    const initial = plain.start();
    assert.equal(text(initial), "\0tim\0tanstaaftanstaaf");
    assert.equal(b64(initial), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  });

  it("encodes UTF-8", () => {
    const plain = new PlainClient({ username: "jösé", password: "пароль" });
    assert.deepEqual(Buffer.from(plain.start()), Buffer.from("\0jösé\0пароль", "utf8"));
  });

  it("NUL in the username or password is an input error", () => {
    assert.throws(() => new PlainClient({ username: "a\0b", password: "p" }).start(), isKind("input"));
    assert.throws(() => new PlainClient({ username: "a", password: "p\0q" }).start(), isKind("input"));
  });

  it("a challenge is a server error", () => {
    const plain = new PlainClient({ username: "tim", password: "x" });
    plain.start();
    assert.throws(() => plain.next(new Uint8Array(0)), isKind("server"));
  });

  it("does not show the password when inspected", () => {
    const plain = new PlainClient({ username: "tim", password: "tanstaaftanstaaf" });
    assert.ok(!inspect(plain, { showHidden: true, depth: 5 }).includes("tanstaaf"));
    assert.ok(!JSON.stringify(plain).includes("tanstaaf"));
  });
});

describe("LOGIN", () => {
  const prompts: [string, string, string][] = [
    ["the usual base64 prompts", "Username:", "Password:"],
    ["localised prompts", "Benutzername:", "Passwort:"],
    ["empty prompts", "", ""],
    ["prompts in the wrong order", "Password:", "Username:"],
    ["lower-case odd prompts", "user name", "pass"],
  ];
  for (const [name, first, second] of prompts) {
    it(`answers username then password regardless of the prompt (${name})`, () => {
      const login = new LoginClient({ username: "alice", password: "wonderland" });
      assert.equal(login.start(), undefined);
      assert.equal(text(login.next(Buffer.from(first))), "alice");
      assert.equal(text(login.next(Buffer.from(second))), "wonderland");
    });
  }

  it("a third challenge is a server error", () => {
    const login = new LoginClient({ username: "alice", password: "wonderland" });
    login.next(Buffer.from("Username:"));
    login.next(Buffer.from("Password:"));
    assert.throws(() => login.next(Buffer.from("Again:")), isKind("server"));
  });
});

describe("CRAM-MD5 (RFC 2195)", () => {
  it("RFC 2195 §2 example", () => {
    const cram = new CramMD5Client({ username: "tim", password: "tanstaaftanstaaf" });
    assert.equal(cram.start(), undefined);
    const challenge = Buffer.from("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", "base64");
    assert.equal(challenge.toString(), "<1896.697170952@postoffice.reston.mci.net>");
    const response = cram.next(challenge);
    assert.equal(text(response), "tim b913a602c7eda7a495b4e6e7334d3890");
    assert.equal(b64(response), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  });

  it("a second challenge or an empty one is a server error", () => {
    const cram = new CramMD5Client({ username: "tim", password: "tanstaaftanstaaf" });
    assert.throws(() => cram.next(new Uint8Array(0)), isKind("server"));
    cram.next(Buffer.from("<1.2@host>"));
    assert.throws(() => cram.next(Buffer.from("<3.4@host>")), isKind("server"));
  });
});

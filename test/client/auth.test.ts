import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { CA, connectTo, greetAndEhlo, type Step, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();

const NAME = "client.example";
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** A session that is TLS'd through STARTTLS and then offers `authLine`. */
async function secureSession(authLine: string, steps: Step[], entries: TranscriptEntry[] = []) {
  const server = await start([
    ...greetAndEhlo(["STARTTLS"], NAME),
    { expect: "STARTTLS", reply: "220 go\r\n" },
    { tls: "localhost" },
    { expect: `EHLO ${NAME}`, reply: `250-test.example\r\n250 ${authLine}\r\n` },
    ...steps,
  ]);
  const smtp = new SMTP({ clientName: NAME, logger: (e) => entries.push(e) });
  assert.equal(await smtp.connect(await connectTo(server.port)), true);
  assert.equal(await smtp.startTLS({ ca: CA, servername: "localhost" }), true);
  return { smtp, server };
}

function assertNoSecret(entries: TranscriptEntry[], secrets: string[]): void {
  const transcript = entries.map((e) => e.line).join("\n");
  for (const secret of secrets) {
    assert.ok(!transcript.includes(secret), `transcript leaks ${secret}`);
  }
}

describe("authenticate() against a scripted server", () => {
  it("getAuthTypes: offered and implemented, strongest first; AUTH= form too; PLUS only on TLS", async () => {
    const { smtp } = await secureSession("AUTH LOGIN PLAIN CRAM-MD5 SCRAM-SHA-256-PLUS XOAUTH2 GSSAPI", []);
    assert.deepEqual(smtp.getAuthTypes(), [
      SMTP.AUTH_SCRAM_SHA_256_PLUS,
      SMTP.AUTH_CRAM_MD5,
      SMTP.AUTH_PLAIN,
      SMTP.AUTH_LOGIN,
      SMTP.AUTH_XOAUTH2,
    ]);
    const server = await start([
      ...greetAndEhlo(["AUTH=LOGIN", "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-1"], NAME),
    ]);
    const clear = new SMTP({ clientName: NAME });
    await clear.connect(await connectTo(server.port));
    assert.deepEqual(clear.getAuthTypes(), [SMTP.AUTH_SCRAM_SHA_1, SMTP.AUTH_LOGIN]);
  });

  it("PLAIN with AUTH_DEFAULT when it is the strongest offered; secrets redacted", async () => {
    const entries: TranscriptEntry[] = [];
    const { smtp, server } = await secureSession(
      "AUTH PLAIN LOGIN",
      [{ expect: `AUTH PLAIN ${b64("\0alice\0s3cret pässword")}`, reply: "235 2.7.0 ok\r\n" }],
      entries,
    );
    assert.equal(await smtp.authenticate("alice", "s3cret pässword"), true);
    await server.done;
    assertNoSecret(entries, ["s3cret", b64("\0alice\0s3cret pässword")]);
    assert.ok(entries.some((e) => e.line === "AUTH PLAIN <redacted>"));
  });

  it("LOGIN answers whatever the prompts say", async () => {
    const entries: TranscriptEntry[] = [];
    const { smtp, server } = await secureSession(
      "AUTH LOGIN",
      [
        { expect: "AUTH LOGIN", reply: `334 ${b64("Who are you?")}\r\n` },
        { expect: b64("bob"), reply: `334 ${b64("And the magic word?")}\r\n` },
        { expect: b64("hunter2"), reply: "235 ok\r\n" },
      ],
      entries,
    );
    assert.equal(await smtp.authenticate("bob", "hunter2", SMTP.AUTH_LOGIN), true);
    await server.done;
    assertNoSecret(entries, ["hunter2", b64("hunter2"), b64("bob")]);
  });

  it("a wrong password is false, never an exception; lastReply says why", async () => {
    const { smtp, server } = await secureSession("AUTH PLAIN", [
      { expect: /^AUTH PLAIN /, reply: "535 5.7.8 authentication credentials invalid\r\n" },
      { expect: "NOOP", reply: "250 ok\r\n" },
    ]);
    assert.equal(await smtp.authenticate("alice", "wrong"), false);
    assert.equal(smtp.lastReply?.code, 535);
    assert.equal(smtp.lastReply?.enhancedCode, "5.7.8");
    await smtp.noop();
    await server.done;
  });

  it("CRAM-MD5 (RFC 2195 example)", async () => {
    const challenge = "<1896.697170952@postoffice.reston.mci.net>";
    const { smtp, server } = await secureSession("AUTH CRAM-MD5", [
      { expect: "AUTH CRAM-MD5", reply: `334 ${b64(challenge)}\r\n` },
      { expect: b64("tim b913a602c7eda7a495b4e6e7334d3890"), reply: "235 ok\r\n" },
    ]);
    assert.equal(await smtp.authenticate("tim", "tanstaaftanstaaf", SMTP.AUTH_CRAM_MD5), true);
    await server.done;
  });

  it("XOAUTH2: an error challenge is answered with an empty line; false with the server's reply", async () => {
    const entries: TranscriptEntry[] = [];
    const token = "ya29.secret-token";
    const { smtp, server } = await secureSession(
      "AUTH XOAUTH2",
      [
        {
          expect: `AUTH XOAUTH2 ${b64(`user=u@example.com\x01auth=Bearer ${token}\x01\x01`)}`,
          reply: `334 ${b64('{"status":"401"}')}\r\n`,
        },
        { expect: "", reply: "535 5.7.8 bad token\r\n" },
      ],
      entries,
    );
    assert.equal(await smtp.authenticate("u@example.com", token, SMTP.AUTH_XOAUTH2), false);
    await server.done;
    assertNoSecret(entries, [token]);
  });

  for (const forged of [false, true]) {
    it(`SCRAM-SHA-256 through the 334 loop${forged ? ": a forged server signature is EAUTH, not success" : ""}`, async () => {
      const scram = scramServer("sha256", "user", "pencil", forged);
      const { smtp, server } = await secureSession("AUTH SCRAM-SHA-256", [
        { respond: (line) => scram.first(line) },
        { respond: (line) => scram.final(line) },
        ...(forged
          ? [{ expect: "*", reply: "501 cancelled\r\n" }]
          : [{ expect: "", reply: "235 2.7.0 ok\r\n" }]),
      ]);
      if (forged) {
        await assert.rejects(
          smtp.authenticate("user", "pencil", SMTP.AUTH_SCRAM_SHA_256),
          (e: unknown) => e instanceof SMTPError && e.code === "EAUTH",
        );
      } else {
        assert.equal(await smtp.authenticate("user", "pencil", SMTP.AUTH_SCRAM_SHA_256), true);
      }
      await server.done;
    });
  }

  it("a type the server does not offer: EAUTH, nothing written", async () => {
    const { smtp, server } = await secureSession("AUTH PLAIN", [{ expect: "NOOP", reply: "250 ok\r\n" }]);
    await assert.rejects(
      smtp.authenticate("a", "b", SMTP.AUTH_CRAM_MD5),
      (e: unknown) => e instanceof SMTPError && e.code === "EAUTH",
    );
    await smtp.noop();
    await server.done;
    assert.doesNotMatch(server.received(), /AUTH/);
  });

  it("a clear channel without allowInsecureAuth: EAUTH before anything is sent", async () => {
    const server = await start([
      ...greetAndEhlo(["AUTH PLAIN LOGIN"], NAME),
      { expect: "NOOP", reply: "250 ok\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME });
    await smtp.connect(await connectTo(server.port));
    await assert.rejects(
      smtp.authenticate("a", "secret"),
      (e: unknown) => e instanceof SMTPError && e.code === "EAUTH" && /clear channel/.test(e.message),
    );
    await smtp.noop();
    await server.done;
    assert.doesNotMatch(server.received(), /AUTH/);
  });

  it("allowInsecureAuth lets the caller authenticate in clear", async () => {
    const server = await start([
      ...greetAndEhlo(["AUTH PLAIN"], NAME),
      { expect: `AUTH PLAIN ${b64("\0a\0b")}`, reply: "235 ok\r\n" },
    ]);
    const smtp = new SMTP({ clientName: NAME, allowInsecureAuth: true });
    await smtp.connect(await connectTo(server.port));
    assert.equal(await smtp.authenticate("a", "b"), true);
    await server.done;
  });

  it("NUL in a PLAIN credential is EINPUT before anything is sent", async () => {
    const { smtp, server } = await secureSession("AUTH PLAIN", [{ expect: "NOOP", reply: "250 ok\r\n" }]);
    await assert.rejects(
      smtp.authenticate("a\0b", "x", SMTP.AUTH_PLAIN),
      (e: unknown) => e instanceof SMTPError && e.code === "EINPUT",
    );
    await smtp.noop();
    await server.done;
  });

  it("endless 334 challenges: cancelled with * after the cap, EAUTH", async () => {
    const steps: Step[] = [{ expect: "AUTH LOGIN", reply: `334 ${b64("u?")}\r\n` }];
    steps.push({ expect: b64("u"), reply: `334 ${b64("p?")}\r\n` });
    steps.push({ expect: b64("p"), reply: `334 ${b64("again?")}\r\n` });
    steps.push({ expect: "*", reply: "501 5.7.0 cancelled\r\n" });
    const { smtp, server } = await secureSession("AUTH LOGIN", steps);
    await assert.rejects(
      smtp.authenticate("u", "p", SMTP.AUTH_LOGIN),
      (e: unknown) => e instanceof SMTPError && e.code === "EAUTH",
    );
    await server.done;
  });

  it("the whole SASL exchange is bounded by the command deadline", async () => {
    const server = await start([
      ...greetAndEhlo(["AUTH LOGIN"], NAME),
      { expect: "AUTH LOGIN", reply: `334 ${b64("u?")}\r\n` },
      { expect: b64("u") },
      { trickle: `334 ${b64("p?")}\r\n`, intervalMs: 100 },
    ]);
    const smtp = new SMTP({ clientName: NAME, allowInsecureAuth: true, timeouts: { command: 400 } });
    await smtp.connect(await connectTo(server.port));
    const started = Date.now();
    await assert.rejects(
      smtp.authenticate("u", "p", SMTP.AUTH_LOGIN),
      (e: unknown) => e instanceof SMTPError && e.code === "ETIMEDOUT",
    );
    assert.ok(Date.now() - started < 1500);
  });
});

/** A minimal SCRAM server (RFC 5802 §3) written from the RFC, for driving the client through real maths. */
function scramServer(hash: "sha256" | "sha1", user: string, password: string, forge: boolean) {
  const salt = randomBytes(16);
  const iterations = 4096;
  let clientFirstBare = "";
  let serverFirst = "";
  const hmac = (key: Buffer, data: string): Buffer => createHmac(hash, key).update(data).digest();
  const saltedPassword = pbkdf2Sync(password, salt, iterations, hash === "sha256" ? 32 : 20, hash);
  return {
    first(line: string): string {
      const message = Buffer.from(line.split(" ")[2] ?? "", "base64").toString();
      assert.match(message, /^n,,n=/);
      clientFirstBare = message.slice(3);
      const nonce = /r=([^,]+)/.exec(clientFirstBare)![1]!;
      assert.equal(/n=([^,]+)/.exec(clientFirstBare)![1], user);
      serverFirst = `r=${nonce}srv${randomBytes(8).toString("hex")},s=${salt.toString("base64")},i=${iterations}`;
      return `334 ${Buffer.from(serverFirst).toString("base64")}\r\n`;
    },
    final(line: string): string {
      const clientFinal = Buffer.from(line, "base64").toString();
      const withoutProof = clientFinal.slice(0, clientFinal.indexOf(",p="));
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const clientKey = hmac(saltedPassword, "Client Key");
      const storedKey = createHash(hash).update(clientKey).digest();
      const signature = hmac(storedKey, authMessage);
      const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(",p=") + 3), "base64");
      const recovered = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
      assert.deepEqual(createHash(hash).update(recovered).digest(), storedKey, "client proof");
      const serverKey = hmac(saltedPassword, "Server Key");
      const serverSignature = hmac(serverKey, authMessage);
      if (forge) serverSignature[0]! ^= 1;
      return `334 ${Buffer.from(`v=${serverSignature.toString("base64")}`).toString("base64")}\r\n`;
    },
  };
}

// Self-test of the real-server harnesses in test/helpers/servers, driven by clients none of us wrote:
// nodemailer, Python's smtplib (Debian python3) and GNU SASL's client (`gsasl --client`). Never smtpkit.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import nodemailer from "nodemailer";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { fixtureCa, fixturePath, sleep } from "../helpers/servers/common.js";
import {
  type DovecotLmtpServer,
  dovecotLmtpUnavailableReason,
  startDovecotLmtp,
} from "../helpers/servers/dovecot-lmtp.js";
import { type GsaslServer, gsaslUnavailableReason, startGsaslServer } from "../helpers/servers/gsasl.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { type SmtpServerHarness, startSmtpServer } from "../helpers/servers/smtp-server.js";

const CA = fixtureCa();
const USERS = { alice: "secret", bob: "pässwörd ✓" };
const PYTHON = process.env.SMTPKIT_TEST_PYTHON ?? "/usr/bin/python3";

// ---- clients ------------------------------------------------------------------------------------------

interface NodemailerOptions {
  port: number;
  secure?: boolean;
  requireTLS?: boolean;
  ignoreTLS?: boolean;
  lmtp?: boolean;
  auth?:
    | { user: string; pass: string; method?: string }
    | { type: "OAuth2"; user: string; accessToken: string };
  from?: string;
  to: string[];
  subject?: string;
  text?: string;
}

async function nodemailerSend(o: NodemailerOptions) {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: o.port,
    secure: o.secure ?? false,
    requireTLS: o.requireTLS ?? false,
    ignoreTLS: o.ignoreTLS ?? false,
    lmtp: o.lmtp ?? false,
    ...(o.auth ? { auth: o.auth } : {}),
    tls: { ca: CA, servername: "localhost" },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10_000,
  });
  try {
    return await transport.sendMail({
      from: o.from ?? "sender@example.test",
      to: o.to,
      subject: o.subject ?? "harness self-test",
      text: o.text ?? "Hello from nodemailer.\n",
    });
  } finally {
    transport.close();
  }
}

/** Runs a program, resolving with its exit code and combined output (never blocks the event loop). */
function run(
  cmd: string,
  args: string[],
  input = "",
  timeoutMs = 15_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LANG: "C.UTF-8" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(input);
  });
}

/** GNU SASL's own SMTP client: STARTTLS, then AUTH with the given mechanism. */
function gsaslClient(port: number, mechanism: string, user: string, password: string) {
  const args = [
    "--client",
    "--smtp",
    "--connect",
    `127.0.0.1:${port}`,
    "--x509-ca-file",
    fixturePath("ca.pem"),
  ];
  // without -PLUS, gsasl 2.2 fails locally when it has channel-binding data it may not use
  if (!mechanism.endsWith("-PLUS")) args.push("--no-cb");
  args.push("-m", mechanism, "-a", user, "-p", password);
  return run("gsasl", args);
}

/** Python's smtplib; the script gets the port as argv[1] and the rest as given. */
function python(script: string, ...args: string[]) {
  return run(PYTHON, ["-c", script, ...args]);
}

/** Minimal raw SMTP session for EHLO probes and protocol corner cases. */
class RawSmtp {
  private buf = "";
  private waiters: Array<() => void> = [];
  private constructor(public socket: Socket) {
    this.listen(socket);
  }
  private listen(socket: Socket): void {
    socket.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }
  static async open(port: number, implicitTls = false): Promise<RawSmtp> {
    const socket: Socket = implicitTls
      ? tlsConnect({ host: "127.0.0.1", port, ca: CA, servername: "localhost" })
      : netConnect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once(implicitTls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    const s = new RawSmtp(socket);
    await s.reply();
    return s;
  }
  /** Reads one complete (possibly multi-line) reply. */
  async reply(timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split("\r\n");
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3}( |$)/.test(lines[i] ?? "")) {
          this.buf = lines.slice(i + 1).join("\r\n");
          return lines.slice(0, i + 1);
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply; have ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  async cmd(line: string): Promise<string[]> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }
  async starttls(): Promise<void> {
    const r = await this.cmd("STARTTLS");
    assert.match(r[0] ?? "", /^220/);
    const secure = tlsConnect({ socket: this.socket, ca: CA, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.buf = "";
    this.socket = secure;
    this.listen(secure);
  }
  close(): void {
    this.socket.destroy();
  }
}

/** EHLO (or LHLO) keywords (upper-cased lines after the first), before and after STARTTLS. */
async function ehloKeywords(
  port: number,
  starttls: boolean,
  hello = "EHLO",
): Promise<{ before: string[]; after: string[] }> {
  const s = await RawSmtp.open(port);
  try {
    const before = (await s.cmd(`${hello} client.example.test`))
      .slice(1)
      .map((l) => l.slice(4).toUpperCase());
    let afterTls: string[] = [];
    if (starttls) {
      await s.starttls();
      afterTls = (await s.cmd(`${hello} client.example.test`)).slice(1).map((l) => l.slice(4).toUpperCase());
    }
    await s.cmd("QUIT").catch(() => []);
    return { before, after: afterTls };
  } finally {
    s.close();
  }
}

/** True when the process exists and is not a zombie (killed children wait for init to reap them). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: Math.round(performance.now() - t0) };
}

const rejectsWith = async (p: Promise<unknown>, re: RegExp): Promise<void> => {
  await assert.rejects(p, (err: Error & { responseCode?: number; response?: string }) => {
    assert.match(`${err.responseCode ?? ""} ${err.response ?? ""} ${err.message}`, re);
    return true;
  });
};

/** nodemailer over STARTTLS (required), logging in with a password by SASL `method`. */
function sendWithPassword(
  port: number,
  user: string,
  pass: string,
  method: string,
  to: string[],
  subject?: string,
) {
  return nodemailerSend({ port, requireTLS: true, auth: { user, pass, method }, to, subject });
}

/** nodemailer over STARTTLS (required), logging in with an OAuth2 access token (XOAUTH2). */
function sendWithToken(port: number, user: string, accessToken: string, to: string[]) {
  return nodemailerSend({ port, requireTLS: true, auth: { type: "OAuth2", user, accessToken }, to });
}

/** The send fails with 535: the server refused the credentials. */
const refusesAuth = (p: Promise<unknown>): Promise<void> => rejectsWith(p, /535/);

// ---- aiosmtpd -----------------------------------------------------------------------------------------

describe("aiosmtpd harness", () => {
  let srv: AiosmtpdServer;
  before(async () => {
    const { value, ms } = await timed(() =>
      startAiosmtpd({ starttls: true, auth: { users: USERS }, pipelining: true, dataSizeLimit: 100_000 }),
    );
    srv = value;
    console.log(`# aiosmtpd (STARTTLS, AUTH) started in ${ms} ms on port ${srv.port}`);
  });
  after(() => srv?.stop());

  test("STARTTLS + AUTH PLAIN with a non-ASCII password; envelope and content recorded", async () => {
    const info = await sendWithPassword(
      srv.port,
      "bob",
      USERS.bob,
      "PLAIN",
      ["rcpt@example.test", "reject@example.test"],
      "aiosmtpd plain",
    );
    assert.deepEqual(info.accepted, ["rcpt@example.test"]);
    assert.deepEqual(info.rejected, ["reject@example.test"]);
    const [msg] = await srv.waitForMessages(1);
    assert.ok(msg);
    assert.equal(msg.mailFrom, "sender@example.test");
    assert.deepEqual(msg.rcptTos, ["rcpt@example.test"]);
    assert.equal(msg.tls, true);
    assert.equal(msg.authUser, "bob");
    assert.match(msg.content.toString(), /^Subject: aiosmtpd plain\r$/m);
    assert.match(msg.content.toString(), /Hello from nodemailer\./);
    srv.clearMessages();
  });

  test("AUTH LOGIN, XOAUTH2 and OAUTHBEARER-less clients; wrong password and token are refused", async () => {
    await sendWithPassword(srv.port, "alice", "secret", "LOGIN", ["a@example.test"]);
    await sendWithToken(srv.port, "alice", "secret", ["b@example.test"]);
    const msgs = await srv.waitForMessages(2);
    assert.deepEqual(
      msgs.map((m) => m.authUser),
      ["alice", "alice"],
    );
    await refusesAuth(sendWithPassword(srv.port, "alice", "wrong", "PLAIN", ["c@example.test"]));
    await refusesAuth(sendWithToken(srv.port, "alice", "nope", ["c@example.test"]));
    srv.clearMessages();
  });

  test("EHLO offers AUTH only after STARTTLS; a cancelled AUTH gets exactly one reply", async () => {
    const kw = await ehloKeywords(srv.port, true);
    assert.ok(kw.before.includes("STARTTLS"));
    assert.ok(kw.before.includes("PIPELINING"));
    assert.ok(!kw.before.some((k) => k.startsWith("AUTH")));
    assert.ok(kw.after.includes("AUTH LOGIN OAUTHBEARER PLAIN XOAUTH2"), kw.after.join(","));
    assert.ok(kw.after.includes("SIZE 100000"));

    const s = await RawSmtp.open(srv.port);
    try {
      await s.cmd("EHLO client.example.test");
      await s.starttls();
      await s.cmd("EHLO client.example.test");
      assert.match((await s.cmd("AUTH PLAIN"))[0] ?? "", /^334/);
      assert.match((await s.cmd("*"))[0] ?? "", /^501/);
      // exactly one reply to the cancel: the next reply read is NOOP's
      assert.match((await s.cmd("NOOP"))[0] ?? "", /^250/);
      // XOAUTH2 failure: 334 with a JSON error, the client's empty line, then 535
      const token = Buffer.from("user=alice\x01auth=Bearer wrong\x01\x01").toString("base64");
      const challenge = await s.cmd(`AUTH XOAUTH2 ${token}`);
      assert.match(challenge[0] ?? "", /^334 /);
      assert.equal(JSON.parse(Buffer.from((challenge[0] ?? "").slice(4), "base64").toString()).status, "401");
      assert.match((await s.cmd(""))[0] ?? "", /^535/);
      await s.cmd("QUIT");
    } finally {
      s.close();
    }
  });

  test("size limit: a message over dataSizeLimit is refused", async () => {
    await rejectsWith(
      nodemailerSend({
        port: srv.port,
        requireTLS: true,
        to: ["big@example.test"],
        text: "x".repeat(120_000),
      }),
      /552/,
    );
  });

  test("implicit TLS, LMTP and requireStarttls variants", async () => {
    const tlsSrv = await startAiosmtpd({ implicitTls: true, auth: { users: USERS } });
    const lmtp = await startAiosmtpd({ lmtp: true });
    const strict = await startAiosmtpd({ starttls: true, requireStarttls: true });
    try {
      await nodemailerSend({
        port: tlsSrv.port,
        secure: true,
        auth: { user: "alice", pass: "secret" },
        to: ["x@example.test"],
      });
      const [m] = await tlsSrv.waitForMessages(1);
      assert.equal(m?.tls, true);
      assert.equal(m?.authUser, "alice");

      const info = await nodemailerSend({
        port: lmtp.port,
        lmtp: true,
        to: ["ok@example.test", "faildata@example.test", "reject@example.test", "ok2@example.test"],
      });
      assert.deepEqual(info.accepted, ["ok@example.test", "ok2@example.test"]);
      assert.deepEqual(info.rejected.sort(), ["faildata@example.test", "reject@example.test"]);
      const [l] = await lmtp.waitForMessages(1);
      assert.deepEqual(l?.rcptTos, ["ok@example.test", "faildata@example.test", "ok2@example.test"]);
      assert.deepEqual(l?.accepted, ["ok@example.test", "ok2@example.test"]);
      assert.equal(l?.replies.length, 3);

      await rejectsWith(
        nodemailerSend({ port: strict.port, ignoreTLS: true, to: ["x@example.test"] }),
        /530/,
      );
      await nodemailerSend({ port: strict.port, requireTLS: true, to: ["x@example.test"] });
      assert.equal((await strict.waitForMessages(1)).length, 1);
    } finally {
      await Promise.all([tlsSrv.stop(), lmtp.stop(), strict.stop()]);
    }
  });

  test("Python smtplib with SMTPUTF8 and 8BITMIME", async () => {
    const r = await python(
      `import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.test")
s.starttls(context=ctx)
s.login("alice", "secret")  # smtplib encodes AUTH PLAIN as ASCII only
s.sendmail("jöran@example.test", ["bob@example.test"], "Subject: utf8\\r\\n\\r\\nGrüße\\r\\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
s.quit()`,
      String(srv.port),
      fixturePath("ca.pem"),
    );
    assert.equal(r.code, 0, r.out);
    const [m] = await srv.waitForMessages(1);
    assert.equal(m?.mailFrom, "jöran@example.test");
    assert.equal(m?.smtpUtf8, true);
    // smtplib puts SIZE= first; aiosmtpd upper-cases every parameter
    assert.ok(
      m?.mailOptions.includes("SMTPUTF8") && m.mailOptions.includes("BODY=8BITMIME"),
      String(m?.mailOptions),
    );
    assert.match(m?.content.toString("utf8") ?? "", /Grüße/);
    srv.clearMessages();
  });
});

// ---- smtp-server --------------------------------------------------------------------------------------

describe("smtp-server harness", () => {
  let srv: SmtpServerHarness;
  before(async () => {
    const { value, ms } = await timed(() =>
      startSmtpServer({
        auth: { users: USERS, methods: ["PLAIN", "LOGIN", "XOAUTH2", "CRAM-MD5"] },
        size: 50_000,
        dsn: true,
      }),
    );
    srv = value;
    console.log(`# smtp-server started in ${ms} ms on port ${srv.port}`);
  });
  after(() => srv?.stop());

  test("STARTTLS + PLAIN, LOGIN, XOAUTH2; wrong credentials refused", async () => {
    await sendWithPassword(srv.port, "bob", USERS.bob, "PLAIN", ["a@example.test", "reject@example.test"]);
    await sendWithPassword(srv.port, "alice", "secret", "LOGIN", ["b@example.test"]);
    await sendWithToken(srv.port, "alice", "secret", ["c@example.test"]);
    const msgs = await srv.waitForMessages(3);
    assert.deepEqual(
      msgs.map((m) => [m.user, m.rcptTo, m.secure]),
      [
        ["bob", ["a@example.test"], true],
        ["alice", ["b@example.test"], true],
        ["alice", ["c@example.test"], true],
      ],
    );
    assert.match(msgs[0]?.raw.toString() ?? "", /Hello from nodemailer/);
    await refusesAuth(sendWithPassword(srv.port, "bob", "wrong", "PLAIN", ["d@example.test"]));
    await refusesAuth(sendWithToken(srv.port, "bob", "wrong", ["d@example.test"]));
    // nodemailer tries XOAUTH2 a second time after a failure (to refresh the token)
    assert.deepEqual(
      srv.authAttempts().map((a) => [a.method, a.success]),
      [
        ["PLAIN", true],
        ["LOGIN", true],
        ["XOAUTH2", true],
        ["PLAIN", false],
        ["XOAUTH2", false],
        ["XOAUTH2", false],
      ],
    );
    srv.clearMessages();
  });

  test("Python smtplib CRAM-MD5 and DSN parameters", async () => {
    const r = await python(
      `import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.test")
s.starttls(context=ctx)
s.ehlo("client.example.test")
s.user, s.password = "alice", "secret"
code, resp = s.auth("CRAM-MD5", s.auth_cram_md5, initial_response_ok=False)
assert code == 235, (code, resp)
s.sendmail("a@example.test", ["b@example.test"], b"Subject: dsn\\r\\n\\r\\nbody\\r\\n", mail_options=["RET=HDRS", "ENVID=abc"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
s.quit()`,
      String(srv.port),
      fixturePath("ca.pem"),
    );
    assert.equal(r.code, 0, r.out);
    const [m] = await srv.waitForMessages(1);
    assert.equal(m?.envelope.dsn?.ret, "HDRS");
    assert.equal(m?.envelope.dsn?.envid, "abc");
    srv.clearMessages();
  });

  test("LMTP, implicit TLS and size limit", async () => {
    const lmtp = await startSmtpServer({ lmtp: true });
    const tls = await startSmtpServer({ secure: true, auth: { users: USERS } });
    try {
      const info = await nodemailerSend({
        port: lmtp.port,
        lmtp: true,
        to: ["ok@example.test", "faildata@example.test"],
      });
      assert.deepEqual(info.accepted, ["ok@example.test"]);
      assert.deepEqual(info.rejected, ["faildata@example.test"]);
      await nodemailerSend({
        port: tls.port,
        secure: true,
        auth: { user: "alice", pass: "secret" },
        to: ["x@example.test"],
      });
      assert.equal((await tls.waitForMessages(1))[0]?.secure, true);
      await rejectsWith(
        nodemailerSend({
          port: srv.port,
          requireTLS: true,
          to: ["x@example.test"],
          text: "y".repeat(60_000),
        }),
        /552/,
      );
    } finally {
      await Promise.all([lmtp.stop(), tls.stop()]);
    }
  });
});

// ---- Postfix + Dovecot --------------------------------------------------------------------------------

const postfixSkip = postfixUnavailableReason({ auth: true });

describe("Postfix harness", { skip: postfixSkip ?? false }, () => {
  let pf: PostfixServer;
  before(async () => {
    const { value, ms } = await timed(() =>
      startPostfix({ auth: { users: USERS }, implicitTls: true, submission: true }),
    );
    pf = value;
    console.log(
      `# postfix+dovecot started in ${ms} ms: smtp ${pf.port}, implicit TLS ${pf.implicitTlsPort}, submission ${pf.submissionPort}`,
    );
  });
  after(() => pf?.stop());

  test("EHLO: extensions on, Dovecot's mechanisms only after STARTTLS", async () => {
    const kw = await ehloKeywords(pf.port, true);
    for (const k of [
      "PIPELINING",
      "8BITMIME",
      "DSN",
      "SMTPUTF8",
      "CHUNKING",
      "ENHANCEDSTATUSCODES",
      "STARTTLS",
    ]) {
      assert.ok(kw.before.includes(k), `${k} in ${kw.before.join(",")}`);
    }
    assert.ok(!kw.before.some((k) => k.startsWith("AUTH")), "no AUTH before TLS");
    assert.ok(kw.after.includes("AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"), kw.after.join(","));
  });

  test("STARTTLS + AUTH through Dovecot; refused recipient; delivered to the Maildir", async () => {
    const info = await sendWithPassword(
      pf.port,
      "bob",
      USERS.bob,
      "PLAIN",
      ["rcpt@example.test", "reject@example.test"],
      "postfix plain",
    );
    assert.deepEqual(info.accepted, ["rcpt@example.test"]);
    assert.deepEqual(info.rejected, ["reject@example.test"]);
    // no relaying for unauthenticated clients (554 5.7.1 Relay access denied)
    await rejectsWith(nodemailerSend({ port: pf.port, requireTLS: true, to: ["x@elsewhere.test"] }), /554/);
    const [d] = await pf.waitForDelivery(1);
    assert.ok(d);
    assert.equal(d.recipient, "rcpt@example.test");
    assert.equal(d.returnPath, "sender@example.test");
    assert.match(d.raw.toString(), /^Return-Path: <sender@example.test>\n/);
    const message = d.message.toString();
    assert.doesNotMatch(message, /^(Return-Path|Delivered-To):/m);
    assert.match(message, /^Subject: postfix plain$/m);
    assert.match(message, /Hello from nodemailer\./);
    await pf.clearDelivered();
  });

  test("LOGIN and CRAM-MD5 (nodemailer), SCRAM-SHA-1 and SCRAM-SHA-256 (gsasl client); wrong password refused", async () => {
    await sendWithPassword(pf.port, "alice", "secret", "LOGIN", ["a@example.test"]);
    await sendWithPassword(pf.port, "bob", USERS.bob, "CRAM-MD5", ["b@example.test"]);
    await refusesAuth(sendWithPassword(pf.port, "alice", "wrong", "PLAIN", ["c@example.test"]));
    if (!gsaslUnavailableReason()) {
      for (const mech of ["SCRAM-SHA-1", "SCRAM-SHA-256"]) {
        const ok = await gsaslClient(pf.port, mech, "bob", USERS.bob);
        assert.match(ok.out, /^235 /m, `${mech}: ${ok.out}`);
        const bad = await gsaslClient(pf.port, mech, "bob", "wrong");
        assert.match(bad.out, /^535 /m, `${mech}: ${bad.out}`);
      }
    }
    assert.equal((await pf.waitForDelivery(2)).length, 2);
    await pf.clearDelivered();
  });

  test("implicit-TLS port and submission port", async () => {
    await nodemailerSend({
      port: pf.implicitTlsPort!,
      secure: true,
      auth: { user: "alice", pass: "secret" },
      to: ["x@example.test"],
    });
    // submission: nothing before STARTTLS, no recipient without AUTH
    await rejectsWith(
      nodemailerSend({ port: pf.submissionPort!, ignoreTLS: true, to: ["y@example.test"] }),
      /530/,
    );
    await rejectsWith(
      nodemailerSend({ port: pf.submissionPort!, requireTLS: true, to: ["y@example.test"] }),
      /55\d/,
    );
    const kw = await ehloKeywords(pf.submissionPort!, true);
    assert.ok(!kw.before.some((k) => k.startsWith("AUTH")));
    await nodemailerSend({
      port: pf.submissionPort!,
      requireTLS: true,
      auth: { user: "alice", pass: "secret" },
      // authenticated clients may relay; relayed mail lands in the same Maildir (nothing leaves the host)
      to: ["y@example.test", "someone@elsewhere.test"],
    });
    const delivered = await pf.waitForDelivery(3);
    assert.deepEqual(delivered.map((d) => d.recipient).sort(), [
      "someone@elsewhere.test",
      "x@example.test",
      "y@example.test",
    ]);
    await pf.clearDelivered();
  });

  test("SMTPUTF8, DSN and a header-refused message (Python smtplib)", async () => {
    const r = await python(
      `import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.test")
s.starttls(context=ctx)
s.ehlo("client.example.test")
s.sendmail("jöran@example.test", ["bob@example.test"], "Subject: utf8\\r\\n\\r\\nGrüße\\r\\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"], rcpt_options=["NOTIFY=NEVER"])
try:
    s.sendmail("a@example.test", ["bob@example.test"], b"X-Harness-Reject: yes\\r\\nSubject: no\\r\\n\\r\\nx\\r\\n")
    print("NOT REFUSED")
except smtplib.SMTPDataError as e:
    print("refused", e.smtp_code)
try:
    s.sendmail("a@example.test", ["tempfail@example.test"], b"Subject: no\\r\\n\\r\\nx\\r\\n")
except smtplib.SMTPRecipientsRefused as e:
    print("tempfail", e.recipients["tempfail@example.test"][0])
s.quit()`,
      String(pf.port),
      fixturePath("ca.pem"),
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /refused 550/);
    assert.match(r.out, /tempfail 452/);
    const [d] = await pf.waitForDelivery(1);
    assert.equal(d?.returnPath, "jöran@example.test");
    assert.match(d?.message.toString("utf8") ?? "", /Grüße/);
    await sleep(200);
    assert.equal((await pf.delivered()).length, 1, "nothing else delivered");
    await pf.clearDelivered();
  });

  test("two more instances in parallel, without auth; stop() removes everything", async () => {
    const { value: both, ms } = await timed(() => Promise.all([startPostfix(), startPostfix()]));
    console.log(`# two more postfix instances (no auth) started in parallel in ${ms} ms`);
    try {
      assert.notEqual(both[0].port, both[1].port);
      await Promise.all(
        both.map((p, i) => nodemailerSend({ port: p.port, requireTLS: true, to: [`p${i}@example.test`] })),
      );
      for (const [i, p] of both.entries()) {
        const [d] = await p.waitForDelivery(1);
        assert.equal(d?.recipient, `p${i}@example.test`);
      }
    } finally {
      await Promise.all(both.map((p) => p.stop()));
    }
    for (const p of both) assert.equal(existsSync(p.dir), false);
    await rejectsWith(nodemailerSend({ port: both[0].port, to: ["z@example.test"] }), /ECONNREFUSED/);
  });
});

// ---- Dovecot LMTP -------------------------------------------------------------------------------------

describe("Dovecot LMTP harness", { skip: dovecotLmtpUnavailableReason() ?? false }, () => {
  let lmtp: DovecotLmtpServer;
  before(async () => {
    const { value, ms } = await timed(() => startDovecotLmtp({ starttls: true }));
    lmtp = value;
    console.log(`# dovecot lmtp started in ${ms} ms on port ${lmtp.port}`);
  });
  after(() => lmtp?.stop());

  test("LHLO: PIPELINING, CHUNKING, 8BITMIME, STARTTLS", async () => {
    const kw = await ehloKeywords(lmtp.port, true, "LHLO");
    for (const k of ["PIPELINING", "CHUNKING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS"]) {
      assert.ok(kw.before.includes(k), `${k} in ${kw.before.join(",")}`);
    }
  });

  test("one reply per recipient: reject@ at RCPT, faildata@ after the data", async () => {
    const info = await nodemailerSend({
      port: lmtp.port,
      lmtp: true,
      requireTLS: true,
      to: ["ok@example.test", "faildata@example.test", "reject@example.test", "ok2@other.test"],
      subject: "dovecot lmtp",
    });
    assert.deepEqual(info.accepted, ["ok@example.test", "ok2@other.test"]);
    assert.deepEqual([...info.rejected].sort(), ["faildata@example.test", "reject@example.test"]);
    const stored = await lmtp.waitForDelivery(2);
    assert.deepEqual(stored.map((d) => d.recipient).sort(), ["ok2@other.test", "ok@example.test"]);
    for (const d of stored) {
      assert.equal(d.returnPath, "sender@example.test");
      assert.match(d.message.toString(), /^Subject: dovecot lmtp$/m);
      assert.doesNotMatch(d.message.toString(), /^(Return-Path|Delivered-To):/m);
    }
    await lmtp.clearDelivered();
  });

  test("recipients option: only listed addresses exist", async () => {
    const only = await startDovecotLmtp({ recipients: ["bob@example.test"] });
    try {
      const info = await nodemailerSend({
        port: only.port,
        lmtp: true,
        to: ["bob@example.test", "carol@example.test"],
      });
      assert.deepEqual(info.accepted, ["bob@example.test"]);
      assert.deepEqual(info.rejected, ["carol@example.test"]);
      assert.equal((await only.waitForDelivery(1))[0]?.recipient, "bob@example.test");
    } finally {
      await only.stop();
    }
  });
});

// ---- gsasl (SCRAM-*-PLUS) -----------------------------------------------------------------------------

describe("gsasl harness", { skip: gsaslUnavailableReason() ?? false }, () => {
  let srv: GsaslServer;
  before(async () => {
    const { value, ms } = await timed(() => startGsaslServer({ users: USERS }));
    srv = value;
    console.log(`# gsasl front started in ${ms} ms on port ${srv.port}`);
  });
  after(() => srv?.stop());

  test("SCRAM-SHA-256-PLUS with tls-exporter on TLS 1.3 (gsasl client); wrong password refused", async () => {
    const ok = await gsaslClient(srv.port, "SCRAM-SHA-256-PLUS", "bob", USERS.bob);
    assert.match(ok.out, /^235 /m, ok.out);
    const bad = await gsaslClient(srv.port, "SCRAM-SHA-256-PLUS", "bob", "wrong");
    assert.match(bad.out, /^535 /m, bad.out);
    const attempts = srv.attempts().slice(-2);
    assert.deepEqual(
      attempts.map((a) => [a.user, a.success, a.channelBinding, a.tlsVersion]),
      [
        ["bob", true, "tls-exporter", "TLSv1.3"],
        ["bob", false, "tls-exporter", "TLSv1.3"],
      ],
    );
  });

  test("PLAIN through the same front (nodemailer), other mechanisms (gsasl client)", async () => {
    await sendWithPassword(srv.port, "alice", "secret", "PLAIN", ["a@example.test"]);
    for (const mech of ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "CRAM-MD5", "LOGIN"]) {
      const r = await gsaslClient(srv.port, mech, "alice", "secret");
      assert.match(r.out, /^235 /m, `${mech}: ${r.out}`);
    }
  });

  test("tls-unique on TLS 1.2; a wrong channel binding fails", async () => {
    const tls12 = await startGsaslServer({ users: USERS, tlsMaxVersion: "TLSv1.2" });
    const corrupt = await startGsaslServer({ users: USERS, corruptChannelBinding: true });
    try {
      const ok = await gsaslClient(tls12.port, "SCRAM-SHA-256-PLUS", "alice", "secret");
      assert.match(ok.out, /^235 /m, ok.out);
      assert.equal(tls12.attempts()[0]?.channelBinding, "tls-unique");
      assert.equal(tls12.attempts()[0]?.tlsVersion, "TLSv1.2");
      const bad = await gsaslClient(corrupt.port, "SCRAM-SHA-256-PLUS", "alice", "secret");
      assert.doesNotMatch(bad.out, /^235 /m, bad.out);
      assert.equal(corrupt.attempts()[0]?.success, false);
    } finally {
      await Promise.all([tls12.stop(), corrupt.stop()]);
    }
  });
});

// ---- cleanup when the test process dies ---------------------------------------------------------------

describe("cleanup when the process exits without stop()", { skip: postfixSkip ?? false }, () => {
  const serversDir = fileURLToPath(new URL("../helpers/servers/", import.meta.url));
  // Re-run Node with our loader flags (tsx when running from test/), minus the test runner's own.
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--test"));

  for (const how of ["exit", "SIGKILL"] as const) {
    test(`postfix, dovecot, aiosmtpd and smtp-sink are gone after ${how}`, async () => {
      const script = `
        const pf = await import(${JSON.stringify(new URL("postfix.js", `file://${serversDir}`).href)});
        const ai = await import(${JSON.stringify(new URL("aiosmtpd.js", `file://${serversDir}`).href)});
        const ss = await import(${JSON.stringify(new URL("smtp-sink.js", `file://${serversDir}`).href)});
        const p = await pf.startPostfix({ auth: { users: { u: "p" } } });
        const a = await ai.startAiosmtpd({});
        const s = await ss.startSmtpSink();
        console.log(JSON.stringify({ dirs: [p.dir, s.dir], ports: [p.port, a.port, s.port], pids: [p.pids.master, p.pids.dovecot, a.pid, s.pid] }));
        ${how === "exit" ? "process.exit(0);" : "setInterval(() => {}, 1000);"}
      `;
      const child = spawn(process.execPath, [...execArgv, "--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
        });
        child.once("exit", (code) => reject(new Error(`child exited (${code}) before reporting: ${out}`)));
      });
      const { dirs, ports, pids } = JSON.parse(line) as { dirs: string[]; ports: number[]; pids: number[] };
      if (how === "SIGKILL") child.kill("SIGKILL");
      await new Promise<void>((resolve) =>
        child.exitCode !== null ? resolve() : child.once("exit", () => resolve()),
      );
      // the watchdog waits 1 s for the process groups to die, then removes the directory
      const deadline = Date.now() + 5000;
      for (const dir of dirs) {
        while (existsSync(dir) && Date.now() < deadline) await sleep(100);
        assert.equal(existsSync(dir), false, `${dir} removed`);
      }
      for (const pid of pids) {
        while (running(pid) && Date.now() < deadline) await sleep(50);
        assert.equal(running(pid), false, `process ${pid} gone`);
      }
      for (const port of ports) {
        await rejectsWith(nodemailerSend({ port, to: ["z@example.test"] }), /ECONNREFUSED/);
      }
    });
  }
});

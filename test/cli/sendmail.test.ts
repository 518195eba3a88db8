// `smtpkit sendmail` against a real MTA (Postfix + Dovecot SASL): -t, Bcc removal, Date/Message-ID only
// when missing, msmtprc accounts (msmtp's documented example among them), passwordeval, the pinned
// certificate, file permissions, and every sysexits status — compared with real msmtp where it applies.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, beforeEach, describe, it } from "node:test";
import { CliError } from "../../src/cli/common.js";
import { parseSendmailArgs } from "../../src/cli/sendmail.js";
import { sysexitFor } from "../../src/cli/sysexits.js";
import { SMTPError } from "../../src/errors.js";
import { CA_FILE, runProgram, smtpkit } from "../helpers/cli-runner.js";
import { fixturePath, freePort } from "../helpers/servers/common.js";
import { type PostfixServer, postfixUnavailableReason } from "../helpers/servers/postfix.js";
import { testServers } from "../helpers/test-servers.js";
import { header, headerLines, startPostfixKeepingBcc, workDir, writeConfig } from "./sendmail-helpers.js";

const PASSWORD = "s3cret-Sendmail-Pa55";
const USERS = { alice: PASSWORD, "joe.smith": PASSWORD };
const MSMTP = existsSync("/usr/bin/msmtp") ? "/usr/bin/msmtp" : undefined;
const MSMTP_EXAMPLE = "/usr/share/doc/msmtp/examples/msmtprc-user.example";

const { defer, harness } = testServers();

describe("sendmail mode: argument parsing (as MUAs and git pass them)", () => {
  it("mutt's -oem -oi -f FROM -- RCPT, git's -i -f FROM RCPT..., attached values, ignored options", () => {
    const mutt = parseSendmailArgs(["-oem", "-oi", "-f", "a@x.test", "--", "-b@y.test", "c@y.test"]);
    assert.deepEqual(mutt.recipients, ["-b@y.test", "c@y.test"]);
    assert.equal(mutt.from, "a@x.test");
    const git = parseSendmailArgs(["-i", "-fa@x.test", "-FJoe Smith", "r1@y.test", "r2@y.test"]);
    assert.deepEqual(
      [git.from, git.fullName, git.recipients],
      ["a@x.test", "Joe Smith", ["r1@y.test", "r2@y.test"]],
    );
    const other = parseSendmailArgs([
      "-t",
      "-odi",
      "-bm",
      "-B",
      "8BITMIME",
      "-N",
      "never",
      "-v",
      "-ti",
      "-Cfile",
      "-a",
      "work",
    ]);
    assert.equal(other.readRecipients, true);
    assert.equal(other.verbose, true);
    assert.deepEqual(other.values, { config: "file", account: "work" });
    const long = parseSendmailArgs(["--account=w", "--config", "f", "--read-recipients"]);
    assert.deepEqual(long.values, { account: "w", config: "f" });
  });

  it("refuses what it does not do: -bp, -bs, unknown options, --password, -f without value (64)", () => {
    for (const argv of [["-bp"], ["-bs"], ["-q"], ["--frobnicate"], ["--password=x"], ["-f"]]) {
      assert.throws(
        () => parseSendmailArgs(argv),
        (e: { exitCode?: number }) => e.exitCode === 64,
        argv.join(" "),
      );
    }
  });
});

describe("sysexitFor: every failure to its sysexits status (API.md §3.1)", () => {
  const reply = (code: number) => ({ code, lines: ["x"], text: "x" });
  const refusal = (code: number) => ({ recipient: "r@example.test", reply: reply(code) });
  const table: [string, unknown, number][] = [
    ["usage", new CliError(64, "x"), 64],
    ["configuration", new CliError(78, "x"), 78],
    ["unexpected", new Error("bug"), 70],
    ["bad input", new SMTPError("EINPUT", "x"), 65],
    ["protocol", new SMTPError("EPROTOCOL", "x", { stage: "MAIL" }), 76],
    [
      "lost after the end of data",
      new SMTPError("ECONNECTION", "x", { stage: "END", deliveryUnknown: true }),
      76,
    ],
    ["lost before the end of data", new SMTPError("ECONNECTION", "x", { stage: "DATA" }), 75],
    ["timeout", new SMTPError("ETIMEDOUT", "x", { stage: "RCPT" }), 75],
    ["greeting 421", new SMTPError("ECONNECTION", "x", { stage: "GREETING", reply: reply(421) }), 75],
    ["greeting 554", new SMTPError("ECONNECTION", "x", { stage: "GREETING", reply: reply(554) }), 69],
    ["sender 553", new SMTPError("EENVELOPE", "x", { stage: "MAIL", reply: reply(553) }), 69],
    ["sender 451", new SMTPError("EENVELOPE", "x", { stage: "MAIL", reply: reply(451) }), 75],
    [
      "all recipients 5xx",
      new SMTPError("EENVELOPE", "x", { stage: "RCPT", rejected: [refusal(550), refusal(553)] }),
      67,
    ],
    [
      "recipients 5xx and 4xx",
      new SMTPError("EENVELOPE", "x", { stage: "RCPT", rejected: [refusal(550), refusal(452)] }),
      75,
    ],
    ["auth 535", new SMTPError("EAUTH", "x", { stage: "AUTH", reply: reply(535) }), 77],
    ["auth 454", new SMTPError("EAUTH", "x", { stage: "AUTH", reply: reply(454) }), 75],
    ["auth: no mechanism", new SMTPError("EAUTH", "x", { stage: "AUTH", temporary: false }), 77],
    ["end of data 554", new SMTPError("EMESSAGE", "x", { stage: "END", reply: reply(554) }), 69],
    ["end of data 452", new SMTPError("EMESSAGE", "x", { stage: "END", reply: reply(452) }), 75],
    ["too big before DATA", new SMTPError("EMESSAGE", "x", { stage: "MAIL", temporary: false }), 65],
    ["certificate", new SMTPError("ETLS", "x", { stage: "STARTTLS", temporary: false }), 69],
    ["TLS handshake cut", new SMTPError("ETLS", "x", { stage: "STARTTLS", temporary: true }), 75],
    [
      "host not found",
      new SMTPError("ECONNECTION", "x", {
        stage: "CONNECT",
        cause: Object.assign(new Error("x"), { code: "ENOTFOUND" }),
      }),
      68,
    ],
    [
      "DNS temporarily failing",
      new SMTPError("ECONNECTION", "x", {
        stage: "CONNECT",
        temporary: true,
        cause: Object.assign(new Error("x"), { code: "EAI_AGAIN" }),
      }),
      75,
    ],
  ];
  for (const [name, error, status] of table)
    it(`${name}: ${status}`, () => assert.equal(sysexitFor(error), status));
});

const NO_POSTFIX = postfixUnavailableReason({ auth: true });

describe("sendmail mode against Postfix + Dovecot", { skip: NO_POSTFIX ?? false }, () => {
  let postfix: PostfixServer;
  let work: ReturnType<typeof workDir>;
  /** STARTTLS on the main port, no auth (loopback may send to example.test). */
  let plain: string;
  /** The submission port: STARTTLS, AUTH as alice with passwordeval. */
  let submission: string;
  before(async () => {
    postfix = await startPostfixKeepingBcc(USERS);
    defer(() => postfix.stop());
    work = workDir("smtpkit-sendmail-");
    defer(() => work.remove());
    plain = writeConfig(work.dir, "plain", [
      "defaults",
      "tls on",
      `tls_trust_file ${CA_FILE}`,
      "account local",
      "host localhost",
      `port ${postfix.port}`,
      "from alice@example.test",
      "account default : local",
    ]);
    submission = writeConfig(work.dir, "submission", [
      "account sub",
      "host localhost",
      `port ${postfix.submissionPort}`,
      "tls on",
      `tls_trust_file ${CA_FILE}`,
      "auth on",
      "user alice",
      `passwordeval "echo ${PASSWORD}"`,
      "from alice@example.test",
      "account default : sub",
      "account wrong : sub",
      'passwordeval "echo not-the-password"',
    ]);
  });
  beforeEach(() => postfix.clearDelivered());

  const sendmail = (args: string[], input: string, env?: Record<string, string>) =>
    smtpkit(["sendmail", ...args], { input, env });

  it("-t: To, Cc and Bcc receive it; no Bcc header; Date and Message-ID added; -f is the envelope sender", async () => {
    const message = [
      "From: Alice <alice@example.test>",
      "To: Bob <bob@example.test>, Team: carol@example.test;",
      "Cc: dave@example.test",
      "Bcc: hidden@example.test",
      "Subject: via sendmail -t",
      "",
      "line one",
      ".",
      "..two dots",
      "",
    ].join("\n");
    const run = await sendmail(["-t", "-oi", "-f", "envelope@example.test", "--config", plain], message);
    assert.equal(run.code, 0, run.stderr);
    const delivered = await postfix.waitForDelivery(4);
    assert.deepEqual(delivered.map((d) => d.recipient).sort(), [
      "bob@example.test",
      "carol@example.test",
      "dave@example.test",
      "hidden@example.test",
    ]);
    for (const d of delivered) {
      assert.equal(d.returnPath, "envelope@example.test");
      assert.ok(!headerLines(d.message).some((l) => /^bcc:/i.test(l)), d.message.toString());
      assert.match(header(d.message, "Date") ?? "", /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
      assert.match(header(d.message, "Message-ID") ?? "", /^<[^@\s]+@example\.test>$/);
      assert.equal(header(d.message, "To"), "Bob <bob@example.test>, Team: carol@example.test;");
      // the body is as given: a lone "." line does not end input (-oi), dots survive dot-stuffing
      assert.match(d.message.toString(), /\nline one\n\.\n\.\.two dots\n/);
    }
    assert.equal(new Set(delivered.map((d) => header(d.message, "Message-ID"))).size, 1);
  });

  it("keeps the message's own Date and Message-ID; recipients from the arguments only (no -t)", async () => {
    const message =
      "From: alice@example.test\nTo: not-a-recipient@example.test\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n" +
      "Message-ID: <own.id@example.test>\nSubject: own ids\n\nbody\n";
    const run = await sendmail(["-v", "--config", plain, "bob@example.test"], message);
    assert.equal(run.code, 0, run.stderr);
    // the envelope as sent (a later delivery to To: could come after any wait below)
    assert.deepEqual(run.stderr.match(/^C: RCPT TO:<[^>]*>/gm), ["C: RCPT TO:<bob@example.test>"]);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d!.recipient, "bob@example.test");
    assert.equal(d!.returnPath, "alice@example.test"); // the account's from
    assert.equal(header(d!.message, "Date"), "Mon, 01 Jan 2024 10:00:00 +0000");
    assert.equal(header(d!.message, "Message-ID"), "<own.id@example.test>");
    assert.equal(headerLines(d!.message).filter((l) => /^(date|message-id):/i.test(l)).length, 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await postfix.delivered()).length, 1); // To: was not a recipient without -t
  });

  it("some recipients refused, others accepted: sent (0), each refused one named on stderr", async () => {
    const run = await sendmail(
      ["--config", plain, "bob@example.test", "reject@example.test"],
      "Subject: partial\n\nx\n",
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^smtpkit sendmail: not accepted: reject@example\.test: 550 .*\(sent to the others\)$/m,
    );
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d!.recipient, "bob@example.test");
  });

  it("started as 'sendmail' (a symlink) with the default config ($XDG_CONFIG_HOME/smtpkit/config); -F adds the From", async () => {
    const xdg = join(work.dir, "xdg");
    mkdirSync(join(xdg, "smtpkit"), { recursive: true });
    copyFileSync(plain, join(xdg, "smtpkit", "config"));
    const run = await runProgram(work.sendmail, ["-F", "Ålice Example", "bob@example.test"], {
      input: "Subject: no From here\n\nhello\n",
      env: { XDG_CONFIG_HOME: xdg },
    });
    assert.equal(run.code, 0, run.stderr);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(header(d!.message, "From"), "=?UTF-8?Q?=C3=85lice_Example?= <alice@example.test>");
  });

  it("an account with auth and passwordeval: AUTH after STARTTLS, the password in no output", async () => {
    const run = await sendmail(["-v", "--config", submission, "bob@example.test"], "Subject: auth\n\nx\n");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^C: AUTH SCRAM-SHA-256 /m);
    assert.ok(!(run.stdout + run.stderr).includes(PASSWORD));
    await postfix.waitForDelivery(1);
  });

  it("the keyring: secret-tool is asked with msmtp's attributes (host, service smtp, user)", async () => {
    // A stand-in for libsecret's secret-tool (a real keyring needs a D-Bus session and an unlocked
    // gnome-keyring): it answers only the exact lookup msmtp's stored entries match.
    const bin = join(work.dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "secret-tool"),
      `#!/bin/sh\n[ "$*" = "lookup host localhost service smtp user alice" ] && printf '%s' '${PASSWORD}' && exit 0\nexit 1\n`,
      { mode: 0o755 },
    );
    const keyring = (user: string) =>
      writeConfig(work.dir, `keyring-${user}`, [
        "account default",
        "host localhost",
        `port ${postfix.submissionPort}`,
        "tls on",
        `tls_trust_file ${CA_FILE}`,
        "auth on",
        `user ${user}`,
        "from alice@example.test",
      ]);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const found = await sendmail(
      ["--config", keyring("alice"), "bob@example.test"],
      "Subject: keyring\n\nx\n",
      env,
    );
    assert.equal(found.code, 0, found.stderr);
    await postfix.waitForDelivery(1);
    const none = await sendmail(
      ["--config", keyring("carol"), "bob@example.test"],
      "Subject: keyring\n\nx\n",
      env,
    );
    assert.equal(none.code, 78);
    assert.match(
      none.stderr,
      /authenticates as "carol" but has no password: add "passwordeval CMD", store it with "secret-tool store --label=msmtp host localhost service smtp user carol"/,
    );
  });

  it("msmtp's documented example file, pointed at the harness, sends through account freemail2", {
    skip: existsSync(MSMTP_EXAMPLE) ? false : `${MSMTP_EXAMPLE} missing: apt-get install msmtp`,
  }, async () => {
    const text = readFileSync(MSMTP_EXAMPLE, "utf8")
      .replace(/^port 587$/m, `port ${postfix.submissionPort}\ntls_trust_file ${CA_FILE}`)
      .replaceAll("smtp.freemail.example", "localhost")
      .replace(/^passwordeval .*$/m, `passwordeval "echo ${PASSWORD}"`);
    const file = writeConfig(work.dir, "msmtp-example", text.split("\n"));
    const run = await sendmail(
      ["--config", file, "--account", "freemail2", "bob@example.test"],
      "Subject: doc\n\nx\n",
    );
    assert.equal(run.code, 0, run.stderr);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d!.returnPath, "joey@freemail.example");
  });

  it("tls_fingerprint pins the server's certificate (no CA needed); a wrong pin is 69 before any AUTH", async () => {
    const pin = (name: string): string => new X509Certificate(readFileSync(fixturePath(name))).fingerprint256;
    const pinned = (fingerprint: string) =>
      writeConfig(work.dir, `pinned-${fingerprint.slice(0, 2)}`, [
        "account default",
        "host 127.0.0.1", // not a name in the certificate: the pin replaces the name check
        `port ${postfix.submissionPort}`,
        "tls on",
        `tls_fingerprint ${fingerprint}`,
        "auth plain",
        "user alice",
        `password ${PASSWORD}`,
        "from alice@example.test",
      ]);
    // Postfix holds an ECDSA and an RSA certificate for localhost; Node prefers ECDSA
    const ok = await sendmail(
      ["-v", "--config", pinned(pin("localhost.pem")), "bob@example.test"],
      "Subject: pin\n\nx\n",
    );
    assert.equal(ok.code, 0, ok.stderr);
    await postfix.waitForDelivery(1);
    const wrong = await sendmail(
      ["-v", "--config", pinned(pin("other.example.pem")), "bob@example.test"],
      "Subject: pin\n\nx\n",
    );
    assert.equal(wrong.code, 69, wrong.stderr);
    assert.match(
      wrong.stderr,
      new RegExp(
        `does not match tls_fingerprint \\(.*pinned-[^:]*:5\\): it is ${pin("localhost.pem")}; ` +
          "if the server changed its certificate on purpose, set tls_fingerprint to the new one \\(smtpkit probe shows it\\)$",
        "m",
      ),
    );
    assert.doesNotMatch(wrong.stderr, /^C: AUTH/m);
  });

  it("a config holding a password that others may read is refused (78) with the chmod to run", async () => {
    const file = writeConfig(
      work.dir,
      "readable",
      ["account default", "host localhost", "password x"],
      0o644,
    );
    const run = await sendmail(["--config", file, "bob@example.test"], "Subject: x\n\nx\n");
    assert.equal(run.code, 78);
    assert.match(run.stderr, new RegExp(`mode is 0644 .*: run chmod 600 ${file}$`, "m"));
    const groupOnly = writeConfig(
      work.dir,
      "group",
      ["account default", "host localhost", "password x"],
      0o640,
    );
    assert.equal((await sendmail(["--config", groupOnly, "b@example.test"], "Subject: x\n\nx\n")).code, 78);
    // without a password line the same mode is fine (as msmtp)
    const noSecret = writeConfig(
      work.dir,
      "nosecret",
      [
        "account default",
        "host localhost",
        `port ${postfix.port}`,
        `tls_trust_file ${CA_FILE}`,
        "from a@example.test",
      ],
      0o644,
    );
    assert.equal((await sendmail(["--config", noSecret, "bob@example.test"], "Subject: x\n\nx\n")).code, 0);
  });

  it("bad configuration lines: 78 naming file, line and key; a failing passwordeval names itself", async () => {
    const bad = writeConfig(work.dir, "bad", [
      "defaults",
      "tls on",
      "account a",
      "host localhost",
      "tls_starttls maybe",
    ]);
    const run = await sendmail(["--config", bad, "--account", "a", "b@example.test"], "Subject: x\n\nx\n");
    assert.equal(run.code, 78);
    assert.match(run.stderr, new RegExp(`${bad}:5: key "tls_starttls": "maybe" is not on or off`));
    const evalFails = writeConfig(work.dir, "evalfails", [
      "account default",
      "host localhost",
      "tls on",
      "user alice",
      "passwordeval \"echo 'gpg: decryption failed' >&2; exit 2\"",
    ]);
    const failed = await sendmail(["--config", evalFails, "b@example.test"], "Subject: x\n\nx\n");
    assert.equal(failed.code, 78);
    assert.match(
      failed.stderr,
      new RegExp(`passwordeval \\(${evalFails}:5\\) failed: exit status 2 \\(gpg: decryption failed\\)`),
    );
    const missing = await sendmail(
      ["--config", join(work.dir, "nope"), "b@example.test"],
      "Subject: x\n\nx\n",
    );
    assert.equal(missing.code, 78);
    const noAccount = await sendmail(
      ["--config", plain, "--account", "nosuch", "b@example.test"],
      "Subject: x\n\nx\n",
    );
    assert.equal(noAccount.code, 78);
    assert.match(noAccount.stderr, /no account "nosuch" \(accounts: local, default\)/);
  });

  describe("sysexits (API.md §3.1), each compared with real msmtp on the same account", () => {
    /** Runs smtpkit sendmail and (when installed) msmtp with the same file and arguments. */
    const both = async (config: string, args: string[], askMsmtp: boolean) => {
      const input = "Subject: sysexits\n\nx\n";
      const ours = await sendmail(["--config", config, ...args], input);
      const theirs =
        MSMTP && askMsmtp ? await runProgram(MSMTP, ["-C", config, ...args], { input }) : undefined;
      return { ours, theirs };
    };
    const expect = async (
      config: string,
      args: string[],
      status: number,
      message: RegExp,
      askMsmtp = true,
    ) => {
      const { ours, theirs } = await both(config, args, askMsmtp);
      assert.equal(ours.code, status, ours.stderr);
      assert.match(ours.stderr, message);
      assert.equal(ours.stderr.trim().split("\n").length, 1, ours.stderr);
      if (theirs) assert.equal(theirs.code, status, `msmtp: ${theirs.stderr}`);
    };

    // msmtp 1.8.23 differs here: it exits 65 for a refused recipient and 69 for a 452; the contract follows
    // sendmail(8) (EX_NOUSER, and EX_TEMPFAIL so that the MUA retries), so msmtp is not asked
    it("67: the only recipient refused (550)", () =>
      expect(plain, ["reject@example.test"], 67, /550 5\.1\.1/, false));
    it("75: the only recipient refused temporarily (452)", () =>
      expect(plain, ["tempfail@example.test"], 75, /452 4\.2\.2/, false));
    it("77: wrong password", () =>
      expect(submission, ["--account", "wrong", "bob@example.test"], 77, /declined the credentials/));
    it("75: nothing listening on the port", async () => {
      const port = await freePort();
      const file = writeConfig(work.dir, "closed", [
        "account default",
        "host 127.0.0.1",
        `port ${port}`,
        "from a@example.test",
      ]);
      await expect(file, ["bob@example.test"], 75, /ECONNREFUSED/);
    });
    it("68: the host name does not resolve (.invalid never does)", async () => {
      const file = writeConfig(work.dir, "invalid", [
        "account default",
        "host smtp.invalid",
        "from a@example.test",
      ]);
      await expect(file, ["bob@example.test"], 68, /cannot resolve host "smtp\.invalid"/);
    });
    it("65: stdin holds no header block; 64: no recipient", async () => {
      const noHeader = await sendmail(
        ["--config", plain, "bob@example.test"],
        "just a line of text\n\nmore\n",
      );
      assert.equal(noHeader.code, 65);
      assert.match(noHeader.stderr, /does not start with a header block/);
      const empty = await sendmail(["--config", plain, "bob@example.test"], "");
      assert.equal(empty.code, 65);
      const none = await sendmail(["--config", plain], "Subject: x\n\nx\n");
      assert.equal(none.code, 64);
      const badRcpt = await sendmail(["--config", plain, "not an address"], "Subject: x\n\nx\n");
      assert.equal(badRcpt.code, 64);
      assert.equal((await postfix.delivered()).length, 0);
    });
  });

  it("send and probe take --account/--config (flags still win)", async () => {
    const sent = await smtpkit([
      "send",
      "--config",
      submission,
      "--to",
      "bob@example.test",
      "--subject",
      "acct",
      "--body",
      "x",
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d!.returnPath, "alice@example.test");
    const wrong = await smtpkit([
      "send",
      "--config",
      submission,
      "--account",
      "wrong",
      "--to",
      "bob@example.test",
      "--subject",
      "s",
      "--body",
      "x",
    ]);
    assert.equal(wrong.code, 28, wrong.stderr); // send keeps its swaks-style statuses
    const command = await smtpkit([
      "send",
      "--config",
      submission,
      "--account",
      "wrong",
      "--password-command",
      `printf '%s\\n' ${PASSWORD}`,
      "--to",
      "bob@example.test",
      "--subject",
      "s",
      "--body",
      "x",
    ]);
    assert.equal(command.code, 0, command.stderr);
    const probe = await smtpkit(["probe", "--config", plain, "--json"]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.equal(JSON.parse(probe.stdout).port, postfix.port);
    const flagWins = await smtpkit([
      "probe",
      "--config",
      plain,
      "--port",
      String(postfix.submissionPort),
      "--json",
    ]);
    assert.equal(JSON.parse(flagWins.stdout).port, postfix.submissionPort);
  });
});

describe("an account with auth xoauth2 and passwordeval (the output is the access token)", () => {
  it("authenticates with XOAUTH2 against smtp-server; the token is in no output", async () => {
    const TOKEN = "ya29.access-token-from-passwordeval";
    const server = await harness({ auth: { users: { alice: TOKEN }, methods: ["PLAIN", "XOAUTH2"] } });
    const dir = workDir("smtpkit-xoauth2-");
    defer(() => dir.remove());
    const config = writeConfig(dir.dir, "oauth", [
      "account default",
      "host localhost",
      `port ${server.port}`,
      "tls on",
      `tls_trust_file ${CA_FILE}`,
      "auth xoauth2",
      "user alice",
      `passwordeval "echo ${TOKEN}"`,
      "from alice@example.test",
    ]);
    const run = await smtpkit(["sendmail", "-v", "--config", config, "bob@example.test"], {
      input: "Subject: oauth\n\nx\n",
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^C: AUTH XOAUTH2 /m);
    assert.ok(!(run.stdout + run.stderr).includes(TOKEN));
    assert.deepEqual(server.authAttempts(), [{ method: "XOAUTH2", username: "alice", success: true }]);
    assert.equal((await server.waitForMessages(1)).length, 1);
  });
});

describe("smtpkit sendmail --help", () => {
  it("lists every sysexits status", async () => {
    const run = await smtpkit(["sendmail", "--help"]);
    assert.equal(run.code, 0);
    for (const code of [0, 64, 65, 67, 68, 69, 75, 76, 77, 78])
      assert.match(run.stdout, new RegExp(`^ +${code}  `, "m"));
  });
});

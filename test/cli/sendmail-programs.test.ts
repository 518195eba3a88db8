// Real programs that call a sendmail: git send-email (a threaded 3-patch series, --bcc), mutt in batch
// mode (an attachment), and mail(1) from bsd-mailx (cron-style) — all into a private Postfix, through
// `smtpkit sendmail` with an msmtprc account.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, beforeEach, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import { BIN, CA_FILE, runProgram } from "../helpers/cli-runner.js";
import { type PostfixServer, postfixUnavailableReason } from "../helpers/servers/postfix.js";
import { testServers } from "../helpers/test-servers.js";
import { header, headerLines, startPostfixKeepingBcc, workDir, writeConfig } from "./sendmail-helpers.js";

const PASSWORD = "git-Sends-Pa55word";
const { defer } = testServers();

/** Why a program cannot be used here, or false. */
const missing = (path: string, pkg: string): string | false =>
  existsSync(path) ? false : `${path} missing: apt-get install ${pkg}`;
const NO_POSTFIX = postfixUnavailableReason({ auth: true });

describe("programs that call sendmail", { skip: NO_POSTFIX ?? false }, () => {
  let postfix: PostfixServer;
  let work: ReturnType<typeof workDir>;
  let config: string;
  /** A HOME with the config at ~/.config/smtpkit/config (mail(1) passes no options). */
  let home: string;
  before(async () => {
    postfix = await startPostfixKeepingBcc({ alice: PASSWORD });
    defer(() => postfix.stop());
    work = workDir("smtpkit-programs-");
    defer(() => work.remove());
    const account = (name: string, password: string): string[] => [
      `account ${name}`,
      "host localhost",
      `port ${postfix.submissionPort}`,
      "tls on",
      `tls_trust_file ${CA_FILE}`,
      "auth on",
      "user alice",
      `passwordeval "echo ${password}"`,
      "from alice@example.test",
    ];
    config = writeConfig(work.dir, "msmtprc", [
      ...account("alice", PASSWORD),
      ...account("wrong", "not-the-password"),
      "account default : alice",
    ]);
    home = join(work.dir, "home");
    mkdirSync(join(home, ".config", "smtpkit"), { recursive: true });
    writeFileSync(join(home, ".config", "smtpkit", "config"), readFileSync(config), { mode: 0o600 });
  });
  beforeEach(() => postfix.clearDelivered());

  /** A git repository with three commits after the first. */
  const makeRepository = async (): Promise<string> => {
    const repo = join(work.dir, "repo");
    const git = (...args: string[]) =>
      runProgram("git", ["-C", repo, ...args], { env: { ...gitEnv, HOME: home } });
    mkdirSync(repo, { recursive: true });
    assert.equal((await git("init", "-q")).code, 0);
    for (const n of [0, 1, 2, 3]) {
      writeFileSync(join(repo, `file${n}.txt`), `change ${n}\n.\nline after a lone dot\n`);
      await git("add", ".");
      assert.equal((await git("commit", "-q", "-m", `change ${n}`)).code, 0);
    }
    return repo;
  };
  const gitEnv = {
    GIT_AUTHOR_NAME: "Alice Example",
    GIT_AUTHOR_EMAIL: "alice@example.test",
    GIT_COMMITTER_NAME: "Alice Example",
    GIT_COMMITTER_EMAIL: "alice@example.test",
    GIT_CONFIG_NOSYSTEM: "1",
  };
  const sendEmail = (repo: string, account: string) =>
    runProgram(
      "git",
      [
        "-C",
        repo,
        "send-email",
        `--sendmail-cmd=${process.execPath} ${BIN} sendmail --config ${config} --account ${account}`,
        "--from=Alice Example <alice@example.test>",
        "--to=list@example.test",
        "--bcc=secret@example.test",
        "--suppress-cc=all",
        "--confirm=never",
        "--quiet",
        "--thread",
        "--no-chain-reply-to",
        "-3",
      ],
      { env: { ...gitEnv, HOME: home } },
    );

  it("git send-email: a 3-patch series arrives threaded with git's headers; --bcc delivered and in no header", {
    skip: missing("/usr/lib/git-core/git-send-email", "git-email"),
  }, async () => {
    const repo = await makeRepository();
    const run = await sendEmail(repo, "alice");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const delivered = await postfix.waitForDelivery(6);
    const byRecipient = (r: string) => delivered.filter((d) => d.recipient === r);
    assert.equal(byRecipient("list@example.test").length, 3);
    assert.equal(byRecipient("secret@example.test").length, 3);
    const list = byRecipient("list@example.test").map((d) => d.message);
    const subjects = list.map((m) => header(m, "Subject")).sort();
    assert.deepEqual(subjects, ["[PATCH 1/3] change 1", "[PATCH 2/3] change 2", "[PATCH 3/3] change 3"]);
    const first = list.find((m) => header(m, "Subject")!.includes("1/3"))!;
    const firstId = header(first, "Message-ID")!;
    assert.match(firstId, /^<.+@.+>$/);
    for (const m of list) {
      // git's own Message-ID kept (not replaced), the others answer the first
      assert.equal(headerLines(m).filter((l) => /^message-id:/i.test(l)).length, 1);
      if (m !== first) {
        assert.equal(header(m, "In-Reply-To"), firstId);
        assert.match(header(m, "References") ?? "", new RegExp(firstId.replace(/[.+]/g, "\\$&")));
      }
      assert.ok(!m.toString().toLowerCase().includes("secret@example.test"), "Bcc in a header");
      assert.match(m.toString(), /^\+change \d\n\+\.\n\+line after a lone dot$/m);
    }
  });

  it("git send-email: a wrong password is reported by git as a failure", {
    skip: missing("/usr/lib/git-core/git-send-email", "git-email"),
  }, async () => {
    const repo = join(work.dir, "repo");
    if (!existsSync(repo)) await makeRepository();
    const run = await sendEmail(repo, "wrong");
    // git's "close $sm or die" ends git send-email with the sendmail's own status, after our one line
    assert.equal(run.code, 77, run.stderr);
    assert.match(run.stderr, /^smtpkit sendmail: .*declined the credentials: 535 /m);
    assert.match(run.stderr, /^Died at .*git-send-email/m);
    assert.ok(!(run.stdout + run.stderr).includes("not-the-password"));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await postfix.delivered()).length, 0);
  });

  it("mutt in batch mode sends a message with an attachment; it arrives and parses", {
    skip: missing("/usr/bin/mutt", "mutt"),
  }, async () => {
    const muttrc = join(work.dir, "muttrc");
    writeFileSync(
      muttrc,
      [
        `set sendmail="${process.execPath} ${BIN} sendmail --config ${config}"`,
        'set from="Alice Example <alice@example.test>"',
        "set use_from=yes",
        "set use_envelope_from=yes",
        'set record=""',
        "set charset=utf-8",
        "set send_charset=utf-8",
        "",
      ].join("\n"),
    );
    const attachment = CA_FILE; // a real file: the test CA's PEM certificate
    const run = await runProgram(
      "mutt",
      ["-n", "-F", muttrc, "-s", "Grüße from mutt", "-a", attachment, "--", "bob@example.test"],
      { input: "Hello from mutt's batch mode.\n", env: { HOME: home, MAIL: join(work.dir, "mbox") } },
    );
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(d!.returnPath, "alice@example.test");
    const parsed = await simpleParser(d!.message);
    assert.equal(parsed.subject, "Grüße from mutt");
    assert.equal(parsed.text?.trim(), "Hello from mutt's batch mode.");
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]!.filename, "ca.pem");
    assert.deepEqual(parsed.attachments[0]!.content, readFileSync(attachment));
    assert.match(header(d!.message, "Message-ID") ?? "", /^<.+>$/);
  });

  it("mail(1) (bsd-mailx) with its sendmail variable on the symlink: the cron-style message arrives", {
    skip: missing("/usr/bin/bsd-mailx", "bsd-mailx"),
  }, async () => {
    const mailrc = join(work.dir, "mailrc");
    writeFileSync(mailrc, `set sendmail=${work.sendmail}\n`);
    const output = "cron job output\nline 2\n";
    const run = await runProgram("/usr/bin/bsd-mailx", ["-s", "cron: nightly backup", "bob@example.test"], {
      input: output,
      env: { HOME: home, MAILRC: mailrc, XDG_CONFIG_HOME: join(home, ".config") },
    });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const [d] = await postfix.waitForDelivery(1);
    assert.equal(header(d!.message, "Subject"), "cron: nightly backup");
    assert.equal(header(d!.message, "To"), "bob@example.test");
    assert.match(header(d!.message, "Date") ?? "", /\d{4} \d\d:\d\d:\d\d/);
    assert.match(d!.message.toString(), /\n\ncron job output\nline 2\n/);
  });
});

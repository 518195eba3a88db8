// The built CLI against a real MTA: a private Postfix with Dovecot SASL (skipped where it cannot run).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { CA_FILE, oneLine, smtpkit } from "../helpers/cli-runner.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { testServers } from "../helpers/test-servers.js";

const PASSWORD = "s3cret-Pa55word-for-tests";
const USERS = { alice: PASSWORD };

const { defer } = testServers();

const NO_POSTFIX = postfixUnavailableReason({ auth: true });

describe("against Postfix + Dovecot (a real MTA)", { skip: NO_POSTFIX ?? false }, () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({ auth: { users: USERS }, implicitTls: true, submission: true });
    defer(() => postfix.stop());
  });
  const base = (port: number): string[] => [
    "--host",
    "localhost",
    "--port",
    String(port),
    "--tls-ca",
    CA_FILE,
  ];
  const message = ["--from", "alice@example.test", "--to", "bob@example.test", "--subject", "via Postfix"];
  const asAlice = ["--user", "alice", "--password-env", "PW"];
  /** `send` to `port` with `options`, the common message and `body`, then `rest`. */
  const send = (port: number, options: string[], body: string, ...rest: string[]): string[] => [
    "send",
    ...base(port),
    ...options,
    ...message,
    "--body",
    body,
    ...rest,
  ];

  it("send: STARTTLS + AUTH (the strongest mechanism: SCRAM-SHA-256) on the submission port", async () => {
    const run = await smtpkit(send(postfix.submissionPort!, asAlice, "hi", "--verbose"), {
      env: { PW: PASSWORD },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^C: AUTH SCRAM-SHA-256 /m);
    assert.ok(!run.stderr.includes(PASSWORD));
    const [delivered] = await postfix.waitForDelivery(1);
    assert.match(delivered!.message.toString(), /^Subject: via Postfix$/m);
  });

  it("send: implicit TLS on the wrapper-mode port; a wrong password exits 28", async () => {
    const ok = await smtpkit(send(postfix.implicitTlsPort!, ["--security", "tls", ...asAlice], "x"), {
      env: { PW: PASSWORD },
    });
    assert.equal(ok.code, 0, ok.stderr);
    const wrong = await smtpkit(
      send(postfix.submissionPort!, [...asAlice, "--auth", "plain"], "x", "--verbose"),
      {
        env: { PW: "not-the-Password-42" },
      },
    );
    assert.equal(wrong.code, 28, wrong.stderr);
    assert.ok(!(wrong.stdout + wrong.stderr).includes("not-the-Password-42"));
  });

  it("send: the wrong TLS mode on each port says what to change; a refused recipient exits 24", async () => {
    const tlsToPlain = await smtpkit(send(postfix.port, ["--security", "tls"], "x"));
    assert.equal(tlsToPlain.code, 29);
    assert.match(oneLine(tlsToPlain), /use --security starttls/);
    const plainToTls = await smtpkit(send(postfix.implicitTlsPort!, ["--timeout", "700"], "x"));
    assert.equal(plainToTls.code, 21);
    assert.match(oneLine(plainToTls), /use --security tls/);
    const refused = await smtpkit([
      "send",
      ...base(postfix.port),
      ...message.slice(0, 2),
      "--to",
      "reject@example.test",
      "--subject",
      "s",
      "--body",
      "x",
    ]);
    assert.equal(refused.code, 24, refused.stderr);
    assert.match(oneLine(refused), /550 5\.1\.1/);
  });

  it("probe: Postfix's greeting, AUTH only after TLS, TLS details", async () => {
    const run = await smtpkit(["probe", ...base(postfix.port), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.match(report.greeting.text, /ESMTP/);
    assert.deepEqual(report.beforeTls.auth, []); // smtpd_tls_auth_only
    assert.ok(report.afterTls.auth.includes("SCRAM-SHA-256"));
    assert.equal(report.tls.verified, true);
    assert.match(report.tls.certificate.subject, /CN=localhost/);
  });
});

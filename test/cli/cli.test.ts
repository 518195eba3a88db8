// Spawns the BUILT command (dist/cli/main.js, from `npm run build`) against servers the tests start.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BIN, CA_FILE, oneLine, smtpkit } from "../helpers/cli-runner.js";
import { startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { fixturePath, freePort } from "../helpers/servers/common.js";
import { testServers } from "../helpers/test-servers.js";

const PASSWORD = "s3cret-Pa55word-for-tests";
const USERS = { alice: PASSWORD };

const { harness: smtpServer, defer } = testServers();
let tmp: string;
before(() => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first`);
  tmp = mkdtempSync(join(tmpdir(), "smtpkit-cli-"));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function sendArgs(port: number, extra: string[] = []): string[] {
  return [
    "send",
    ...["--host", "localhost", "--port", String(port), "--tls-ca", CA_FILE],
    ...["--from", "Alice <alice@example.com>", "--to", "bob@example.com", "--subject", "from the CLI"],
    ...extra,
  ];
}

describe("smtpkit --help", () => {
  it("lists the commands and every exit status", async () => {
    const run = await smtpkit(["--help"]);
    assert.equal(run.code, 0);
    for (const word of ["send", "probe", "demo"]) assert.match(run.stdout, new RegExp(`smtpkit ${word}`));
    for (const code of [0, 2, 21, 22, 23, 24, 25, 26, 28, 29, 32, 64, 66, 78]) {
      assert.match(run.stdout, new RegExp(`^\\s+${code}  \\S`, "m"), `exit status ${code} not listed`);
    }
  });
});

describe("smtpkit send", () => {
  it("STARTTLS + AUTH with --password-env, --json prints the SendResult", async () => {
    const server = await smtpServer({ auth: { users: USERS, required: true } });
    const run = await smtpkit(
      sendArgs(server.port, [
        "--user",
        "alice",
        "--password-env",
        "SMTPKIT_PW",
        "--body",
        "hello\n",
        "--json",
      ]),
      { env: { SMTPKIT_PW: PASSWORD } },
    );
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      accepted: string[];
      messageId: string;
      reply: { code: number };
    };
    assert.deepEqual(result.accepted, ["bob@example.com"]);
    assert.equal(result.reply.code, 250);
    const [message] = await server.waitForMessages(1);
    assert.equal(message!.user, "alice");
    assert.equal(message!.secure, true);
    assert.match(message!.raw.toString(), new RegExp(`^Message-ID: ${result.messageId}\\r$`, "m"));
  });

  it("to aiosmtpd (a real server): STARTTLS + AUTH LOGIN, --password-file, the body from stdin", async () => {
    const server = await startAiosmtpd({ starttls: true, auth: { users: USERS } });
    defer(() => server.stop());
    const file = join(tmp, "password");
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    const run = await smtpkit(
      [
        ...["send", "--host", "localhost", "--port", String(server.port), "--tls-ca", CA_FILE],
        ...["--user", "alice", "--password-file", file, "--auth", "login"],
        ...[
          "--from",
          "alice@example.com",
          "--to",
          "bob@example.com",
          "--cc",
          "carol@example.com",
          "--subject",
          "stdin",
        ],
      ],
      { input: "line one\n.line with a dot\n" },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^sent <[^>]+> to bob@example\.com, carol@example\.com: 250/);
    const [message] = await server.waitForMessages(1);
    assert.equal(message!.authUser, "alice");
    assert.equal(message!.tls, true);
    assert.match(message!.content.toString(), /\r\n\r\nline one\r\n\.line with a dot\r\n$/);
  });

  it("a refused recipient: exit 24, one line with the server's reply", async () => {
    const server = await smtpServer({});
    const run = await smtpkit(
      sendArgs(server.port, ["--body", "x"]).map((a) => (a === "bob@example.com" ? "reject@example.com" : a)),
    );
    assert.equal(run.code, 24, run.stderr);
    const line = oneLine(run);
    assert.match(line, /recipients failed/);
    assert.match(line, /550/);
  });

  it("a wrong password: exit 28; the password is in neither stdout nor stderr, even with --verbose", async () => {
    const server = await smtpServer({ auth: { users: USERS } });
    const wrong = "Wr0ng-but-secret-value";
    for (const mech of ["plain", "login"]) {
      const run = await smtpkit(
        sendArgs(server.port, [
          "--user",
          "alice",
          "--password-env",
          "PW",
          "--auth",
          mech,
          "--body",
          "x",
          "--verbose",
        ]),
        { env: { PW: wrong } },
      );
      assert.equal(run.code, 28, run.stderr);
      assert.match(run.stderr, /^C: AUTH /m); // the transcript is there
      assert.match(run.stderr, /535/);
      const seen = run.stdout + run.stderr;
      for (const form of [
        wrong,
        Buffer.from(wrong).toString("base64"),
        Buffer.from(`\0alice\0${wrong}`).toString("base64"),
      ]) {
        assert.ok(!seen.includes(form), `the password leaked (${mech}): ${form}`);
      }
      assert.match(run.stderr.trim().split("\n").at(-1)!, /^smtpkit send: auth failed: .*535/);
    }
  });

  it("--password on the command line is refused with a usage error that says why (exit 64)", async () => {
    for (const flag of [["--password", "hunter2hunter2"], ["--password=hunter2hunter2"]]) {
      const run = await smtpkit(sendArgs(1, ["--user", "alice", ...flag, "--body", "x"]));
      assert.equal(run.code, 64);
      const line = oneLine(run);
      assert.match(line, /--password is refused/);
      assert.match(line, /--password-env/);
      assert.ok(!line.includes("hunter2hunter2"));
    }
  });

  it("the wrong TLS mode on each port says what to change", async () => {
    const plain = await smtpServer({});
    const implicit = await smtpServer({ secure: true });
    const toPlain = await smtpkit(sendArgs(plain.port, ["--security", "tls", "--body", "x"]));
    assert.equal(toPlain.code, 29);
    assert.match(oneLine(toPlain), /speaks plain SMTP.*use --security starttls/);
    const toImplicit = await smtpkit(sendArgs(implicit.port, ["--timeout", "500", "--body", "x"]));
    assert.equal(toImplicit.code, 21);
    assert.match(oneLine(toImplicit), /use --security tls/);
  });

  it("connect, input and configuration failures: exits 2, 66, 78, 64", async () => {
    const port = await freePort();
    const refused = await smtpkit(sendArgs(port, ["--body", "x"]));
    assert.equal(refused.code, 2);
    assert.match(oneLine(refused), /ECONNREFUSED/);
    const noFile = await smtpkit(sendArgs(port, ["--body-file", join(tmp, "missing.txt")]));
    assert.equal(noFile.code, 66);
    const noEnv = await smtpkit(
      sendArgs(port, ["--user", "a", "--password-env", "SMTPKIT_UNSET_VAR", "--body", "x"]),
    );
    assert.equal(noEnv.code, 78);
    assert.match(oneLine(noEnv), /SMTPKIT_UNSET_VAR/);
    const noTo = await smtpkit(["send", "--host", "localhost", "--from", "a@example.com", "--subject", "s"]);
    assert.equal(noTo.code, 64);
  });
});

describe("smtpkit probe", () => {
  it("reports greeting, extensions and auth before/after TLS, TLS version, certificate and SPKI pin", async () => {
    const server = await smtpServer({ auth: { users: USERS } });
    const leaf = new X509Certificate(readFileSync(fixturePath("localhost.pem")));
    const pin = createHash("sha256")
      .update(leaf.publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    const text = await smtpkit([
      "probe",
      "--host",
      "localhost",
      "--port",
      String(server.port),
      "--tls-ca",
      CA_FILE,
    ]);
    assert.equal(text.code, 0, text.stderr);
    for (const field of [
      "greeting",
      "before TLS",
      "after TLS",
      "extensions",
      "auth",
      "version",
      "subject",
      "issuer",
      "valid",
      "verifies",
      "SPKI sha256",
    ]) {
      assert.match(text.stdout, new RegExp(`^\\s*${field}\\b`, "m"), `no ${field} in:\n${text.stdout}`);
    }
    assert.match(text.stdout, new RegExp(`SPKI sha256\\s+${pin.replace(/[+/]/g, "\\$&")}$`, "m"));
    assert.match(text.stdout, /verifies\s+yes/);

    const json = await smtpkit([
      "probe",
      "--host",
      "localhost",
      "--port",
      String(server.port),
      "--tls-ca",
      CA_FILE,
      "--json",
    ]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.greeting.code, 220);
    assert.equal(report.beforeTls.starttls, true);
    assert.ok(report.afterTls.auth.includes("PLAIN"));
    assert.ok(report.afterTls.usableAuth.includes("PLAIN"));
    assert.equal(report.tls.via, "STARTTLS");
    assert.match(report.tls.protocol, /^TLSv1\.[23]$/);
    assert.equal(report.tls.verified, true);
    assert.equal(report.tls.certificate.subject, "CN=localhost");
    assert.equal(report.tls.certificate.issuer, "CN=smtpkit test CA");
    assert.equal(report.tls.certificate.spkiSha256, pin);
  });

  it("a certificate that does not verify is reported (with the reason) and exits 29", async () => {
    const server = await smtpServer({ secure: true });
    const run = await smtpkit([
      "probe",
      "--host",
      "127.0.0.1",
      "--port",
      String(server.port),
      "--security",
      "tls",
      "--json",
    ]);
    assert.equal(run.code, 29);
    const report = JSON.parse(run.stdout);
    assert.equal(report.tls.via, "implicit");
    assert.equal(report.tls.verified, false);
    assert.match(
      report.tls.verificationError,
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/,
    );
    assert.match(oneLine(run), /does not verify/);
  });
});

describe("smtpkit demo", () => {
  it("exits 0 and prints the transcript and the message as the server received it", async () => {
    const run = await smtpkit(["demo"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^C: STARTTLS$/m);
    assert.match(run.stdout, /^C: \(TLS established: TLSv1\.[23] /m);
    assert.match(run.stdout, /^C: AUTH PLAIN <redacted>$/m);
    assert.match(run.stdout, /^S: 235 /m);
    assert.match(run.stdout, /--- the message as the server received it/);
    assert.match(run.stdout, /authenticated as demo, over TLS/);
    assert.match(run.stdout, /^Subject: /m);
    assert.match(run.stdout, /^\.A line starting with a dot/m);
    assert.doesNotMatch(run.stdout, /^Bcc:/im);
  });
});

// smtpkit send: input checked before connecting (exit 64/66 at once, no connection), --json error
// objects, secrets never echoed (a --password-env value, credentials a server echoes), messages that name
// flags, --lmtp, an empty --subject, and the implicit-TLS hint after a few seconds of silence.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BIN, CA_FILE, oneLine, smtpkit } from "../helpers/cli-runner.js";
import { greetAndEhlo, type Step, scriptedServers } from "../helpers/script-server.js";
import { dovecotLmtpUnavailableReason, startDovecotLmtp } from "../helpers/servers/dovecot-lmtp.js";

const start = scriptedServers();
const NAME = "client.example";
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

let tmp: string;
let listener: net.Server;
let silentPort = 0;
let connections = 0;
before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first`);
  tmp = mkdtempSync(join(tmpdir(), "smtpkit-cli-polish-"));
  listener = net.createServer(() => {
    connections++; // and never a greeting: the socket stays silent until the client gives up
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  silentPort = (listener.address() as net.AddressInfo).port;
});
after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});

function send(port: number, extra: string[], base: { from?: string; to?: string; subject?: string } = {}) {
  return [
    "send",
    ...["--host", "127.0.0.1", "--port", String(port), "--client-name", NAME],
    ...["--from", base.from ?? "alice@example.com", "--to", base.to ?? "bob@example.com"],
    ...["--subject", base.subject ?? "hello"],
    ...extra,
  ];
}

/** A scripted plain session that delivers one message; the DATA section is recorded. */
function delivers(extensions: string[] = ["PIPELINING"]): Step[] {
  return [
    ...greetAndEhlo(extensions, NAME),
    { expect: "MAIL FROM:<alice@example.com>" },
    { expect: "RCPT TO:<bob@example.com>" },
    { expect: "DATA", reply: "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n" },
    { data: true, reply: "250 2.0.0 queued as X\r\n" },
    { expect: "QUIT", reply: "221 bye\r\n" },
  ];
}

describe("smtpkit send: bad input exits at once, before any connection", () => {
  const cases: [string, string[], { from?: string; to?: string; subject?: string }, number, RegExp][] = [
    [
      "two mailboxes in one --to",
      ["--body", "x"],
      { to: "bob@example.com, carol@example.com" },
      64,
      /--to: .*list/,
    ],
    [
      "CR/LF in --subject",
      ["--body", "x"],
      { subject: "hi\r\nBcc: eve@example.com" },
      64,
      /--subject contains/,
    ],
    [
      "a C1 control in --from's name",
      ["--body", "x"],
      { from: "Al\u0085ice <alice@example.com>" },
      64,
      /--from: /,
    ],
    ["a directory as --body-file", ["--body-file", "."], {}, 66, /--body-file \.: it is a directory/],
    ["a missing --body-file", ["--body-file", "/nonexistent/body.txt"], {}, 66, /ENOENT/],
  ];
  for (const [what, extra, base, code, message] of cases) {
    it(`${what}: exit ${code}, the flag named, no connection`, async () => {
      const before = connections;
      const run = await smtpkit(send(silentPort, ["--security", "none", ...extra], base));
      assert.equal(run.code, code, run.stderr);
      assert.match(oneLine(run), message);
      assert.equal(connections, before, "the CLI connected for input that could never be sent");
    });
  }

  it("--password-env with a value that is not a variable name: exit 64, the value never shown", async () => {
    const secret = "hunter2 is my password!";
    const run = await smtpkit(send(silentPort, ["--user", "alice", "--password-env", secret, "--body", "x"]));
    assert.equal(run.code, 64);
    assert.match(oneLine(run), /not an environment variable name/);
    assert.ok(!run.stderr.includes("hunter2") && !run.stdout.includes("hunter2"), run.stderr);
  });
});

describe("smtpkit send: failures, --json and --lmtp", () => {
  it("--json prints a JSON error object on failure (code, stage, reply, exit status)", async () => {
    const server = await start([
      ...greetAndEhlo(["PIPELINING"], NAME),
      { expect: "MAIL FROM:<alice@example.com>" },
      { expect: "RCPT TO:<bob@example.com>" },
      { expect: "DATA", reply: "250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n" },
      { expect: "RSET", reply: "250 ok\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const run = await smtpkit(send(server.port, ["--security", "none", "--body", "x", "--json"]));
    assert.equal(run.code, 24, run.stderr);
    const { error } = JSON.parse(run.stdout) as {
      error: { code: string; stage: string; exitStatus: number; rejected: { reply: { code: number } }[] };
    };
    assert.equal(error.code, "EENVELOPE");
    assert.equal(error.stage, "RCPT");
    assert.equal(error.exitStatus, 24);
    assert.equal(error.rejected[0]?.reply.code, 550);
    assert.match(oneLine(run), /no recipient accepted|550/);
  });

  it("--json with a usage error found while reading the flags: the error object too (exit 64)", async () => {
    const run = await smtpkit(["send", "--json", "--host", "127.0.0.1", "--no-such-flag"]);
    assert.equal(run.code, 64, run.stderr);
    const { error } = JSON.parse(run.stdout) as {
      error: { code: string; exitStatus: number; message: string };
    };
    assert.deepEqual([error.code, error.exitStatus], ["EUSAGE", 64]);
    assert.match(error.message, /no-such-flag/);
  });

  it("a server that echoes the AUTH argument: not on stderr (--verbose) nor in the --json error", async () => {
    const password = "Tr0ub4dor&3-horse";
    const plain = b64(`\0alice\0${password}`);
    const server = await start([
      ...greetAndEhlo(["STARTTLS"], NAME),
      { expect: "STARTTLS", reply: "220 go\r\n" },
      { tls: "localhost" },
      { expect: `EHLO ${NAME}`, reply: "250-test.example\r\n250 AUTH PLAIN\r\n" },
      { expect: `AUTH PLAIN ${plain}`, reply: `535 5.7.8 bad: ${plain}\r\n` },
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const run = await smtpkit(
      [
        "send",
        ...["--host", "localhost", "--port", String(server.port), "--client-name", NAME, "--tls-ca", CA_FILE],
        ...["--user", "alice", "--password-env", "PW", "--auth", "plain", "--verbose", "--json"],
        ...["--from", "alice@example.com", "--to", "bob@example.com", "--subject", "s", "--body", "x"],
      ],
      { env: { PW: password } },
    );
    assert.equal(run.code, 28, run.stderr);
    for (const secret of [plain, password, b64(password)]) {
      assert.ok(!run.stderr.includes(secret), `stderr leaks ${secret}:\n${run.stderr}`);
      assert.ok(!run.stdout.includes(secret), `stdout leaks ${secret}:\n${run.stdout}`);
    }
    assert.match(run.stdout, /<redacted>/);
  });

  it('--subject "" is allowed: an empty Subject is legal', async () => {
    const server = await start(delivers());
    const run = await smtpkit(send(server.port, ["--security", "none", "--body", "x"], { subject: "" }));
    assert.equal(run.code, 0, run.stderr);
    await server.done;
    assert.match(server.messages[0] ?? "", /^Subject: ?\r\n/m);
  });

  it("EHLO refused by an LMTP server: the advice is --lmtp; with --lmtp the message is delivered", async () => {
    const lmtpGreeting = { send: "220 mail.example LMTP Server ready\r\n" };
    const refusing = await start([
      lmtpGreeting,
      { expect: `EHLO ${NAME}`, reply: "500 5.5.1 Unknown command (LHLO expected)\r\n" },
      { expect: `HELO ${NAME}`, reply: "500 5.5.1 Unknown command\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const refused = await smtpkit(send(refusing.port, ["--security", "none", "--body", "x"]));
    assert.equal(refused.code, 22, refused.stderr);
    assert.match(oneLine(refused), /use --lmtp/);

    const server = await start([
      lmtpGreeting,
      { expect: `LHLO ${NAME}`, reply: "250-mail.example\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<alice@example.com>" },
      { expect: "RCPT TO:<bob@example.com>" },
      { expect: "DATA", reply: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { data: true, reply: "250 2.0.0 <bob@example.com> delivered\r\n" },
      { expect: "QUIT", reply: "221 bye\r\n" },
    ]);
    const run = await smtpkit(send(server.port, ["--security", "none", "--lmtp", "--body", "x"]));
    assert.equal(run.code, 0, run.stderr);
    await server.done;
  });

  it("a silent port (TLS first?) gets the --security tls hint after a few seconds, not only at the timeout", async () => {
    const run = await smtpkit(
      send(silentPort, ["--security", "starttls", "--timeout", "4500", "--body", "x"]),
    );
    assert.equal(run.code, 21, run.stderr);
    const lines = run.stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 2, run.stderr);
    assert.match(lines[0]!, /no greeting from port \d+ after 3 s; still waiting.*--security tls/);
    assert.match(lines[1]!, /greeting failed/);
  });

  it("Dovecot LMTP (a real server): without --lmtp the advice says so; with --lmtp it is delivered", {
    skip: dovecotLmtpUnavailableReason() ?? false,
  }, async () => {
    const server = await startDovecotLmtp();
    try {
      const refused = await smtpkit(send(server.port, ["--security", "none", "--body", "x"]));
      assert.equal(refused.code, 22, refused.stderr);
      assert.match(oneLine(refused), /LMTP server .*use --lmtp/);
      assert.doesNotMatch(refused.stderr, /--client-name/);
      const run = await smtpkit(send(server.port, ["--security", "none", "--lmtp", "--body", "hi\n"]));
      assert.equal(run.code, 0, run.stderr);
      const [stored] = await server.waitForDelivery(1);
      assert.match(stored?.message.toString("utf8") ?? "", /^Subject: hello$/m);
    } finally {
      await server.stop();
    }
  });
});

// The CLI with OAuth 2.0: --oauth2-* flags against a real token endpoint, and --password-command printing
// an access token (as msmtp users' token helpers do); every output and every process's argument list is
// searched for every secret.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BIN, CA_FILE, type Run, smtpkit } from "../helpers/cli-runner.js";
import { assertNoSecrets } from "../helpers/secrets.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { startTokenEndpoint, type TokenEndpoint } from "../helpers/token-endpoint.js";

const USER = "cli-mailbox@example.test";
const CLIENT_ID = "smtpkit-cli-client";
const CLIENT_SECRET = "cs.CLI-client-secret-never-shown-0815";

/** Every process's argument list (/proc/PID/cmdline, what `ps` shows to every user of the machine). */
function everyArgumentList(): string {
  const lists: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      lists.push(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // the process ended meanwhile
    }
  }
  return lists.join("\n");
}

describe("CLI with OAuth 2.0", () => {
  let endpoint: TokenEndpoint;
  let server: AiosmtpdServer;
  let dir: string;
  before(async () => {
    endpoint = await startTokenEndpoint({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    server = await startAiosmtpd({
      starttls: true,
      auth: { users: {}, tokenIntrospectionUrl: endpoint.introspectionUrl },
    });
    dir = mkdtempSync(join(tmpdir(), "smtpkit-oauth2-cli-"));
  });
  after(async () => {
    await server.stop();
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sendArgs = (...extra: string[]) => [
    "send",
    "--host",
    server.host,
    "--port",
    String(server.port),
    "--tls-ca",
    CA_FILE,
    "--user",
    USER,
    "--from",
    USER,
    "--to",
    "rcpt@example.test",
    "--subject",
    "oauth2 from the CLI",
    "--body",
    "hello",
    "--verbose",
    "--json",
    ...extra,
  ];
  const outputs = (run: Run) => [run.stdout, run.stderr];

  it("--oauth2-token-url/--oauth2-client-id/...-env: sent; no secret in stdout, stderr or any argument list", async () => {
    const refreshToken = endpoint.refreshTokenFor(USER);
    const before = endpoint.requests;
    endpoint.setDelay(700); // the CLI is waiting for its token while the argument lists are read
    let argLists = "";
    try {
      const running = smtpkit(sendArgs(...refreshTokenFlags(endpoint.url)), {
        env: { MY_CLIENT_SECRET: CLIENT_SECRET, MY_REFRESH_TOKEN: refreshToken },
      });
      await new Promise((r) => setTimeout(r, 400));
      argLists = everyArgumentList();
      const run = await running;
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { accepted: string[] };
      assert.deepEqual(result.accepted, ["rcpt@example.test"]);
      assert.match(run.stderr, /C: AUTH OAUTHBEARER/);
      assert.equal(endpoint.requests - before, 1);
      assert.equal(server.messages().at(-1)?.authUser, USER);
      assert.ok(argLists.includes(BIN), "the argument lists were read while smtpkit ran");
      const tokens = endpoint.issued().map((t) => t.token);
      assertNoSecrets([...outputs(run), argLists], [...tokens, refreshToken, CLIENT_SECRET]);
    } finally {
      endpoint.setDelay(0);
    }
  });

  it("--oauth2-* with a refresh token the endpoint refuses: exit 28 naming invalid_grant, no secret", async () => {
    const refreshToken = "rt.this-one-was-revoked-0123456789";
    const run = await smtpkit(sendArgs("--auth", "xoauth2", ...refreshTokenFlags(endpoint.url)), {
      env: { MY_CLIENT_SECRET: CLIENT_SECRET, MY_REFRESH_TOKEN: refreshToken },
    });
    assert.equal(run.code, 28, run.stderr);
    assert.match(run.stderr, /invalid_grant/);
    assert.doesNotMatch(run.stderr, /C: AUTH/);
    assertNoSecrets(outputs(run), [refreshToken, CLIENT_SECRET]);
  });

  it("usage errors: --oauth2-* with --auth plain, with --password-env, without a client id; a provider without tenant", async () => {
    const env = { MY_CLIENT_SECRET: CLIENT_SECRET };
    const base = ["--oauth2-token-url", endpoint.url, "--oauth2-client-id", CLIENT_ID];
    for (const extra of [
      ["--auth", "plain", ...base],
      ["--password-env", "MY_CLIENT_SECRET", ...base],
      ["--oauth2-token-url", endpoint.url],
      [
        "--oauth2-provider",
        "microsoft",
        "--oauth2-client-id",
        CLIENT_ID,
        "--oauth2-client-secret-env",
        "MY_CLIENT_SECRET",
      ],
      [
        "--oauth2-token-url",
        "http://login.example.test/token",
        "--oauth2-client-id",
        CLIENT_ID,
        "--oauth2-client-secret-env",
        "MY_CLIENT_SECRET",
      ],
    ]) {
      const run = await smtpkit(sendArgs(...extra), { env });
      assert.equal(run.code, 64, `${extra.join(" ")}: ${run.stderr}`);
      assertNoSecrets(outputs(run), [CLIENT_SECRET]);
    }
    const unset = await smtpkit(sendArgs(...base, "--oauth2-client-secret-env", "NOT_SET_ANYWHERE"));
    assert.equal(unset.code, 78, unset.stderr);
  });

  it("--auth xoauth2 --password-command CMD: the command's token is used; a refused one makes it run again", async () => {
    // a token helper as msmtp users have (oama, mutt_oauth2.py): secrets in its environment, the token on
    // stdout; on its first run it prints a revoked token, then fresh ones. It records every argument list.
    const helper = join(dir, "token-helper.mjs");
    const state = join(dir, "runs");
    const psOut = join(dir, "ps.txt");
    writeFileSync(state, "");
    writeFileSync(
      helper,
      `#!${process.execPath}
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
const runs = readFileSync(process.env.STATE, "utf8").length;
appendFileSync(process.env.STATE, "x");
for (const pid of readdirSync("/proc").filter((n) => /^\\d+$/.test(n))) {
  try { appendFileSync(process.env.PS_OUT, readFileSync("/proc/" + pid + "/cmdline", "utf8").replaceAll("\\0", " ") + "\\n"); } catch {}
}
const res = await fetch(process.env.TOKEN_URL, { method: "POST", body: new URLSearchParams({
  grant_type: "refresh_token", client_id: process.env.CLIENT_ID, client_secret: process.env.CLIENT_SECRET,
  refresh_token: process.env.REFRESH_TOKEN }) });
const { access_token } = await res.json();

console.log(runs === 0 ? process.env.REVOKED : access_token);
console.log("second line, ignored");
`,
    );
    chmodSync(helper, 0o700);
    // a token the server will refuse: issued, then revoked
    const refreshToken = endpoint.refreshTokenFor(USER);
    const revoked = await fetchToken(endpoint.url, refreshToken);
    endpoint.revoke(revoked);
    const run = await smtpkit(sendArgs("--auth", "xoauth2", "--password-command", helper), {
      env: {
        STATE: state,
        PS_OUT: psOut,
        TOKEN_URL: endpoint.url,
        CLIENT_ID,
        CLIENT_SECRET,
        REFRESH_TOKEN: refreshToken,
        REVOKED: revoked,
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(state, "utf8"), "xx", "the helper ran twice: first token refused, second sent");
    const authLines = run.stderr.split("\n").filter((l) => /^C: AUTH XOAUTH2/.test(l));
    assert.equal(authLines.length, 2, run.stderr);
    const argLists = readFileSync(psOut, "utf8");
    assert.ok(argLists.includes(helper), "the argument lists were read while the helper ran");
    const tokens = endpoint.issued().map((t) => t.token);
    assertNoSecrets([...outputs(run), argLists], [...tokens, refreshToken, CLIENT_SECRET]);
  });

  it("--password-command that fails, or prints nothing: exit 78, its output not quoted", async () => {
    const failing = await smtpkit(
      sendArgs("--auth", "oauthbearer", "--password-command", "echo at.leaked-if-shown; exit 3"),
    );
    assert.equal(failing.code, 78, failing.stderr);
    assert.match(failing.stderr, /--password-command failed: exit status 3/);
    assert.doesNotMatch(failing.stdout + failing.stderr, /at\.leaked-if-shown/);
    const silent = await smtpkit(sendArgs("--auth", "plain", "--password-command", "true"));
    assert.equal(silent.code, 78, silent.stderr);
    assert.match(silent.stderr, /printed nothing/);
  });
});

/** The flags of the refresh_token grant against the test endpoint; the secrets come from MY_* variables. */
function refreshTokenFlags(tokenUrl: string): string[] {
  return [
    "--oauth2-token-url",
    tokenUrl,
    "--oauth2-client-id",
    CLIENT_ID,
    "--oauth2-client-secret-env",
    "MY_CLIENT_SECRET",
    "--oauth2-refresh-token-env",
    "MY_REFRESH_TOKEN",
  ];
}

async function fetchToken(url: string, refreshToken: string): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "refresh_token",
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: refreshToken,
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

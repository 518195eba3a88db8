// OAuth 2.0 end to end: a real RFC 6749 token endpoint (test/helpers/token-endpoint.ts) and aiosmtpd that
// accepts only the tokens that endpoint issued and has not seen expire or revoked (RFC 7662 introspection).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { IssuedToken, OAuth2Options } from "../../src/index.js";
import { type ConnectOptions, connect, SMTP, sendMail } from "../../src/index.js";
import type { TranscriptEntry } from "../../src/types.js";
import { rejectsWith } from "../helpers/assertions.js";
import { assertNoSecrets } from "../helpers/secrets.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { sleep } from "../helpers/servers/common.js";
import { startTokenEndpoint, type TokenEndpoint } from "../helpers/token-endpoint.js";

const USER = "mailbox@example.test";
const APP_MAILBOX = "noreply@example.test";
const CLIENT_ID = "smtpkit-test-client";
const CLIENT_SECRET = "cs.Very-Secret-Client-Secret-4711";

interface Harness {
  endpoint: TokenEndpoint;
  server: AiosmtpdServer;
}

async function startHarness(endpointOptions: { expiresIn?: number; rotateRefreshTokens?: boolean } = {}) {
  const endpoint = await startTokenEndpoint({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    appMailboxes: [APP_MAILBOX],
    ...endpointOptions,
  });
  const server = await startAiosmtpd({
    starttls: true,
    pipelining: true,
    auth: { users: {}, tokenIntrospectionUrl: endpoint.introspectionUrl },
  });
  return { endpoint, server };
}

function options(
  h: Harness,
  oauth2: Partial<OAuth2Options>,
  entries: TranscriptEntry[],
  type?: number,
): ConnectOptions {
  return {
    host: h.server.host,
    port: h.server.port,
    security: "starttls",
    tls: { ca: h.server.ca },
    logger: (e) => entries.push(e),
    auth: {
      username: USER,
      type,
      oauth2: { tokenUrl: h.endpoint.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...oauth2 },
    },
  };
}

const mail = (subject: string) => ({ from: USER, to: "rcpt@example.test", subject, content: "hello\r\n" });
const transcript = (entries: TranscriptEntry[]) => entries.map((e) => `${e.direction}: ${e.line}`);
const tokensOf = (h: Harness) => h.endpoint.issued().map((t) => t.token);
const sha256Prefix = (token: string) => createHash("sha256").update(token).digest("hex").slice(0, 16);

/** No AUTH command in the transcript: the failure came before the client said anything about a token. */
function assertNoAuthSent(entries: TranscriptEntry[]): void {
  assert.ok(!entries.some((e) => e.direction === "C" && /^AUTH/i.test(e.line)), "no AUTH line");
}

/**
 * Runs `attempt` while the token endpoint takes 3 s to answer: it must be over well before that (the client
 * did not wait for the slow endpoint) and send no AUTH.
 */
async function whileEndpointIsSlow(
  h: Harness,
  attempt: (refreshToken: string, entries: TranscriptEntry[]) => Promise<void>,
): Promise<void> {
  const refreshToken = h.endpoint.refreshTokenFor(USER);
  const entries: TranscriptEntry[] = [];
  h.endpoint.setDelay(3000);
  const started = Date.now();
  try {
    await attempt(refreshToken, entries);
  } finally {
    h.endpoint.setDelay(0);
  }
  assert.ok(Date.now() - started < 2500, "did not wait for the slow endpoint");
  assertNoAuthSent(entries);
}

describe("OAuth 2.0 against a token endpoint and aiosmtpd", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.server.stop();
    await h.endpoint.close();
  });

  for (const [name, type] of [
    ["OAUTHBEARER (the default when offered)", undefined],
    ["XOAUTH2", SMTP.AUTH_XOAUTH2],
  ] as const) {
    it(`${name}: the first send fetches one token, the next send reuses it`, async () => {
      const refreshToken = h.endpoint.refreshTokenFor(USER);
      const before = h.endpoint.requests;
      const attemptsBefore = h.server.tokenAuthAttempts().length;
      const entries: TranscriptEntry[] = [];
      const result = await sendMail({ ...options(h, { refreshToken }, entries, type), ...mail("first") });
      assert.deepEqual(result.accepted, ["rcpt@example.test"]);
      await sendMail({ ...options(h, { refreshToken }, entries, type), ...mail("second") });
      assert.equal(h.endpoint.requests - before, 1, "one token request for two sends");
      const attempts = h.server.tokenAuthAttempts().slice(attemptsBefore);
      assert.deepEqual(
        attempts.map((a) => [a.mechanism, a.user, a.ok]),
        Array(2).fill([type === SMTP.AUTH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER", USER, true]),
      );
      const received = h.server.messages().slice(-2);
      assert.deepEqual(
        received.map((m) => m.authUser),
        [USER, USER],
      );
      assert.ok(entries.some((e) => /^AUTH (XOAUTH2|OAUTHBEARER)/.test(e.line)));
      // the token request is not logged
      assert.ok(!entries.some((e) => /grant_type|client_secret|refresh_token/.test(e.line)));
      assertNoSecrets(transcript(entries), [...tokensOf(h), refreshToken, CLIENT_SECRET]);
    });
  }

  it("20 concurrent connections make one token request", async () => {
    const refreshToken = h.endpoint.refreshTokenFor(USER);
    const before = h.endpoint.requests;
    const attemptsBefore = h.server.tokenAuthAttempts().length;
    h.endpoint.setDelay(200); // all 20 ask while the first request is still out
    try {
      const entries: TranscriptEntry[] = [];
      const sessions = await Promise.all(
        Array.from({ length: 20 }, () => connect(options(h, { refreshToken }, entries))),
      );
      await Promise.all(sessions.map((s) => s.close()));
    } finally {
      h.endpoint.setDelay(0);
    }
    assert.equal(h.endpoint.requests - before, 1);
    const attempts = h.server.tokenAuthAttempts().slice(attemptsBefore);
    assert.equal(attempts.length, 20);
    assert.ok(attempts.every((a) => a.ok));
  });

  for (const [name, type, mechanism] of [
    ["XOAUTH2", SMTP.AUTH_XOAUTH2, "XOAUTH2"],
    ["OAUTHBEARER", SMTP.AUTH_OAUTHBEARER, "OAUTHBEARER"],
  ] as const) {
    it(`${name}: a token revoked on the server is refreshed once, AUTH retried on the same connection, sent`, async () => {
      const refreshToken = h.endpoint.refreshTokenFor(USER);
      const entries: TranscriptEntry[] = [];
      await sendMail({ ...options(h, { refreshToken }, entries, type), ...mail("before") });
      const cached = h.endpoint.issued().at(-1)!.token;
      h.endpoint.revoke(cached);
      const before = h.endpoint.requests;
      const attemptsBefore = h.server.tokenAuthAttempts().length;
      entries.length = 0;
      const result = await sendMail({ ...options(h, { refreshToken }, entries, type), ...mail("after") });
      assert.deepEqual(result.accepted, ["rcpt@example.test"]);
      assert.equal(h.endpoint.requests - before, 1, "one refresh");
      assert.deepEqual(
        h.server
          .tokenAuthAttempts()
          .slice(attemptsBefore)
          .map((a) => [a.mechanism, a.ok]),
        [
          [mechanism, false],
          [mechanism, true],
        ],
      );
      // one connection: one greeting, two AUTH commands, the 334 error exchange in between
      const lines = transcript(entries);
      assert.equal(lines.filter((l) => /^S: 220 /.test(l)).length, 2, lines.join("\n")); // greeting + STARTTLS
      assert.equal(lines.filter((l) => /^C: AUTH /.test(l)).length, 2, lines.join("\n"));
      assert.ok(lines.some((l) => /^S: 535 /.test(l)));
      assertNoSecrets(lines, [...tokensOf(h), refreshToken, CLIENT_SECRET]);
    });
  }

  it("a token refused twice (the mailbox is not the token's) is EAUTH with the server's reason", async () => {
    const refreshToken = h.endpoint.refreshTokenFor("someone-else@example.test");
    const before = h.endpoint.requests;
    const entries: TranscriptEntry[] = [];
    const error = await rejectsWith(
      sendMail({ ...options(h, { refreshToken }, entries, SMTP.AUTH_XOAUTH2), ...mail("x") }),
      "EAUTH",
      "AUTH",
    );
    assert.match(error.message, /535 5\.7\.8 Username and Password not accepted/);
    assert.equal(error.reply?.code, 535);
    assert.equal(h.endpoint.requests - before, 2, "the first token and one refresh, no more");
    assertNoSecrets(
      [error.message, JSON.stringify(error.reply), ...transcript(entries)],
      [...tokensOf(h), refreshToken, CLIENT_SECRET],
    );
  });

  it("invalid_grant is EAUTH naming it, and no AUTH is sent", async () => {
    const entries: TranscriptEntry[] = [];
    const attemptsBefore = h.server.tokenAuthAttempts().length;
    const refreshToken = "rt.revoked-or-never-issued-0123456789";
    const error = await rejectsWith(
      sendMail({ ...options(h, { refreshToken }, entries), ...mail("x") }),
      "EAUTH",
      "AUTH",
    );
    assert.match(error.message, /invalid_grant \(Token has been expired or revoked\.\)/);
    assert.match(error.message, /HTTP 400/);
    assert.equal(error.temporary, false);
    assert.equal(h.server.tokenAuthAttempts().length, attemptsBefore);
    assertNoAuthSent(entries);
    assertNoSecrets([error.message, ...transcript(entries)], [refreshToken, CLIENT_SECRET]);
  });

  it("client_credentials (app-only, as Microsoft 365): a token for the app's mailbox", async () => {
    const entries: TranscriptEntry[] = [];
    const before = h.endpoint.requestsFor("client_credentials");
    const opts = options(h, { scope: "https://outlook.office365.com/.default" }, entries);
    const result = await sendMail({
      ...opts,
      auth: { ...opts.auth!, username: APP_MAILBOX },
      ...mail("app"),
      from: APP_MAILBOX,
    });
    assert.deepEqual(result.accepted, ["rcpt@example.test"]);
    assert.equal(h.endpoint.requestsFor("client_credentials") - before, 1);
    assert.equal(h.server.messages().at(-1)?.authUser, APP_MAILBOX);
  });

  it("a slow token endpoint: EAUTH (temporary) at the timeout, no AUTH sent", async () => {
    await whileEndpointIsSlow(h, async (refreshToken, entries) => {
      const error = await rejectsWith(
        sendMail({ ...options(h, { refreshToken, timeout: 300 }, entries), ...mail("x") }),
        "EAUTH",
        "AUTH",
      );
      assert.match(error.message, /did not answer within 300 ms/);
      assert.equal(error.temporary, true);
    });
  });

  it("the caller's AbortSignal ends the wait for a slow token endpoint: EABORT, no AUTH", async () => {
    await whileEndpointIsSlow(h, async (refreshToken, entries) => {
      const signal = AbortSignal.timeout(300);
      await rejectsWith(connect({ ...options(h, { refreshToken }, entries), signal }), "EABORT");
    });
  });

  it("accessToken as a function: concurrent needs share one call; a refused token makes one more call", async () => {
    let calls = 0;
    let refresh = h.endpoint.refreshTokenFor(USER);
    // slow, as a real fetch can be: the five connections all ask while the first call is out
    let delay = 1000;
    const fetchToken = async () => {
      calls++;
      await sleep(delay);
      const res = await fetch(h.endpoint.url, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "refresh_token",
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          refresh_token: refresh,
        }),
      });
      const body = (await res.json()) as { access_token: string };
      return body.access_token;
    };
    const base = options(h, {}, []);
    const opts = { ...base, auth: { username: USER, accessToken: fetchToken } };
    const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(opts)));
    await Promise.all(sessions.map((s) => s.close()));
    assert.equal(calls, 1, "five concurrent connections, one call");
    delay = 0;
    // a bare string is not kept: the next connection asks again
    await (await connect(opts)).close();
    assert.equal(calls, 2);
    // the function hands out a revoked token first: it is called once more, and AUTH retried
    h.endpoint.revoke(h.endpoint.issued().at(-1)!.token);
    let first = true;
    const revokedFirst = async () => {
      if (first) {
        first = false;
        return h.endpoint.issued().at(-1)!.token;
      }
      return fetchToken();
    };
    refresh = h.endpoint.refreshTokenFor(USER);
    await (await connect({ ...opts, auth: { username: USER, accessToken: revokedFirst } })).close();
    assert.equal(calls, 3);
  });

  it("accessToken as a string the server refuses: EAUTH at once (it cannot be refreshed)", async () => {
    const entries: TranscriptEntry[] = [];
    const token = "at.not-issued-by-the-endpoint";
    const attemptsBefore = h.server.tokenAuthAttempts().length;
    const error = await rejectsWith(
      connect({ ...options(h, {}, entries), auth: { username: USER, accessToken: token } }),
      "EAUTH",
      "AUTH",
    );
    assert.equal(h.server.tokenAuthAttempts().length - attemptsBefore, 1);
    assert.match(error.message, /refused the access token: 535/);
    assertNoSecrets([error.message, ...transcript(entries)], [token]);
  });
});

describe("OAuth 2.0 token lifetime and rotation", () => {
  it("tokens that live 3 s are renewed before they expire: no failed AUTH over 7 s of sending", async () => {
    const h = await startHarness({ expiresIn: 3 });
    try {
      const refreshToken = h.endpoint.refreshTokenFor(USER);
      // when each AUTH was written (sends are sequential: in the same order as the server's attempts)
      const authSentAt: number[] = [];
      const opts = {
        ...options(h, { refreshToken }, []),
        logger: (e: TranscriptEntry) => {
          if (e.direction === "C" && e.line.startsWith("AUTH ")) authSentAt.push(Date.now());
        },
      };
      const end = Date.now() + 7000;
      let sent = 0;
      while (Date.now() < end) {
        await sendMail({ ...opts, ...mail(`n${sent}`) });
        sent++;
        await sleep(100);
      }
      const attempts = h.server.tokenAuthAttempts();
      assert.equal(attempts.length, sent);
      assert.ok(
        attempts.every((a) => a.ok),
        "every AUTH succeeded",
      );
      // each token was last used well before it expired: renewed halfway through its 3 s life, never
      // carried to the edge (where the server could see it expire between fetch and AUTH)
      const byHash = new Map(h.endpoint.issued().map((t) => [sha256Prefix(t.token), t]));
      assert.equal(authSentAt.length, attempts.length);
      attempts.forEach((a, i) => {
        const token = byHash.get(a.tokenSha256);
        assert.ok(token, "every token used was issued by the endpoint");
        const left = token.expiresAt - (authSentAt[i] ?? 0);
        assert.ok(left > 1000, `a token sent ${left} ms before it expired`);
      });
      // renewed halfway through each 3 s life: about 7 / 1.5 tokens, never one per message
      assert.ok(
        h.endpoint.requests >= 3, // expiries at 3 s and 6 s
        `token requests: ${h.endpoint.requests}`,
      );
      assert.ok(sent > h.endpoint.requests * 2, `${sent} sends, ${h.endpoint.requests} tokens`);
    } finally {
      await h.server.stop();
      await h.endpoint.close();
    }
  });

  it("a rotated refresh token reaches onToken and is the one used for the next refresh", async () => {
    const h = await startHarness({ rotateRefreshTokens: true });
    try {
      const original = h.endpoint.refreshTokenFor(USER);
      const seen: IssuedToken[] = [];
      const entries: TranscriptEntry[] = [];
      const opts = options(h, { refreshToken: original, onToken: (t) => seen.push(t) }, entries);
      await sendMail({ ...opts, ...mail("one") });
      assert.equal(seen.length, 1);
      const firstRotation = seen[0]?.refreshToken;
      assert.ok(firstRotation && firstRotation !== original);
      assert.equal(seen[0]?.accessToken, h.endpoint.issued()[0]?.token);
      assert.ok(Math.abs((seen[0]?.expiresAt ?? 0) - (Date.now() + 3600_000)) < 10_000);
      // the server revokes the token: the refresh must use the rotated refresh token (the original is dead)
      h.endpoint.revoke(h.endpoint.issued()[0]!.token);
      await sendMail({ ...opts, ...mail("two") });
      assert.equal(seen.length, 2);
      assert.ok(seen[1]?.refreshToken && seen[1].refreshToken !== firstRotation);
      assert.equal(
        h.endpoint.bodies().filter((b) => b.includes(encodeURIComponent(firstRotation))).length,
        1,
      );
      assertNoSecrets(transcript(entries), [original, firstRotation, CLIENT_SECRET, ...tokensOf(h)]);
    } finally {
      await h.server.stop();
      await h.endpoint.close();
    }
  });
});

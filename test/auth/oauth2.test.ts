// The OAuth 2.0 token module without SMTP: options and presets, the token request's error handling
// (a real loopback HTTP server per case), and the cache's sharing and renewal.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { resolveOAuth2 } from "../../src/auth/oauth2/options.js";
import { requestToken } from "../../src/auth/oauth2/token-endpoint.js";
import { renewAt, tokenSourceFor } from "../../src/auth/oauth2/token-source.js";
import { SMTPError } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { freePort, sleep } from "../helpers/servers/common.js";
import { startTokenEndpoint, type TokenEndpoint } from "../helpers/token-endpoint.js";

const isInput = (error: unknown) => error instanceof SMTPError && error.code === "EINPUT";

describe("OAuth2 options and provider presets", () => {
  it("google: Google's token URL and the full-mail scope Gmail SMTP needs", () => {
    const c = resolveOAuth2({ provider: "google", clientId: "id", clientSecret: "s", refreshToken: "r" });
    assert.equal(c.url.href, "https://oauth2.googleapis.com/token");
    assert.equal(c.scope, "https://mail.google.com/");
    assert.equal(c.grant, "refresh_token");
  });

  it("microsoft: the tenant's v2.0 endpoint; SMTP.Send + offline_access for a user, .default for the app", () => {
    const user = resolveOAuth2({
      provider: "microsoft",
      tenant: "contoso.onmicrosoft.com",
      clientId: "id",
      refreshToken: "r",
    });
    assert.equal(
      user.url.href,
      "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
    );
    assert.equal(user.scope, "https://outlook.office.com/SMTP.Send offline_access");
    const app = resolveOAuth2({
      provider: "microsoft",
      tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "id",
      clientSecret: "s",
    });
    assert.equal(app.grant, "client_credentials");
    assert.equal(app.scope, "https://outlook.office365.com/.default");
    assert.equal(app.refreshToken, undefined);
  });

  it("microsoft needs a tenant that cannot change the URL's path", () => {
    for (const tenant of [undefined, "", "../evil", "a/b", "x?y", "t#z", "%2e%2e"])
      assert.throws(
        () => resolveOAuth2({ provider: "microsoft", tenant, clientId: "id", clientSecret: "s" }),
        isInput,
        String(tenant),
      );
  });

  it("tokenUrl: https, or http only to a loopback address literal; no credentials or fragment", () => {
    const ok = (tokenUrl: string) => resolveOAuth2({ tokenUrl, clientId: "id", clientSecret: "s" }).url.href;
    assert.equal(ok("https://idp.example/token"), "https://idp.example/token");
    assert.equal(ok("http://127.0.0.1:8080/token"), "http://127.0.0.1:8080/token");
    assert.equal(ok("http://127.1.2.3/token"), "http://127.1.2.3/token");
    assert.equal(ok("http://[::1]:9/token"), "http://[::1]:9/token");
    for (const bad of [
      "http://idp.example/token",
      "http://localhost/token",
      "http://128.0.0.1/token",
      "http://[::2]/token",
      "ftp://127.0.0.1/token",
      "https://user:pw@idp.example/token",
      "https://idp.example/token#x",
      "not a url",
    ])
      assert.throws(() => ok(bad), isInput, bad);
  });

  it("the grant: refresh_token needs refreshToken, client_credentials needs clientSecret; one source", () => {
    assert.throws(() => resolveOAuth2({ tokenUrl: "https://i.example/t", clientId: "id" }), isInput);
    assert.throws(
      () =>
        resolveOAuth2({
          tokenUrl: "https://i.example/t",
          clientId: "id",
          grant: "refresh_token",
          clientSecret: "s",
        }),
      isInput,
    );
    assert.throws(() => resolveOAuth2({ tokenUrl: "https://i.example/t", clientId: "" }), isInput);
    assert.throws(
      () => resolveOAuth2({ clientId: "id", clientSecret: "s" }),
      isInput,
      "no tokenUrl, no provider",
    );
    assert.throws(
      () => resolveOAuth2({ tokenUrl: "https://i.example/t", clientId: "id", clientSecret: "s", timeout: 0 }),
      isInput,
    );
  });

  it("renewal: 60 s before expiry, or halfway through a shorter life", () => {
    assert.equal(renewAt(1_000_000, 3_600_000), 940_000);
    assert.equal(renewAt(1_000_000, 120_000), 940_000);
    assert.equal(renewAt(1_000_000, 3_000), 998_500);
  });
});

/** A one-handler HTTP server on loopback for the token request's error paths. */
async function withServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  body: (url: string, hits: () => number) => Promise<void>,
): Promise<void> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on("end", () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, () => hits);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const json = (status: number, value: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(typeof value === "string" ? value : JSON.stringify(value));
};

const REFRESH = "rt.refresh-token-that-must-not-leak";
const SECRET = "cs.client-secret-that-must-not-leak";
const config = (url: string, timeout = 5000) =>
  resolveOAuth2({
    tokenUrl: `${url}/token`,
    clientId: "id",
    clientSecret: SECRET,
    refreshToken: REFRESH,
    timeout,
  });

describe("the token request", () => {
  it("HTTP 400 invalid_grant: EAUTH, permanent, names error and error_description, redacts an echoed secret", async () => {
    await withServer(
      json(400, {
        error: "invalid_grant",
        error_description: `AADSTS70008: refresh token ${REFRESH} has expired\r\nX`,
      }),
      async (url) => {
        const error = await rejectsWith(requestToken(config(url), REFRESH), "EAUTH", "AUTH");
        assert.match(
          error.message,
          /HTTP 400: invalid_grant \(AADSTS70008: refresh token <redacted> has expired X\)/,
        );
        assert.match(error.message, /sign in again/);
        assert.equal(error.temporary, false);
        assert.ok(!error.message.includes(REFRESH) && !error.message.includes(SECRET));
      },
    );
  });

  it("HTTP 503 and 429: EAUTH, temporary; a body that is not JSON says so", async () => {
    await withServer(json(503, "<html>down</html>"), async (url) => {
      const error = await rejectsWith(requestToken(config(url), REFRESH), "EAUTH");
      assert.match(error.message, /HTTP 503: no OAuth error in the response/);
      assert.equal(error.temporary, true);
    });
    await withServer(json(429, { error: "temporarily_unavailable" }), async (url) => {
      assert.equal((await rejectsWith(requestToken(config(url), REFRESH), "EAUTH")).temporary, true);
    });
  });

  it("a redirect is not followed (the form holds the secret)", async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(307, { location: "http://127.0.0.1:9/steal" });
        res.end();
      },
      async (url, hits) => {
        const error = await rejectsWith(requestToken(config(url), REFRESH), "EAUTH");
        assert.match(error.message, /redirect/);
        assert.equal(hits(), 1);
      },
    );
  });

  it("tokens that are not RFC 6750 b64tokens, or not Bearer, are refused: nothing junk goes into AUTH", async () => {
    for (const body of [
      { access_token: "abc\x01auth=Bearer x", token_type: "Bearer" },
      { access_token: "two words", token_type: "Bearer" },
      { access_token: "", token_type: "Bearer" },
      { token_type: "Bearer" },
      { access_token: "ok.token", token_type: "mac" },
      "[]",
    ]) {
      await withServer(json(200, body), async (url) => {
        await rejectsWith(requestToken(config(url), REFRESH), "EAUTH", "AUTH");
      });
    }
  });

  it("expires_in as a number or a numeric string; missing: an hour assumed", async () => {
    for (const [expiresIn, lifetime] of [
      [3599, 3_599_000],
      ["120", 120_000],
      [undefined, 3_600_000],
    ] as const) {
      await withServer(
        json(200, { access_token: "ya29.a0Af-token", token_type: "bearer", expires_in: expiresIn }),
        async (url) => {
          const t = await requestToken(config(url), REFRESH);
          assert.equal(t.accessToken, "ya29.a0Af-token");
          assert.equal(t.lifetime, lifetime);
          assert.ok(Math.abs(t.expiresAt - (Date.now() + lifetime)) < 2000);
          assert.equal(t.refreshToken, undefined);
        },
      );
    }
  });

  it("a response that never ends: EAUTH at the deadline; a closed port: EAUTH naming ECONNREFUSED", async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"access_token":'); // and nothing more
      },
      async (url) => {
        const started = Date.now();
        const error = await rejectsWith(requestToken(config(url, 300), REFRESH), "EAUTH");
        assert.match(error.message, /did not answer within 300 ms/);
        assert.ok(Date.now() - started < 2000);
      },
    );
    const closed = await freePort();
    const error = await rejectsWith(requestToken(config(`http://127.0.0.1:${closed}`), REFRESH), "EAUTH");
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(error.temporary, true);
  });
});

describe("the token cache", () => {
  let endpoint: TokenEndpoint;
  before(async () => {
    endpoint = await startTokenEndpoint({ clientId: "cache-client", clientSecret: SECRET, expiresIn: 1 });
  });
  after(() => endpoint.close());
  const oauth2 = (refreshToken: string) => ({
    tokenUrl: endpoint.url,
    clientId: "cache-client",
    clientSecret: SECRET,
    refreshToken,
  });

  it("50 concurrent needs, from 50 separate option objects with the same credentials: one request", async () => {
    const refreshToken = endpoint.refreshTokenFor("u@example.test");
    const before = endpoint.requests;
    endpoint.setDelay(100);
    try {
      const tokens = await Promise.all(
        Array.from({ length: 50 }, () => tokenSourceFor({ oauth2: oauth2(refreshToken) }).get()),
      );
      assert.equal(new Set(tokens).size, 1);
    } finally {
      endpoint.setDelay(0);
    }
    assert.equal(endpoint.requests - before, 1);
  });

  it("a token is fetched again once it is near its expiry (1 s token: after 0.5 s); other credentials get their own", async () => {
    const refreshToken = endpoint.refreshTokenFor("u@example.test");
    const source = tokenSourceFor({ oauth2: oauth2(refreshToken) });
    const before = endpoint.requests;
    const first = await source.get();
    assert.equal(await source.get(), first);
    await sleep(600);
    const second = await source.get();
    assert.notEqual(second, first);
    assert.equal(endpoint.requests - before, 2);
    const other = await tokenSourceFor({ oauth2: oauth2(endpoint.refreshTokenFor("v@example.test")) }).get();
    assert.notEqual(other, second);
    assert.equal(endpoint.requests - before, 3);
  });

  it("renew(refused): a new token; when another connection already renewed it, that one (no second request)", async () => {
    const refreshToken = endpoint.refreshTokenFor("u@example.test");
    const a = tokenSourceFor({ oauth2: oauth2(refreshToken) });
    const b = tokenSourceFor({ oauth2: oauth2(refreshToken) });
    const before = endpoint.requests;
    const refused = await a.get();
    const [renewedA, renewedB] = await Promise.all([a.renew(refused), b.renew(refused)]);
    assert.notEqual(renewedA, refused);
    assert.equal(renewedA, renewedB);
    assert.equal(await a.renew(refused), renewedA, "a late renew of the same refused token");
    assert.equal(endpoint.requests - before, 2);
  });

  it("a failed request is not cached: the next need asks again", async () => {
    const refreshToken = endpoint.refreshTokenFor("u@example.test");
    const source = tokenSourceFor({ oauth2: oauth2(refreshToken) });
    endpoint.setFailure({ status: 500, error: "server_error" });
    try {
      await rejectsWith(source.get(), "EAUTH");
    } finally {
      endpoint.setFailure(undefined);
    }
    assert.match(await source.get(), /^at\./);
  });

  it("onToken that throws: a warning, and the token is used", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const token = await tokenSourceFor({
        oauth2: {
          ...oauth2(endpoint.refreshTokenFor("u@example.test")),
          onToken: () => {
            throw new Error("disk full");
          },
        },
      }).get();
      assert.match(token, /^at\./);
      await sleep(10);
      assert.ok(warnings.some((w) => /onToken threw/.test(w)));
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("accessToken functions: expiresAt makes the result reusable; junk or a throw is EAUTH", async () => {
    let calls = 0;
    const fn = async () => {
      calls++;
      return { accessToken: `tok-${calls}`, expiresAt: Date.now() + 3_600_000 };
    };
    assert.equal(await tokenSourceFor({ accessToken: fn }).get(), "tok-1");
    assert.equal(await tokenSourceFor({ accessToken: fn }).get(), "tok-1");
    assert.equal(calls, 1);
    await rejectsWith(tokenSourceFor({ accessToken: async () => "a b" }).get(), "EAUTH");
    await rejectsWith(tokenSourceFor({ accessToken: async () => "a\x01b" }).get(), "EAUTH");
    const error = await rejectsWith(
      tokenSourceFor({
        accessToken: async () => {
          throw new Error("vault sealed");
        },
      }).get(),
      "EAUTH",
    );
    assert.equal((error.cause as Error).message, "vault sealed");
  });
});

// A pool running across token expiries: 2 000 messages through aiosmtpd, which accepts only tokens the
// test token endpoint issued and has not seen expire, while connections are replaced every 50 messages
// (each new one authenticates again) and tokens live 2 s. No message fails, no AUTH is refused, and every
// connection of the pool shares one token (one request per token lifetime, not one per connection).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { createPool } from "../../src/index.js";
import type { TranscriptEntry } from "../../src/types.js";
import { assertNoSecrets } from "../helpers/secrets.js";
import { startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { startTokenEndpoint } from "../helpers/token-endpoint.js";

const USER = "pool-sender@example.test";
const CLIENT_ID = "pool-client";
const CLIENT_SECRET = "cs.pool-client-secret-31337";
const MESSAGES = 2000;
const sha256Prefix = (token: string) => createHash("sha256").update(token).digest("hex").slice(0, 16);

describe("a pool with OAuth 2.0", () => {
  it("sends 2 000 messages across at least three token expiries with no failure", async () => {
    const endpoint = await startTokenEndpoint({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      expiresIn: 2,
    });
    const server = await startAiosmtpd({
      starttls: true,
      pipelining: true,
      auth: { users: {}, tokenIntrospectionUrl: endpoint.introspectionUrl },
    });
    const entries: TranscriptEntry[] = [];
    const refreshToken = endpoint.refreshTokenFor(USER);
    const pool = createPool({
      host: server.host,
      port: server.port,
      tls: { ca: server.ca },
      auth: {
        username: USER,
        oauth2: { tokenUrl: endpoint.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken },
      },
      logger: (e) => entries.push(e),
      maxConnections: 4,
      maxMessagesPerConnection: 50,
      // paced (8 s at least) so that the run spans several token lifetimes however fast the machine is
      rateLimit: { messages: 25, perMs: 100 },
    });
    try {
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: MESSAGES }, (_, i) =>
          pool.sendMail({
            from: USER,
            to: `rcpt${i % 7}@example.test`,
            subject: `pooled ${i}`,
            text: `message ${i}\n`,
          }),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      await pool.close();
      assert.equal(results.length, MESSAGES);
      assert.equal(pool.stats.sent, MESSAGES);
      assert.equal(pool.stats.failed, 0);
      await server.waitForMessages(MESSAGES, 10_000);

      const attempts = server.tokenAuthAttempts();
      console.log(
        `# oauth2 pool: ${MESSAGES} messages in ${seconds.toFixed(1)} s, ${attempts.length} AUTHs, ` +
          `${endpoint.requests} token requests (2 s tokens, shared machine)`,
      );
      assert.ok(attempts.length >= MESSAGES / 50, `${attempts.length} AUTHs: a connection per 50 messages`);
      assert.ok(
        attempts.every((a) => a.ok),
        "no AUTH refused",
      );
      // at least three expiries crossed: four or more tokens were used
      const used = new Set(attempts.map((a) => a.tokenSha256));
      assert.ok(used.size >= 4, `${used.size} tokens used in ${seconds.toFixed(1)} s`);
      const issued = new Set(endpoint.issued().map((t) => sha256Prefix(t.token)));
      for (const hash of used) assert.ok(issued.has(hash));
      // shared: one token request per renewal (every 1 s), never one per connection
      assert.ok(
        endpoint.requests <= Math.ceil(seconds) + 2,
        `${endpoint.requests} token requests in ${seconds.toFixed(1)} s`,
      );
      assert.ok(
        endpoint.requests < attempts.length,
        `${endpoint.requests} requests, ${attempts.length} AUTHs`,
      );
      assertNoSecrets(
        entries.map((e) => e.line),
        [...endpoint.issued().map((t) => t.token), refreshToken, CLIENT_SECRET],
      );
    } finally {
      pool.destroy();
      await server.stop();
      await endpoint.close();
    }
  });
});

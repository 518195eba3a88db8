// A small OAuth 2.0 authorization server for tests: an RFC 6749 token endpoint (refresh_token and
// client_credentials grants, client_secret_post or HTTP Basic client authentication, §5.2 errors) and an
// RFC 7662 introspection endpoint, on 127.0.0.1 with a kernel-chosen port. The aiosmtpd harness asks the
// introspection endpoint whether a token it is shown was issued here, is not expired and not revoked.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "./servers/common.js";

export interface TokenEndpointOptions {
  clientId: string;
  clientSecret: string;
  /** Seconds each access token lives (expires_in). Default 3600. */
  expiresIn?: number;
  /** A new refresh token with every refresh; the old one stops working (RFC 6749 §6, as Microsoft does). */
  rotateRefreshTokens?: boolean;
  /** Mailboxes a client_credentials (app-only) token may authenticate as. */
  appMailboxes?: string[];
}

export interface IssuedAccessToken {
  token: string;
  /** The mailbox it is for (refresh_token grant), or undefined for app-only tokens. */
  user: string | undefined;
  grant: string;
  expiresAt: number;
  revoked: boolean;
}

export interface TokenEndpoint {
  /** The token endpoint's URL (http on loopback). */
  url: string;
  /** The introspection endpoint's URL. */
  introspectionUrl: string;
  /** A refresh token for `user`'s mailbox. */
  refreshTokenFor(user: string): string;
  /** Token requests received (any outcome), and per grant type. */
  readonly requests: number;
  requestsFor(grant: string): number;
  /** Access tokens issued so far, in order. */
  issued(): IssuedAccessToken[];
  /** Revokes an access token (the SMTP server will refuse it from now on). */
  revoke(token: string): void;
  /** Delays every token response by `ms` (a slow identity provider). */
  setDelay(ms: number): void;
  /** Answers token requests with this HTTP status and OAuth error until reset with undefined. */
  setFailure(failure: { status: number; error: string; description?: string } | undefined): void;
  /** Every raw request body received, for secret checks of what went over the wire. */
  bodies(): string[];
  close(): Promise<void>;
}

const newToken = (prefix: string): string => `${prefix}${randomBytes(24).toString("base64url")}`;

export async function startTokenEndpoint(options: TokenEndpointOptions): Promise<TokenEndpoint> {
  const expiresIn = options.expiresIn ?? 3600;
  const refreshTokens = new Map<string, string>(); // refresh token -> user
  const accessTokens = new Map<string, IssuedAccessToken>(); // in the order issued
  const perGrant = new Map<string, number>();
  const bodies: string[] = []; // one per token request
  let delay = 0;
  let failure: { status: number; error: string; description?: string } | undefined;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json;charset=UTF-8",
      "cache-control": "no-store",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  };
  const oauthError = (res: ServerResponse, status: number, error: string, description: string) =>
    send(res, status, { error, error_description: description });

  const issue = (user: string | undefined, grant: string) => {
    const token: IssuedAccessToken = {
      token: newToken("at."),
      user,
      grant,
      expiresAt: Date.now() + expiresIn * 1000,
      revoked: false,
    };
    accessTokens.set(token.token, token);
    return token;
  };

  const onToken = async (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => {
    const grant = form.get("grant_type") ?? "";
    perGrant.set(grant, (perGrant.get(grant) ?? 0) + 1);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (failure) return oauthError(res, failure.status, failure.error, failure.description ?? "");
    // client authentication: client_secret_post, or HTTP Basic (RFC 6749 §2.3.1)
    let clientId = form.get("client_id");
    let clientSecret = form.get("client_secret");
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
    if (basic) {
      const [id, secret] = Buffer.from(basic[1] ?? "", "base64")
        .toString("utf8")
        .split(":");
      clientId = decodeURIComponent(id ?? "");
      clientSecret = decodeURIComponent(secret ?? "");
    }
    if (clientId !== options.clientId || clientSecret !== options.clientSecret)
      return oauthError(res, 401, "invalid_client", "Client authentication failed.");
    if (grant === "refresh_token") {
      const refresh = form.get("refresh_token") ?? "";
      const user = refreshTokens.get(refresh);
      if (user === undefined)
        return oauthError(res, 400, "invalid_grant", "Token has been expired or revoked.");
      const token = issue(user, grant);
      const body: Record<string, unknown> = {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: expiresIn,
        scope: form.get("scope") ?? "",
      };
      if (options.rotateRefreshTokens) {
        refreshTokens.delete(refresh);
        const next = newToken("rt.");
        refreshTokens.set(next, user);
        body.refresh_token = next;
      }
      return send(res, 200, body);
    }
    if (grant === "client_credentials") {
      const token = issue(undefined, grant);
      return send(res, 200, { access_token: token.token, token_type: "Bearer", expires_in: expiresIn });
    }
    return oauthError(res, 400, "unsupported_grant_type", `grant_type ${grant} is not supported here`);
  };

  // RFC 7662: active only when issued here, not expired and not revoked
  const onIntrospect = (res: ServerResponse, form: URLSearchParams) => {
    const token = accessTokens.get(form.get("token") ?? "");
    if (!token || token.revoked || Date.now() >= token.expiresAt) return send(res, 200, { active: false });
    return send(res, 200, {
      active: true,
      token_type: "Bearer",
      exp: Math.floor(token.expiresAt / 1000),
      client_id: options.clientId,
      ...(token.user !== undefined ? { username: token.user } : { mailboxes: options.appMailboxes ?? [] }),
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const form = new URLSearchParams(body);
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (req.method !== "POST") return oauthError(res, 405, "invalid_request", "POST only");
      if (path === "/token") {
        bodies.push(body);
        onToken(req, res, form).catch(() => res.destroy());
      } else if (path === "/introspect") onIntrospect(res, form);
      else oauthError(res, 404, "invalid_request", "no such endpoint");
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, resolve);
  });
  server.unref();
  const base = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;

  return {
    url: `${base}/token`,
    introspectionUrl: `${base}/introspect`,
    refreshTokenFor(user) {
      const token = newToken("rt.");
      refreshTokens.set(token, user);
      return token;
    },
    get requests() {
      return bodies.length;
    },
    requestsFor: (grant) => perGrant.get(grant) ?? 0,
    issued: () => [...accessTokens.values()],
    revoke(token) {
      const t = accessTokens.get(token);
      if (t) t.revoked = true;
    },
    setDelay(ms) {
      delay = ms;
    },
    setFailure(f) {
      failure = f;
    },
    bodies: () => [...bodies],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

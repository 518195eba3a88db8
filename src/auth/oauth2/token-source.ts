/**
 * Where XOAUTH2/OAUTHBEARER tokens come from, and how long one is reused (API.md §2, OAuth 2.0 rules):
 * - `auth.oauth2`: one cache entry per credentials, shared by every connect() (and so every pool
 *   connection) with the same options; one request however many connections wait for it; reused until
 *   shortly before it expires; a rotated refresh token replaces the old one and goes to `onToken`.
 * - `auth.accessToken` as a function: concurrent needs share one call; a result with `expiresAt` is
 *   reused like an endpoint's token, a bare string only by the calls that waited for it.
 * - `auth.accessToken` as a string: used as given; it cannot be refreshed.
 */
import { createHash } from "node:crypto";
import { inputError, SMTPError } from "../../errors.js";
import {
  type AccessTokenFunction,
  type IssuedToken,
  type OAuth2Options,
  resolveOAuth2,
  type TokenEndpointConfig,
} from "./options.js";
import { requestToken } from "./token-endpoint.js";

/** A source of access tokens for one set of credentials. */
export interface TokenSource {
  /** A token that is not about to expire: the cached one, or a fresh one. */
  get(): Promise<string>;
  /**
   * A token other than `refused` (which the server just declined): fetched anew unless another connection
   * already replaced it. Undefined when the source cannot produce another (a fixed string).
   */
  renew(refused: string): Promise<string | undefined>;
}

/** A token is renewed this long before it expires (API.md §2)... */
const RENEW_BEFORE_MS = 60_000;

/** ...or, for tokens that live less than twice that, halfway through their life: a 3-second token is still
 * reused for 1.5 s rather than fetched for every connection. */
export function renewAt(expiresAt: number, lifetime: number): number {
  return expiresAt - Math.min(RENEW_BEFORE_MS, lifetime / 2);
}

interface Cached {
  accessToken: string;
  renewAt: number;
}

/** A token as a source produced it; without `renewAt` it serves only the callers that waited for it. */
interface Fetched {
  accessToken: string;
  renewAt?: number | undefined;
}

/** Shares one token, and one fetch of it, among everyone who asks. `fetchToken` does the real work. */
class SharedToken {
  #cached: Cached | undefined;
  #inflight: Promise<Cached> | undefined;
  readonly #fetchToken: () => Promise<Fetched>;

  constructor(fetchToken: () => Promise<Fetched>) {
    this.#fetchToken = fetchToken;
  }

  async get(): Promise<string> {
    return this.#fresh() ?? (await this.#fetch()).accessToken;
  }

  async renew(refused: string): Promise<string> {
    // Another connection may have replaced the refused token while this one was being refused.
    if (this.#cached?.accessToken === refused) this.#cached = undefined;
    const fresh = this.#fresh();
    if (fresh !== undefined) return fresh;
    const inflight = this.#inflight;
    if (inflight) {
      const shared = await inflight;
      if (shared.accessToken !== refused) return shared.accessToken;
    }
    return (await this.#fetch()).accessToken;
  }

  /** The cached token while it is not due for renewal. */
  #fresh(): string | undefined {
    const cached = this.#cached;
    return cached && Date.now() < cached.renewAt ? cached.accessToken : undefined;
  }

  #fetch(): Promise<Cached> {
    if (this.#inflight) return this.#inflight;
    const inflight = this.#fetchToken().then((token) => {
      const cached = { accessToken: token.accessToken, renewAt: token.renewAt ?? 0 };
      // a token without an expiry serves the callers that waited for it, and is not kept
      this.#cached = token.renewAt === undefined ? undefined : cached;
      return cached;
    });
    this.#inflight = inflight;
    const clear = (): void => {
      if (this.#inflight === inflight) this.#inflight = undefined;
    };
    inflight.then(clear, clear);
    return inflight;
  }
}

/** One entry per credentials: the same options in any number of connect() calls share it. */
const endpointTokens = new Map<string, SharedToken>();
/** A process serving many mailboxes keeps the most recent ones; the oldest entry goes first. */
const MAX_ENDPOINT_ENTRIES = 1000;
/** One entry per function: a pool (or the caller) passes the same function to every connect(). */
const functionTokens = new WeakMap<AccessTokenFunction, SharedToken>();

/**
 * The token source for `auth`'s accessToken or oauth2 (exactly one of them is set). `oauth2` is checked
 * here: EINPUT for unusable options.
 */
export function tokenSourceFor(auth: {
  accessToken?: string | AccessTokenFunction | undefined;
  oauth2?: OAuth2Options | undefined;
}): TokenSource {
  if (auth.oauth2 !== undefined) return endpointSource(auth.oauth2, resolveOAuth2(auth.oauth2));
  const accessToken = auth.accessToken;
  if (typeof accessToken === "string") {
    return { get: async () => accessToken, renew: async () => undefined };
  }
  if (typeof accessToken === "function") {
    let shared = functionTokens.get(accessToken);
    if (!shared) {
      shared = new SharedToken(() => callTokenFunction(accessToken));
      functionTokens.set(accessToken, shared);
    }
    return shared;
  }
  throw inputError("auth.accessToken must be a string or a function", "CONNECT");
}

function endpointSource(options: OAuth2Options, config: TokenEndpointConfig): TokenSource {
  const key = cacheKey(config);
  let shared = endpointTokens.get(key);
  if (!shared) {
    // the refresh token in use: the configured one until the endpoint rotates it
    let refreshToken = config.refreshToken;
    shared = new SharedToken(async () => {
      const issued = await requestToken(config, refreshToken);
      const rotated =
        issued.refreshToken !== undefined && issued.refreshToken !== refreshToken
          ? issued.refreshToken
          : undefined;
      if (rotated !== undefined && config.grant === "refresh_token") refreshToken = rotated;
      notify(options.onToken, {
        accessToken: issued.accessToken,
        expiresAt: issued.expiresAt,
        ...(rotated === undefined ? {} : { refreshToken: rotated }),
      });
      return { accessToken: issued.accessToken, renewAt: renewAt(issued.expiresAt, issued.lifetime) };
    });
    endpointTokens.set(key, shared);
    if (endpointTokens.size > MAX_ENDPOINT_ENTRIES) {
      const oldest = endpointTokens.keys().next().value;
      if (oldest !== undefined) endpointTokens.delete(oldest);
    }
  }
  return shared;
}

/** The credentials as a key that does not hold them in the clear. */
function cacheKey(config: TokenEndpointConfig): string {
  const parts = [
    config.url.href,
    config.grant,
    config.clientId,
    config.clientSecret,
    config.refreshToken,
    config.scope,
  ];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64");
}

/** onToken must not turn a token that works into a failed send; its failure is reported as a warning. */
function notify(onToken: OAuth2Options["onToken"], token: IssuedToken): void {
  if (onToken === undefined) return;
  try {
    onToken(token);
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error;
    process.emitWarning(`smtpkit: auth.oauth2.onToken threw (${name}); the new token is used anyway`);
  }
}

async function callTokenFunction(fn: AccessTokenFunction): Promise<Fetched> {
  const fail = (message: string, cause?: unknown) =>
    new SMTPError("EAUTH", message, { stage: "AUTH", temporary: false, cause });
  let result: Awaited<ReturnType<AccessTokenFunction>>;
  try {
    result = await fn();
  } catch (error) {
    // the caller's own error, as cause: it is theirs, and it is not ours to print
    throw fail("auth.accessToken() failed", error);
  }
  const token = typeof result === "string" ? result : result?.accessToken;
  if (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token))
    throw fail("auth.accessToken() gave no usable token (printable ASCII without spaces)");
  if (typeof result === "string" || result.expiresAt === undefined) return { accessToken: token };
  if (!Number.isFinite(result.expiresAt))
    throw fail("auth.accessToken() gave an expiresAt that is not a time");
  const lifetime = result.expiresAt - Date.now();
  return { accessToken: token, renewAt: renewAt(result.expiresAt, Math.max(lifetime, 0)) };
}

/**
 * One token request to an RFC 6749 token endpoint (§4.4 client credentials, §6 refresh), with `fetch`:
 * a deadline, no redirects (the body holds secrets), a bounded response, and the provider's `error` /
 * `error_description` (§5.2) in the EAUTH a refusal causes. No secret reaches an error message.
 */
import { SMTPError } from "../../errors.js";
import type { TokenEndpointConfig } from "./options.js";

/** What the endpoint issued. */
export interface TokenResponse {
  accessToken: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** ms the token lives, as the endpoint said (expires_in), or the assumed default. */
  lifetime: number;
  /** A refresh token the endpoint sent back (rotation, RFC 6749 §6), when it sent one. */
  refreshToken: string | undefined;
}

/** expires_in is RECOMMENDED, not required (RFC 6749 §5.1): without it, assume the usual hour. */
const ASSUMED_LIFETIME_MS = 3_600_000;
/** A token response is a small JSON object; more is not a token endpoint talking. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** The longest provider error_description quoted in an error message. */
const MAX_DESCRIPTION = 300;
/** RFC 6750 §2.1 b64token: what a bearer token may be made of. Anything else is never sent as AUTH. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Requests a token with the configured grant (`refreshToken` is the current one: it may have been rotated
 * since the options were written). Rejects with EAUTH (stage AUTH): the endpoint's refusal (its `error` and
 * `error_description`; temporary when HTTP 5xx or 429), no answer within `config.timeout`, a network
 * failure, or a response that is not a usable bearer token.
 */
export async function requestToken(
  config: TokenEndpointConfig,
  refreshToken: string | undefined,
): Promise<TokenResponse> {
  const secrets = [config.clientSecret, refreshToken, config.refreshToken];
  const where = `the token endpoint ${config.url.origin}${config.url.pathname}`;
  const fail = (message: string, temporary: boolean, cause?: unknown) =>
    new SMTPError("EAUTH", message, { stage: "AUTH", temporary, cause });

  const form = new URLSearchParams({ grant_type: config.grant, client_id: config.clientId });
  if (config.clientSecret !== undefined) form.set("client_secret", config.clientSecret);
  if (config.grant === "refresh_token" && refreshToken !== undefined) form.set("refresh_token", refreshToken);
  if (config.scope !== undefined) form.set("scope", config.scope);

  const started = Date.now();
  let status: number;
  let text: string;
  try {
    const response = await fetch(config.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form.toString(),
      redirect: "error",
      signal: AbortSignal.timeout(config.timeout),
    });
    status = response.status;
    text = await readBounded(response);
  } catch (error) {
    if (isTimeout(error)) throw fail(`${where} did not answer within ${config.timeout} ms`, true);
    // the cause is fetch's own error: it names the address and errno, never the request body
    const reason = describeNetworkError(error);
    throw fail(`could not get a token from ${where}: ${reason}`, true);
  }

  const body = parseJson(text);
  if (status < 200 || status > 299) {
    const temporary = status >= 500 || status === 429;
    const error = typeof body?.error === "string" ? clean(body.error, secrets) : undefined;
    const description =
      typeof body?.error_description === "string" ? clean(body.error_description, secrets) : undefined;
    const said = error
      ? `${error}${description ? ` (${description})` : ""}`
      : "no OAuth error in the response";
    throw fail(
      `${where} refused the ${config.grant} grant: HTTP ${status}: ${said}${adviceFor(error)}`,
      temporary,
    );
  }
  if (body === undefined) throw fail(`${where} answered HTTP ${status} without a JSON token response`, true);
  const accessToken = body.access_token;
  if (typeof accessToken !== "string" || !B64TOKEN.test(accessToken))
    throw fail(`${where} answered without a usable access_token (RFC 6750 b64token)`, false);
  const tokenType = body.token_type;
  if (tokenType !== undefined && (typeof tokenType !== "string" || tokenType.toLowerCase() !== "bearer"))
    throw fail(`${where} issued a token of type ${clean(String(tokenType), secrets)}, not Bearer`, false);
  const expiresIn = Number(body.expires_in);
  const lifetime =
    body.expires_in !== undefined && Number.isFinite(expiresIn) && expiresIn > 0
      ? expiresIn * 1000
      : ASSUMED_LIFETIME_MS;
  const rotated = body.refresh_token;
  return {
    accessToken,
    // counted from when the request was sent: the endpoint's clock started no earlier
    expiresAt: started + lifetime,
    lifetime,
    refreshToken: typeof rotated === "string" && rotated !== "" ? rotated : undefined,
  };
}

/** The body as text, at most MAX_RESPONSE_BYTES (a longer one is cut: it will not parse as JSON). */
async function readBounded(response: Response): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await response.body.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Provider text for an error message: printable, short, and without any of our secrets in it. */
function clean(text: string, secrets: (string | undefined)[]): string {
  let out = text.replace(/[\x00-\x1f\x7f]+/g, " ").trim();
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, "<redacted>");
  return out.length > MAX_DESCRIPTION ? `${out.slice(0, MAX_DESCRIPTION)}...` : out;
}

/** What to change, for the RFC 6749 §5.2 error codes a user can act on. */
function adviceFor(error: string | undefined): string {
  switch (error) {
    case "invalid_grant":
      return "; the refresh token is expired, revoked or for another client: sign in again for a new one";
    case "invalid_client":
    case "unauthorized_client":
      return "; check clientId and clientSecret (and that the app may use this grant)";
    case "invalid_scope":
      return "; check scope (the provider's preset, or the one you gave)";
    default:
      return "";
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (cause instanceof Error) return cause.message; // e.g. "unexpected redirect"
  return error instanceof Error ? error.message : "fetch failed";
}

// AUTH with an OAuth 2.0 access token (API.md §2, OAuth 2.0 rules): the token comes from a TokenSource;
// a token the server refuses is renewed once and AUTH is tried again on the same connection.
import type { AccessTokenFunction, OAuth2Options } from "../auth/oauth2/options.js";
import { type TokenSource, tokenSourceFor } from "../auth/oauth2/token-source.js";
import { SMTP } from "../client/smtp.js";
import { abortError, describeReply, inputError, SMTPError } from "../errors.js";
import type { Reply } from "../types.js";

/** `auth` in ConnectOptions: exactly one of password / accessToken / oauth2. */
export interface AuthOptions {
  username: string;
  /** The password (or, with type XOAUTH2/OAUTHBEARER, an access token the caller manages). */
  password?: string;
  /** An `SMTP.AUTH_*` constant. Default AUTH_DEFAULT: the strongest password mechanism; with an access
   * token, OAUTHBEARER when offered, else XOAUTH2. */
  type?: number;
  /** An OAuth 2.0 access token, or a function that fetches one (called again when the server refuses it). */
  accessToken?: string | AccessTokenFunction;
  /** Fetch, cache and refresh tokens from an OAuth 2.0 token endpoint. */
  oauth2?: OAuth2Options;
}

const TOKEN_TYPES = new Set<number>([SMTP.AUTH_XOAUTH2, SMTP.AUTH_OAUTHBEARER]);

/**
 * Checks `auth` before anything is opened: EINPUT unless it has a username and exactly one of password,
 * accessToken or oauth2, and a token goes with a token mechanism. Returns the token source, if any.
 */
export function checkAuthOptions(auth: AuthOptions): TokenSource | undefined {
  const bad = (message: string) => inputError(message, "CONNECT");
  if (typeof auth !== "object" || auth === null || typeof auth.username !== "string")
    throw bad("auth needs a username (a string)");
  const given = [auth.password, auth.accessToken, auth.oauth2].filter((v) => v !== undefined).length;
  if (given !== 1) throw bad("auth needs exactly one of password, accessToken or oauth2");
  if (auth.password !== undefined) {
    if (typeof auth.password !== "string") throw bad("auth.password must be a string");
    return undefined;
  }
  if (auth.type !== undefined && auth.type !== SMTP.AUTH_DEFAULT && !TOKEN_TYPES.has(auth.type))
    throw bad("an access token is sent with XOAUTH2 or OAUTHBEARER: leave auth.type out or use one of them");
  return tokenSourceFor(auth);
}

/**
 * Authenticates with a token from `source`. A token the server refuses with a 5xx (XOAUTH2's and
 * OAUTHBEARER's 334 JSON error, then 535) is renewed once and AUTH sent again; a second refusal, or a
 * refused token that cannot be renewed, is EAUTH with the server's reply. A 4xx is EAUTH (temporary)
 * without a retry: the server is not saying the token is wrong.
 */
export async function authenticateWithToken(
  smtp: SMTP,
  auth: AuthOptions,
  source: TokenSource,
  signal?: AbortSignal,
): Promise<void> {
  const type = tokenMechanism(smtp, auth.type);
  const token = await abortable(source.get(), signal);
  if (await smtp.authenticate(auth.username, token, type)) return;
  const first = smtp.lastReply;
  if (first !== undefined && first.code >= 500) {
    const renewed = await abortable(source.renew(token), signal);
    if (renewed !== undefined) {
      if (await smtp.authenticate(auth.username, renewed, type)) return;
      throw refused(smtp.lastReply, "the server refused the access token, and a freshly fetched one too");
    }
  }
  throw refused(first, "the server refused the access token");
}

/**
 * Waits for a token unless the caller aborts first: the shared request goes on for the other connections
 * that wait for it, this one stops waiting (EABORT).
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  const aborted = () => abortError(signal, "AUTH");
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The mechanism: the caller's, or OAUTHBEARER when offered, else XOAUTH2. */
function tokenMechanism(smtp: SMTP, type: number | undefined): number {
  if (type !== undefined && type !== SMTP.AUTH_DEFAULT) return type; // authenticate() checks it is offered
  const offered = smtp.getAuthTypes();
  if (offered.includes(SMTP.AUTH_OAUTHBEARER)) return SMTP.AUTH_OAUTHBEARER;
  if (offered.includes(SMTP.AUTH_XOAUTH2)) return SMTP.AUTH_XOAUTH2;
  throw new SMTPError("EAUTH", "the server offers neither OAUTHBEARER nor XOAUTH2 for an access token", {
    stage: "AUTH",
    temporary: false,
  });
}

/**
 * EAUTH with the server's reply. An echoed token is already redacted in it: authenticate() registers the
 * token (raw and base64) and the AUTH argument as secrets of the connection, which scrubs every later reply.
 */
function refused(reply: Reply | undefined, what: string): SMTPError {
  const said = reply ? `: ${describeReply(reply)}` : "";
  const advice =
    "; check that the username is the mailbox the token was issued for, and that the app may send by SMTP (scope)";
  return new SMTPError("EAUTH", `${what}${said}${advice}`, { stage: "AUTH", reply });
}

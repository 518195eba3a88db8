/**
 * The SASL mechanism interface (one file per mechanism implements it) and the AUTH_* constant table.
 * A mechanism never touches a socket: `run.ts` drives it through the 334 loop.
 */

/** What a mechanism may know about the channel. */
export interface ChannelInfo {
  /** True when the channel is TLS. */
  secure: boolean;
  /** RFC 5929/9266 channel binding, when the channel has one. */
  channelBinding?: { type: "tls-exporter" | "tls-server-end-point"; data: Uint8Array } | undefined;
}

export interface Credentials {
  username: string;
  /** The password, or the OAuth2 access token for XOAUTH2/OAUTHBEARER. */
  password: string;
}

/**
 * One SASL client exchange. `start()` returns the initial response (sent with AUTH, base64 encoded;
 * an empty array is sent as "="), or undefined to wait for the first 334 challenge.
 * `next(challenge)` answers a decoded 334 challenge. Either may throw (a `MechanismError`):
 * the driver then cancels with "*".
 */
export interface SASLClient {
  readonly name: string;
  start(): Uint8Array | undefined;
  next(challenge: Uint8Array): Uint8Array;
  /**
   * Called with the 235 reply's text (base64-decoded, when it carries any) for mechanisms that must
   * verify the server's final message (SCRAM). Throws a `MechanismError` when verification fails.
   */
  finish?(additionalData: Uint8Array | undefined): void;
  /** True once the mechanism has verified the server (SCRAM); false until then. Undefined when N/A. */
  readonly serverVerified?: boolean;
  /**
   * The error the server sent in a 334 challenge, decoded as UTF-8 (XOAUTH2/OAUTHBEARER send a JSON
   * status there before refusing, RFC 7628 §3.2.2). Undefined when the server sent none. Never secret.
   */
  readonly serverError?: string | undefined;
}

/** A local failure of a mechanism: bad server data, a forged signature, credentials it cannot carry. */
export class MechanismError extends Error {
  override readonly name = "MechanismError";
  /** "input": the caller's credentials cannot be carried (EINPUT); "server": the server misbehaved (EAUTH). */
  readonly kind: "input" | "server";
  constructor(kind: "input" | "server", message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * RFC 5801 §4 / RFC 5802 §5.1 saslname: "," and "=" are sent as "=2C" and "=3D". "=" is replaced
 * first, so the "=" of a "=2C" just written is never escaped again.
 */
export function escapeSaslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

export const AUTH_DEFAULT = 0;
export const AUTH_PLAIN = 1;
export const AUTH_LOGIN = 2;
export const AUTH_CRAM_MD5 = 3;
export const AUTH_XOAUTH2 = 4;
export const AUTH_OAUTHBEARER = 5;
export const AUTH_SCRAM_SHA_1 = 6;
export const AUTH_SCRAM_SHA_256 = 7;
export const AUTH_SCRAM_SHA_256_PLUS = 8;

/** AUTH_* constant -> SASL mechanism name. */
export const MECHANISM_NAMES: ReadonlyMap<number, string> = new Map([
  [AUTH_PLAIN, "PLAIN"],
  [AUTH_LOGIN, "LOGIN"],
  [AUTH_CRAM_MD5, "CRAM-MD5"],
  [AUTH_XOAUTH2, "XOAUTH2"],
  [AUTH_OAUTHBEARER, "OAUTHBEARER"],
  [AUTH_SCRAM_SHA_1, "SCRAM-SHA-1"],
  [AUTH_SCRAM_SHA_256, "SCRAM-SHA-256"],
  [AUTH_SCRAM_SHA_256_PLUS, "SCRAM-SHA-256-PLUS"],
]);

/** Strongest first. The OAuth mechanisms come last and AUTH_DEFAULT never picks them. */
export const STRENGTH_ORDER: readonly number[] = [
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_1,
  AUTH_CRAM_MD5,
  AUTH_PLAIN,
  AUTH_LOGIN,
  AUTH_XOAUTH2,
  AUTH_OAUTHBEARER,
];

/** Mechanisms AUTH_DEFAULT may choose (password-based ones). */
export const DEFAULT_CANDIDATES: ReadonlySet<number> = new Set([
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_1,
  AUTH_CRAM_MD5,
  AUTH_PLAIN,
  AUTH_LOGIN,
]);

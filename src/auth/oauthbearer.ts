/** OAUTHBEARER (RFC 7628): the standard OAuth 2.0 bearer token mechanism. */

import { type Credentials, escapeSaslName, MechanismError, type SASLClient } from "./mechanism.js";

/**
 * OAUTHBEARER: the initial response is the GS2 header `n,a=user,` (RFC 7628 §3.1; no channel binding)
 * followed by `\x01auth=Bearer TOKEN\x01\x01`. On a refused token the server sends a 334 with a JSON
 * status (RFC 7628 §3.2.2); the client must answer a single \x01 (§3.2.3) and the server then
 * refuses. The JSON is kept in `serverError`.
 */
export class OAuthBearerClient implements SASLClient {
  readonly name = "OAUTHBEARER";
  readonly #username: string;
  readonly #token: string;
  #serverError: string | undefined;

  /** `credentials.password` is the OAuth 2.0 access token. An empty username sends no `a=`. */
  constructor(credentials: Credentials) {
    this.#username = credentials.username;
    this.#token = credentials.password;
  }

  /** The decoded JSON error of the 334 challenge, when the server sent one. */
  get serverError(): string | undefined {
    return this.#serverError;
  }

  start(): Uint8Array {
    // RFC 7628 §3.1: kvpairs are separated by \x01, and the token is a b64token (RFC 6750 §2.1);
    // RFC 5801 §4: a saslname holds no NUL.
    if (/[\0\x01]/.test(this.#username) || this.#token.includes("\x01")) {
      throw new MechanismError(
        "input",
        "OAUTHBEARER cannot carry a \\x01 character in the username or token (nor a NUL in the username)",
      );
    }
    const authzid = this.#username === "" ? "" : `a=${escapeSaslName(this.#username)}`;
    return Buffer.from(`n,${authzid},\x01auth=Bearer ${this.#token}\x01\x01`, "utf8");
  }

  next(challenge: Uint8Array): Uint8Array {
    if (this.#serverError !== undefined) {
      throw new MechanismError("server", "server sent a second OAUTHBEARER challenge");
    }
    this.#serverError = Buffer.from(challenge).toString("utf8");
    return Uint8Array.of(0x01);
  }
}

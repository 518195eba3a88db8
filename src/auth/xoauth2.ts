/**
 * XOAUTH2, the OAuth 2.0 bearer mechanism of Google and Microsoft that predates RFC 7628
 * (developers.google.com/gmail/imap/xoauth2-protocol).
 */

import { type Credentials, MechanismError, type SASLClient } from "./mechanism.js";

/**
 * XOAUTH2: the initial response is `user=U\x01auth=Bearer TOKEN\x01\x01`. When the token is refused
 * the server sends a 334 whose payload is a JSON status; the client answers with an empty response
 * and the server then sends its refusal. The JSON is kept in `serverError` so the caller can show it.
 */
export class XOAuth2Client implements SASLClient {
  readonly name = "XOAUTH2";
  readonly #username: string;
  readonly #token: string;
  #serverError: string | undefined;

  /** `credentials.password` is the OAuth 2.0 access token. */
  constructor(credentials: Credentials) {
    this.#username = credentials.username;
    this.#token = credentials.password;
  }

  /** The decoded JSON error of the 334 challenge, when the server sent one. */
  get serverError(): string | undefined {
    return this.#serverError;
  }

  start(): Uint8Array {
    // \x01 separates the fields: inside a value it would let the caller's data add fields.
    if (this.#username.includes("\x01") || this.#token.includes("\x01")) {
      throw new MechanismError("input", "XOAUTH2 cannot carry a \\x01 character in the username or token");
    }
    return Buffer.from(`user=${this.#username}\x01auth=Bearer ${this.#token}\x01\x01`, "utf8");
  }

  next(challenge: Uint8Array): Uint8Array {
    if (this.#serverError !== undefined) {
      throw new MechanismError("server", "server sent a second XOAUTH2 challenge");
    }
    this.#serverError = Buffer.from(challenge).toString("utf8");
    return new Uint8Array(0);
  }
}

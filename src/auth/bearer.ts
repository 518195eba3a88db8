/** What XOAUTH2 and OAUTHBEARER share: a bearer token sent at once, and a JSON error on refusal. */

import { type Credentials, MechanismError, type SASLClient } from "./mechanism.js";

/**
 * An OAuth 2.0 bearer-token mechanism: `start()` sends the initial response the subclass builds from the
 * username and token. When the token is refused the server sends one 334 whose payload is a JSON status,
 * kept in `serverError`; the client answers `errorAck` and the server then sends its refusal. A second
 * challenge is an error. The credentials stay in private fields (not shown by inspection).
 */
export abstract class BearerTokenClient implements SASLClient {
  abstract readonly name: string;
  readonly #username: string;
  readonly #token: string;
  readonly #errorAck: Uint8Array;
  #serverError: string | undefined;

  /** `credentials.password` is the OAuth 2.0 access token. */
  constructor(credentials: Credentials, errorAck: Uint8Array) {
    this.#username = credentials.username;
    this.#token = credentials.password;
    this.#errorAck = errorAck;
  }

  /** The decoded JSON error of the 334 challenge, when the server sent one. */
  get serverError(): string | undefined {
    return this.#serverError;
  }

  start(): Uint8Array {
    return this.initialResponse(this.#username, this.#token);
  }

  /** The initial response; throws a `MechanismError` for credentials the mechanism cannot carry. */
  protected abstract initialResponse(username: string, token: string): Uint8Array;

  next(challenge: Uint8Array): Uint8Array {
    if (this.#serverError !== undefined) {
      throw new MechanismError("server", `server sent a second ${this.name} challenge`);
    }
    this.#serverError = Buffer.from(challenge).toString("utf8");
    return this.#errorAck.slice();
  }
}

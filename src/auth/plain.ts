/** SASL PLAIN (RFC 4616): one initial response carrying the username and password. */

import { type Credentials, MechanismError, type SASLClient } from "./mechanism.js";

/** PLAIN without an authorization identity: the initial response is `\0username\0password` in UTF-8. */
export class PlainClient implements SASLClient {
  readonly name = "PLAIN";
  // Private fields: util.inspect and JSON.stringify never show them.
  readonly #username: string;
  readonly #password: string;

  constructor(credentials: Credentials) {
    this.#username = credentials.username;
    this.#password = credentials.password;
  }

  /** The whole exchange in one message (RFC 4616 §2: message = [authzid] NUL authcid NUL passwd). */
  start(): Uint8Array {
    // RFC 4616 §2: authcid and passwd are 1*SAFE, and SAFE excludes NUL, which is the separator.
    if (this.#username.includes("\0") || this.#password.includes("\0")) {
      throw new MechanismError("input", "PLAIN cannot carry a NUL character in the username or password");
    }
    return Buffer.from(`\0${this.#username}\0${this.#password}`, "utf8");
  }

  /** PLAIN has no challenges: a 334 after the initial response means the server is confused. */
  next(_challenge: Uint8Array): Uint8Array {
    throw new MechanismError("server", "server sent a challenge to PLAIN, which has none");
  }
}

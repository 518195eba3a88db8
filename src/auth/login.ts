/**
 * The LOGIN mechanism (draft-murchison-sasl-login, never an RFC): the server prompts twice and the
 * client answers with the username, then the password.
 */

import { type Credentials, MechanismError, type SASLClient } from "./mechanism.js";

/**
 * LOGIN answers the first challenge with the username and the second with the password. The prompt
 * text is ignored: servers send "Username:", "User Name", localised prompts or nothing at all, and
 * the order of the two rounds is what carries the meaning. No initial response is sent, since older
 * servers do not accept one for LOGIN.
 */
export class LoginClient implements SASLClient {
  readonly name = "LOGIN";
  readonly #username: string;
  readonly #password: string;
  #round = 0;

  constructor(credentials: Credentials) {
    this.#username = credentials.username;
    this.#password = credentials.password;
  }

  start(): undefined {
    return undefined;
  }

  next(_challenge: Uint8Array): Uint8Array {
    this.#round++;
    if (this.#round === 1) return Buffer.from(this.#username, "utf8");
    if (this.#round === 2) return Buffer.from(this.#password, "utf8");
    throw new MechanismError("server", "server sent more than two LOGIN challenges");
  }
}

/** CRAM-MD5 (RFC 2195): the answer is the username and the HMAC-MD5 of the server's challenge. */

import { createHmac } from "node:crypto";
import { type Credentials, MechanismError, type SASLClient } from "./mechanism.js";

/**
 * CRAM-MD5: one challenge (a msg-id such as `<1896.697170952@postoffice.reston.mci.net>`), answered
 * with `username SP hex(HMAC-MD5(password, challenge))` in lower-case hex (RFC 2195 §2).
 */
export class CramMD5Client implements SASLClient {
  readonly name = "CRAM-MD5";
  readonly #username: string;
  readonly #password: string;
  #answered = false;

  constructor(credentials: Credentials) {
    this.#username = credentials.username;
    this.#password = credentials.password;
  }

  start(): undefined {
    return undefined;
  }

  next(challenge: Uint8Array): Uint8Array {
    if (this.#answered) throw new MechanismError("server", "server sent a second CRAM-MD5 challenge");
    // An empty challenge would make the digest a fixed function of the password: a replayable answer.
    if (challenge.length === 0) throw new MechanismError("server", "server sent an empty CRAM-MD5 challenge");
    this.#answered = true;
    const digest = createHmac("md5", Buffer.from(this.#password, "utf8")).update(challenge).digest("hex");
    return Buffer.from(`${this.#username} ${digest}`, "utf8");
  }
}

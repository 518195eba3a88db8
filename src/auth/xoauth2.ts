/**
 * XOAUTH2, the OAuth 2.0 bearer mechanism of Google and Microsoft that predates RFC 7628
 * (developers.google.com/gmail/imap/xoauth2-protocol).
 */

import { BearerTokenClient } from "./bearer.js";
import { type Credentials, MechanismError } from "./mechanism.js";

/**
 * XOAUTH2: the initial response is `user=U\x01auth=Bearer TOKEN\x01\x01`. When the token is refused
 * the server sends a 334 whose payload is a JSON status; the client answers with an empty response
 * and the server then sends its refusal. The JSON is kept in `serverError` so the caller can show it.
 */
export class XOAuth2Client extends BearerTokenClient {
  readonly name = "XOAUTH2";

  /** `credentials.password` is the OAuth 2.0 access token. */
  constructor(credentials: Credentials) {
    super(credentials, new Uint8Array(0));
  }

  protected initialResponse(username: string, token: string): Uint8Array {
    // \x01 separates the fields: inside a value it would let the caller's data add fields.
    if (username.includes("\x01") || token.includes("\x01")) {
      throw new MechanismError("input", "XOAUTH2 cannot carry a \\x01 character in the username or token");
    }
    return Buffer.from(`user=${username}\x01auth=Bearer ${token}\x01\x01`, "utf8");
  }
}

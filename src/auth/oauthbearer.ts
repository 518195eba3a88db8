/** OAUTHBEARER (RFC 7628): the standard OAuth 2.0 bearer token mechanism. */

import { BearerTokenClient } from "./bearer.js";
import { type Credentials, escapeSaslName, MechanismError } from "./mechanism.js";

/**
 * OAUTHBEARER: the initial response is the GS2 header `n,a=user,` (RFC 7628 §3.1; no channel binding)
 * followed by `\x01auth=Bearer TOKEN\x01\x01`. On a refused token the server sends a 334 with a JSON
 * status (RFC 7628 §3.2.2); the client must answer a single \x01 (§3.2.3) and the server then
 * refuses. The JSON is kept in `serverError`.
 */
export class OAuthBearerClient extends BearerTokenClient {
  readonly name = "OAUTHBEARER";

  /** `credentials.password` is the OAuth 2.0 access token. An empty username sends no `a=`. */
  constructor(credentials: Credentials) {
    super(credentials, Uint8Array.of(0x01));
  }

  protected initialResponse(username: string, token: string): Uint8Array {
    // RFC 7628 §3.1: kvpairs are separated by \x01, and the token is a b64token (RFC 6750 §2.1);
    // RFC 5801 §4: a saslname holds no NUL.
    if (/[\0\x01]/.test(username) || token.includes("\x01")) {
      throw new MechanismError(
        "input",
        "OAUTHBEARER cannot carry a \\x01 character in the username or token (nor a NUL in the username)",
      );
    }
    const authzid = username === "" ? "" : `a=${escapeSaslName(username)}`;
    return Buffer.from(`n,${authzid},\x01auth=Bearer ${token}\x01\x01`, "utf8");
  }
}

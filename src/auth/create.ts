/** Builds the `SASLClient` for an `AUTH_*` constant. */

import { CramMD5Client } from "./cram-md5.js";
import { LoginClient } from "./login.js";
import {
  AUTH_CRAM_MD5,
  AUTH_LOGIN,
  AUTH_OAUTHBEARER,
  AUTH_PLAIN,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_XOAUTH2,
  type ChannelInfo,
  type Credentials,
  type SASLClient,
} from "./mechanism.js";
import { OAuthBearerClient } from "./oauthbearer.js";
import { PlainClient } from "./plain.js";
import { ScramClient } from "./scram.js";
import { XOAuth2Client } from "./xoauth2.js";

/** Options for `createMechanism`. */
export interface CreateMechanismOptions {
  /** SCRAM client nonce source (printable ASCII without ","), for test vectors. Default: random. */
  nonce?: () => string;
}

/**
 * A fresh mechanism for one exchange. `type` is an `AUTH_*` constant other than `AUTH_DEFAULT`
 * (the caller resolves the default first); any other value is a programming error: `RangeError`.
 * Nothing is checked here: credential problems surface from `start()` as `MechanismError("input")`.
 */
export function createMechanism(
  type: number,
  credentials: Credentials,
  channel: ChannelInfo,
  options: CreateMechanismOptions = {},
): SASLClient {
  const scram = (hash: "sha1" | "sha256", plus: boolean): SASLClient =>
    new ScramClient({
      hash,
      plus,
      credentials,
      channel,
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    });
  switch (type) {
    case AUTH_PLAIN:
      return new PlainClient(credentials);
    case AUTH_LOGIN:
      return new LoginClient(credentials);
    case AUTH_CRAM_MD5:
      return new CramMD5Client(credentials);
    case AUTH_XOAUTH2:
      return new XOAuth2Client(credentials);
    case AUTH_OAUTHBEARER:
      return new OAuthBearerClient(credentials);
    case AUTH_SCRAM_SHA_1:
      return scram("sha1", false);
    case AUTH_SCRAM_SHA_256:
      return scram("sha256", false);
    case AUTH_SCRAM_SHA_256_PLUS:
      return scram("sha256", true);
    default:
      throw new RangeError(`no SASL mechanism for auth type ${type}`);
  }
}

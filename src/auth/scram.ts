/**
 * SCRAM (RFC 5802) with SHA-1 or SHA-256 (RFC 7677), with or without channel binding (-PLUS:
 * RFC 5929 tls-server-end-point, RFC 9266 tls-exporter). The client checks the server: the server
 * nonce must extend ours, and the server signature must match before `serverVerified` turns true.
 */

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import {
  type ChannelInfo,
  type Credentials,
  escapeSaslName,
  MechanismError,
  type SASLClient,
} from "./mechanism.js";
import { SASLprepError, saslprep } from "./saslprep.js";

/** The hash SCRAM is parameterised with. */
export type ScramHash = "sha1" | "sha256";

/** How to build a `ScramClient`. */
export interface ScramOptions {
  /** SCRAM-SHA-1 or SCRAM-SHA-256. */
  hash: ScramHash;
  /** The -PLUS variant: bind to the TLS channel through `channel.channelBinding`. */
  plus?: boolean;
  credentials: Credentials;
  channel: ChannelInfo;
  /** Client nonce source, for test vectors. Default: 24 random bytes in base64. */
  nonce?: () => string;
  /** Highest iteration count accepted from the server (PBKDF2 runs synchronously). Default 1 000 000. */
  maxIterations?: number;
}

const HASH_BYTES: Record<ScramHash, number> = { sha1: 20, sha256: 32 };
const DEFAULT_MAX_ITERATIONS = 1_000_000;
// RFC 5802 §7: nonce = printable, i.e. %x21-2B / %x2D-7E (any visible ASCII except ",").
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const fail = (message: string): MechanismError => new MechanismError("server", message);

type State = "initial" | "first-sent" | "final-sent" | "done";

/** One SCRAM exchange. `start()` prepares the credentials, so input errors surface before anything is sent. */
export class ScramClient implements SASLClient {
  readonly name: string;
  readonly #hash: ScramHash;
  readonly #plus: boolean;
  readonly #credentials: Credentials;
  readonly #channel: ChannelInfo;
  readonly #nonce: () => string;
  readonly #maxIterations: number;
  #state: State = "initial";
  #verified = false;
  #password = "";
  #clientNonce = "";
  #gs2Header = "";
  #cbindData: Uint8Array = new Uint8Array(0);
  #clientFirstBare = "";
  #expectedServerSignature: Buffer | undefined;

  constructor(options: ScramOptions) {
    this.#hash = options.hash;
    this.#plus = options.plus ?? false;
    this.#credentials = options.credentials;
    this.#channel = options.channel;
    this.#nonce = options.nonce ?? (() => randomBytes(24).toString("base64"));
    this.#maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
    this.name = `SCRAM-${options.hash === "sha1" ? "SHA-1" : "SHA-256"}${this.#plus ? "-PLUS" : ""}`;
  }

  /** True only once the server's signature (`v=`) has been checked. */
  get serverVerified(): boolean {
    return this.#verified;
  }

  /** The client-first message: gs2-header, `n=user,r=nonce` (RFC 5802 §5.1). */
  start(): Uint8Array {
    if (this.#state !== "initial") throw new MechanismError("input", `${this.name} was already started`);
    // RFC 5802 §5.1: the username is prepared with SASLprep as a query string; failure or an empty
    // result aborts. §2.2 Normalize() does the same to the password before Hi().
    const username = prepare(this.#credentials.username, "username");
    this.#password = prepare(this.#credentials.password, "password");
    if (this.#plus) {
      const binding = this.#channel.channelBinding;
      if (binding === undefined || binding.data.length === 0) {
        throw new MechanismError(
          "input",
          `${this.name} needs TLS channel binding data, and the channel has none`,
        );
      }
      // RFC 5802 §7: gs2-cbind-flag = "p=" cb-name (RFC 5929 tls-server-end-point, RFC 9266 tls-exporter).
      this.#gs2Header = `p=${binding.type},,`;
      this.#cbindData = Uint8Array.from(binding.data);
    } else {
      this.#gs2Header = "n,,";
    }
    const nonce = this.#nonce();
    if (!PRINTABLE.test(nonce)) {
      throw new MechanismError("input", "SCRAM client nonce must be printable ASCII without ','");
    }
    this.#clientNonce = nonce;
    this.#clientFirstBare = `n=${escapeSaslName(username)},r=${nonce}`;
    this.#state = "first-sent";
    return Buffer.from(this.#gs2Header + this.#clientFirstBare, "utf8");
  }

  /** Answers the server-first message with the client proof, then the server-final with an empty response. */
  next(challenge: Uint8Array): Uint8Array {
    const text = decodeUtf8(challenge);
    if (this.#state === "first-sent") {
      const reply = this.#clientFinal(text);
      this.#state = "final-sent";
      return reply;
    }
    if (this.#state === "final-sent") {
      // RFC 4954 §4: server-final in a 334 is answered with an empty response, then 235 follows.
      this.#verifyServerFinal(text);
      return new Uint8Array(0);
    }
    throw fail(`server sent a challenge after the ${this.name} exchange was complete`);
  }

  /**
   * Called on 235. RFC 4954 §4 lets the server put its final message in the 235 ("additional data
   * with success"); when the server already sent it in a 334, there is nothing left to check.
   */
  finish(additionalData: Uint8Array | undefined): void {
    if (this.#verified || additionalData === undefined || this.#state !== "final-sent") return;
    this.#verifyServerFinal(decodeUtf8(additionalData));
  }

  #clientFinal(serverFirst: string): Uint8Array {
    const attrs = parseAttributes(serverFirst);
    if (attrs[0]?.[0] === "e") throw fail(`server reported a SCRAM error: ${printable(attrs[0][1])}`);
    // RFC 5802 §5.1: "m" is reserved for mandatory extensions; a client that does not know it MUST fail.
    if (attrs[0]?.[0] === "m")
      throw fail("server requires a SCRAM extension (m=) this client does not support");
    const [r, s, i] = attrs;
    if (r?.[0] !== "r" || s?.[0] !== "s" || i?.[0] !== "i") {
      throw fail("server-first message is not r=...,s=...,i=... (RFC 5802 §7)");
    }
    const serverNonce = r[1];
    // RFC 5802 §5.1: the server's nonce starts with the client's and adds its own part.
    if (!serverNonce.startsWith(this.#clientNonce) || serverNonce.length <= this.#clientNonce.length) {
      throw fail("server nonce does not extend the client nonce");
    }
    if (!PRINTABLE.test(serverNonce)) throw fail("server nonce holds characters outside printable ASCII");
    if (s[1] === "" || !BASE64.test(s[1])) throw fail("server salt is not base64");
    const salt = Buffer.from(s[1], "base64");
    if (!/^[1-9][0-9]{0,9}$/.test(i[1])) throw fail("server iteration count is not a positive integer");
    const iterations = Number(i[1]);
    if (iterations > this.#maxIterations) {
      throw fail(`server iteration count ${iterations} exceeds the limit of ${this.#maxIterations}`);
    }

    // RFC 5802 §7: c= is base64(gs2-header [cbind-data]).
    const cbindInput = Buffer.concat([Buffer.from(this.#gs2Header, "utf8"), this.#cbindData]);
    const withoutProof = `c=${cbindInput.toString("base64")},r=${serverNonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;

    // RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2 with HMAC.
    const salted = pbkdf2Sync(
      Buffer.from(this.#password, "utf8"),
      salt,
      iterations,
      HASH_BYTES[this.#hash],
      this.#hash,
    );
    const clientKey = this.#hmac(salted, "Client Key");
    const storedKey = createHash(this.#hash).update(clientKey).digest();
    const clientSignature = this.#hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let k = 0; k < proof.length; k++) proof[k] = (clientKey[k] ?? 0) ^ (clientSignature[k] ?? 0);
    this.#expectedServerSignature = this.#hmac(this.#hmac(salted, "Server Key"), authMessage);
    salted.fill(0);
    clientKey.fill(0);
    this.#password = "";
    return Buffer.from(`${withoutProof},p=${proof.toString("base64")}`, "utf8");
  }

  #verifyServerFinal(serverFinal: string): void {
    const first = parseAttributes(serverFinal)[0];
    // RFC 5802 §7: server-final-message = (server-error / verifier) ["," extensions].
    if (first?.[0] === "e") throw fail(`server reported a SCRAM error: ${printable(first[1])}`);
    if (first?.[0] !== "v" || !BASE64.test(first[1])) throw fail("server-final message has no v= signature");
    const received = Buffer.from(first[1], "base64");
    const expected = this.#expectedServerSignature;
    // Constant-time comparison, so timing tells a forger nothing about the expected signature.
    if (
      expected === undefined ||
      received.length !== expected.length ||
      !timingSafeEqual(received, expected)
    ) {
      throw fail("server signature does not match: the server does not know the password");
    }
    this.#verified = true;
    this.#state = "done";
  }

  #hmac(key: Buffer, data: string): Buffer {
    return createHmac(this.#hash, key).update(data, "utf8").digest();
  }
}

function prepare(value: string, what: "username" | "password"): string {
  let prepared: string;
  try {
    prepared = saslprep(value);
  } catch (error) {
    if (error instanceof SASLprepError) throw new MechanismError("input", `SCRAM ${what} ${error.message}`);
    throw error;
  }
  if (prepared === "") throw new MechanismError("input", `SCRAM ${what} is empty after SASLprep (RFC 4013)`);
  return prepared;
}

/** Splits `a=1,b=2` into [key, value] pairs; a part that is not `letter=value` is a server error. */
function parseAttributes(message: string): [string, string][] {
  return message.split(",").map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw fail("SCRAM message is not a list of attribute=value pairs");
    return [part[0] ?? "", part.slice(2)];
  });
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw fail("SCRAM message is not valid UTF-8");
  }
}

/** Server text for an error message: printable ASCII only, and bounded. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);
}

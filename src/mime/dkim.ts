// DKIM signatures (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463), node:crypto only. Pure: the body
// hash is fed chunk by chunk (BodyHasher), the signature is made from the header block (signatureField).
import { createHash, createPrivateKey, type Hash, type KeyObject, sign } from "node:crypto";
import { inputError } from "../errors.js";
import { domainToAscii } from "../message/address.js";
import type { RawField } from "../message/header-block.js";
import { isFieldName } from "../message/headers.js";
import type { DkimOptions } from "./types.js";

type Canonicalization = "relaxed" | "simple";

/** Signed when present (API.md §5); From is listed once more than it occurs (over-signed). */
const DEFAULT_SIGNED_HEADERS = [
  "from",
  "to",
  "cc",
  "subject",
  "date",
  "message-id",
  "reply-to",
  "mime-version",
  "content-type",
  "list-unsubscribe",
  "list-unsubscribe-post",
  "in-reply-to",
  "references",
];

/** A checked signer: the parsed key and the tags that do not depend on the message. */
export interface DkimSigner {
  algorithm: "rsa-sha256" | "ed25519-sha256";
  key: KeyObject;
  domain: string;
  selector: string;
  header: Canonicalization;
  body: Canonicalization;
  headers: string[];
  expires: number | undefined;
  /** Octets of the signature value in base64. */
  signatureLength: number;
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;

/** Validates DKIM options (`EINPUT`, naming the field): the key parses, RSA has ≥ 1024 bits, names are DNS names. */
export function prepareSigners(dkim: DkimOptions | DkimOptions[] | undefined): DkimSigner[] {
  if (dkim === undefined) return [];
  const list = Array.isArray(dkim) ? dkim : [dkim];
  return list.map((options, i) => prepareSigner(options, list.length > 1 ? `dkim[${i}]` : "dkim"));
}

function prepareSigner(options: DkimOptions, what: string): DkimSigner {
  if (options === null || typeof options !== "object") throw inputError(`${what} must be an object`);
  const domain = dnsName(options.domainName, `${what}.domainName`);
  const selector = dnsName(options.keySelector, `${what}.keySelector`);
  let key: KeyObject;
  try {
    key = typeof options.privateKey === "string" ? parsedKey(options.privateKey) : options.privateKey;
  } catch (error) {
    throw inputError(`${what}.privateKey does not parse as a PEM private key (${(error as Error).message})`);
  }
  if (key === null || typeof key !== "object" || (key as KeyObject).type !== "private") {
    throw inputError(`${what}.privateKey must be a private key (PEM text or a private KeyObject)`);
  }
  let algorithm: DkimSigner["algorithm"];
  let signatureLength: number;
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 1024)
      throw inputError(`${what}.privateKey is RSA with ${bits} bits: at least 1024 are needed`);
    algorithm = "rsa-sha256";
    signatureLength = Math.ceil(Math.ceil(bits / 8) / 3) * 4;
  } else if (key.asymmetricKeyType === "ed25519") {
    algorithm = "ed25519-sha256";
    signatureLength = 88; // 64 octets
  } else {
    throw inputError(`${what}.privateKey is ${key.asymmetricKeyType}: DKIM signs with RSA or Ed25519`);
  }
  const header = canonicalization(options.headerCanonicalization, `${what}.headerCanonicalization`);
  const body = canonicalization(options.bodyCanonicalization, `${what}.bodyCanonicalization`);
  const headers = (options.headers ?? DEFAULT_SIGNED_HEADERS).map((name) => {
    if (typeof name !== "string" || !isFieldName(name))
      throw inputError(`${what}.headers: "${name}" is not a header name`);
    return name.toLowerCase();
  });
  if (!headers.includes("from")) headers.unshift("from"); // RFC 6376 §5.4: From MUST be signed
  let expires: number | undefined;
  if (options.expires !== undefined) {
    if (!Number.isInteger(options.expires) || options.expires <= 0) {
      throw inputError(`${what}.expires must be a positive whole number of seconds`);
    }
    expires = options.expires;
  }
  return { algorithm, key, domain, selector, header, body, headers, expires, signatureLength };
}

/**
 * Parsed PEM keys, by their text: parsing an RSA key costs about as much CPU as signing with it, and a sender
 * passes the same PEM with every message. Bounded; only keys that parsed are kept.
 */
const KEY_CACHE = new Map<string, KeyObject>();
const KEY_CACHE_LIMIT = 16;

function parsedKey(pem: string): KeyObject {
  let key = KEY_CACHE.get(pem);
  if (key === undefined) {
    key = createPrivateKey(pem);
    if (KEY_CACHE.size >= KEY_CACHE_LIMIT) KEY_CACHE.clear();
    KEY_CACHE.set(pem, key);
  }
  return key;
}

function dnsName(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw inputError(`${what} must be a non-empty string`);
  let ascii: string;
  try {
    ascii = domainToAscii(value);
  } catch {
    throw inputError(`${what} "${value}" is not a domain name`);
  }
  if (!ascii.split(".").every((label) => label.length <= 63 && LABEL.test(label))) {
    throw inputError(`${what} "${value}" is not a domain name`);
  }
  return ascii;
}

function canonicalization(value: unknown, what: string): Canonicalization {
  if (value === undefined) return "relaxed";
  if (value === "relaxed" || value === "simple") return value;
  throw inputError(`${what} must be "relaxed" or "simple"`);
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CRLF = Buffer.from("\r\n");

/**
 * The body hash (RFC 6376 §3.4.3 simple, §3.4.4 relaxed, §3.7), fed chunk by chunk. The input has CRLF line
 * ends (what composeMail writes). Empty lines at the end are held back until more content follows; relaxed
 * drops whitespace at line ends and shrinks other whitespace runs to one space. Chunks without whitespace
 * (base64) pass straight to the hash.
 */
export class BodyHasher {
  readonly #hash: Hash = createHash("sha256");
  readonly #relaxed: boolean;
  /** Line ends held back: they may be trailing empty lines. */
  #held: Uint8Array[] = [];
  /** Relaxed: whitespace seen, not yet written (dropped if a line end follows). */
  #space = false;
  /** Something other than trailing line ends has been hashed. */
  #any = false;

  constructor(canonicalization: Canonicalization) {
    this.#relaxed = canonicalization === "relaxed";
  }

  update(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#relaxed && (this.#space || chunk.includes(SP) || chunk.includes(TAB)))
      chunk = this.#relax(chunk);
    this.#lines(chunk);
  }

  /** The body hash, base64. */
  digest(): string {
    if (this.#any) this.#hash.update(CRLF);
    else if (!this.#relaxed) this.#hash.update(CRLF); // simple: an empty body is one CRLF
    return this.#hash.digest("base64");
  }

  #relax(chunk: Uint8Array): Uint8Array {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let o = 0;
    let space = this.#space;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === SP || b === TAB) {
        space = true;
      } else if (b === CR || b === LF) {
        space = false;
        out[o++] = b;
      } else {
        if (space) out[o++] = SP;
        space = false;
        out[o++] = b;
      }
    }
    this.#space = space;
    return out.subarray(0, o);
  }

  #lines(chunk: Uint8Array): void {
    let k = chunk.length - 1;
    while (k >= 0 && (chunk[k] === CR || chunk[k] === LF)) k--;
    if (k < 0) {
      this.#held.push(Uint8Array.prototype.slice.call(chunk));
      return;
    }
    // The first line end after the content ends that line: it is hashed only at the end (digest) or with
    // what follows, so keep all of the run.
    for (const held of this.#held) this.#hash.update(held);
    this.#held = [];
    this.#hash.update(chunk.subarray(0, k + 1));
    this.#any = true;
    if (k + 1 < chunk.length) this.#held.push(Uint8Array.prototype.slice.call(chunk, k + 1));
  }
}

/** One header field canonicalized (RFC 6376 §3.4.1, §3.4.2), with its CRLF. */
function canonicalHeader(raw: string, mode: Canonicalization): string {
  if (mode === "simple") return `${raw}\r\n`;
  const colon = raw.indexOf(":");
  const name = raw
    .slice(0, colon)
    .replace(/[ \t]+$/, "")
    .toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .replace(/[ \t]+/g, " ")
    .trim();
  return `${name}:${value}\r\n`;
}

/** The fields of a header block by lower-case name, each list top first. */
function fieldsByName(fields: readonly RawField[]): Map<string, RawField[]> {
  const byName = new Map<string, RawField[]>();
  for (const field of fields) {
    const name = field.name.toLowerCase();
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [field]);
    else list.push(field);
  }
  return byName;
}

/** The names for h=: each signed field as often as it occurs, From once more. */
function signedNames(signer: DkimSigner, byName: ReadonlyMap<string, readonly RawField[]>): string[] {
  const names: string[] = [];
  for (const name of new Set(signer.headers)) {
    const n = (byName.get(name)?.length ?? 0) + (name === "from" ? 1 : 0);
    for (let i = 0; i < n; i++) names.push(name);
  }
  return names;
}

/** The DKIM-Signature field up to and including "b=" (the value follows), folded with CRLF TAB. */
function unsignedField(signer: DkimSigner, names: readonly string[], bodyHash: string, time: number): string {
  const tags = [
    "v=1",
    `a=${signer.algorithm}`,
    `c=${signer.header}/${signer.body}`,
    `d=${signer.domain}`,
    `s=${signer.selector}`,
    `t=${time}`,
    ...(signer.expires === undefined ? [] : [`x=${time + signer.expires}`]),
  ];
  let out = `DKIM-Signature: ${tags.join("; ")};`;
  let line = "\r\n\th=";
  names.forEach((name, i) => {
    const piece = i === 0 ? name : `:${name}`;
    if (line.length + piece.length > 76) {
      out += line;
      line = "\r\n\t";
    }
    line += piece;
  });
  out += `${line};\r\n\tbh=${bodyHash};\r\n\tb=`;
  return out;
}

/** The signature value folded into lines of 72 characters. */
function foldValue(value: string): string {
  const pieces: string[] = [];
  for (let i = 0; i < value.length; i += 72) pieces.push(value.slice(i, i + 72));
  return pieces.join("\r\n\t");
}

/** Octets of the field `signatureField` will return, with its CRLF (for SIZE before the body is read). */
export function signatureFieldLength(signer: DkimSigner, fields: readonly RawField[], time: number): number {
  const unsigned = unsignedField(signer, signedNames(signer, fieldsByName(fields)), "x".repeat(44), time);
  return unsigned.length + foldValue("x".repeat(signer.signatureLength)).length + 2;
}

/**
 * The DKIM-Signature field (with its CRLF) for a header block and a body hash. Fields named in h= are taken
 * from the bottom up (RFC 6376 §5.4.2); a name listed once more than it occurs stands for the empty field.
 */
export function signatureField(
  signer: DkimSigner,
  fields: readonly RawField[],
  bodyHash: string,
  time: number,
): string {
  const byName = fieldsByName(fields);
  let data = "";
  for (const name of new Set(signer.headers)) {
    // bottom up; the From listed once more than it occurs stands for the empty field and adds nothing
    const instances = byName.get(name) ?? [];
    for (let i = instances.length - 1; i >= 0; i--) data += canonicalHeader(instances[i]!.raw, signer.header);
  }
  const names = signedNames(signer, byName);
  const unsigned = unsignedField(signer, names, bodyHash, time);
  data += canonicalHeader(unsigned, signer.header).replace(/\r\n$/, "");
  const bytes = Buffer.from(data, "latin1");
  const signature =
    signer.algorithm === "rsa-sha256"
      ? sign("sha256", bytes, signer.key)
      : sign(null, createHash("sha256").update(bytes).digest(), signer.key);
  return `${unsigned}${foldValue(signature.toString("base64"))}\r\n`;
}

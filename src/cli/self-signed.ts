// A minimal self-signed X.509 v3 certificate (RFC 5280) for the demo's loopback server, built with
// node:crypto alone: Node 20 can parse certificates (X509Certificate) but has no API to create one.
// ECDSA P-256 with SHA-256 (RFC 5758 §3.2), subjectAltName localhost/127.0.0.1/::1, serverAuth only.
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";

/** A certificate and its private key, PEM encoded, ready for tls.createServer / smtp-server. */
export interface SelfSigned {
  /** PEM certificate; also what a client passes as `ca` to trust it. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
  /** The parsed certificate. */
  x509: X509Certificate;
}

// ---- DER (X.690) encoding of the few types a certificate needs ----

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, "utf8"));
const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.from([0]), bytes); // 0 unused bits
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));

/** A non-negative INTEGER from big-endian bytes (a leading 0 keeps it positive). */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const base128: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime for 1950-2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-11-29T22:15:00.000Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "ascii"))
    : tlv(0x18, Buffer.from(digits, "ascii"));
}

function ipBytes(address: string): Buffer {
  if (address.includes(":")) {
    // expand "::" and write eight 16-bit groups
    const [head = "", tail = ""] = address.split("::");
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
    return Buffer.from(
      groups.flatMap((g) => [(Number.parseInt(g, 16) >> 8) & 0xff, Number.parseInt(g, 16) & 0xff]),
    );
  }
  return Buffer.from(address.split(".").map(Number));
}

const OID = {
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/**
 * Generates a fresh key pair and a self-signed certificate for `names` (DNS names and IP addresses).
 * Valid from a minute ago (clock skew) for `days` days. The subject is CN=<first name>.
 */
export function createSelfSigned(names: string[] = ["localhost", "127.0.0.1", "::1"], days = 1): SelfSigned {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const algorithm = sequence(oid(OID.ecdsaWithSHA256)); // no parameters for ECDSA (RFC 5758 §3.2)
  const name = sequence(
    set(sequence(oid(OID.organization), utf8String("smtpkit demo"))),
    set(sequence(oid(OID.commonName), utf8String(names[0] ?? "localhost"))),
  );
  const now = Date.now();
  const altNames = names.map((n) =>
    /^[\d.]+$/.test(n) || n.includes(":") ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, "ascii")),
  );
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and non-zero, at most 20 octets (RFC 5280 §4.1.2.2)
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name, // issuer = subject: self-signed
    sequence(time(new Date(now - 60_000)), time(new Date(now + days * 86_400_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(
      3,
      sequence(
        extension(OID.subjectAltName, false, sequence(...altNames)),
        extension(OID.basicConstraints, true, sequence()), // cA FALSE (the DEFAULT, so omitted)
        extension(OID.keyUsage, true, tlv(0x03, Buffer.from([7, 0x80]))), // digitalSignature
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
      ),
    ),
  );
  const signature = sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value
  const der = sequence(tbs, algorithm, bitString(signature));
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  const cert = `-----BEGIN CERTIFICATE-----\n${base64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
  const key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { cert, key, x509: new X509Certificate(cert) };
}

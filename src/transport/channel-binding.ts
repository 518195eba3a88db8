import { createHash } from "node:crypto";
import type tls from "node:tls";

/** Channel binding data for SCRAM-*-PLUS: RFC 9266 tls-exporter on TLS 1.3, RFC 5929 tls-server-end-point else. */
export interface ChannelBinding {
  type: "tls-exporter" | "tls-server-end-point";
  data: Uint8Array;
}

// Signature algorithm OIDs (DER contents) whose hash is stronger than SHA-256 (RFC 5929 §4.1 picks the
// certificate's own hash; MD5, SHA-1 and anything else use SHA-256).
const SHA384_OIDS = [
  "2a864886f70d01010c", // sha384WithRSAEncryption 1.2.840.113549.1.1.12
  "2a8648ce3d040303", // ecdsa-with-SHA384 1.2.840.10045.4.3.3
];
const SHA512_OIDS = [
  "2a864886f70d01010d", // sha512WithRSAEncryption 1.2.840.113549.1.1.13
  "2a8648ce3d040304", // ecdsa-with-SHA512 1.2.840.10045.4.3.4
];

/** The hash RFC 5929 §4.1 names for a certificate, read from its outer signatureAlgorithm. */
export function endPointHash(certificateDer: Uint8Array): "sha256" | "sha384" | "sha512" {
  // The outer signatureAlgorithm follows tbsCertificate; its OID appears again inside tbsCertificate,
  // so the last OID occurrence of a known algorithm in the certificate is the outer one. Both agree by RFC 5280.
  const hex = Buffer.from(certificateDer).toString("hex");
  const lastAt = (oids: string[]): number =>
    Math.max(...oids.map((oid) => hex.lastIndexOf(`06${lenHex(oid)}${oid}`)));
  const at384 = lastAt(SHA384_OIDS);
  const at512 = lastAt(SHA512_OIDS);
  if (at512 > at384) return "sha512";
  if (at384 >= 0) return "sha384";
  return "sha256";
}

function lenHex(oidHex: string): string {
  return (oidHex.length / 2).toString(16).padStart(2, "0");
}

/** The binding for an established TLS socket, or undefined when none can be computed. */
export function channelBindingOf(socket: tls.TLSSocket): ChannelBinding | undefined {
  if (socket.getProtocol() === "TLSv1.3") {
    // RFC 9266 §2: label "EXPORTER-Channel-Binding", no context, 32 bytes (in TLS 1.3 an empty
    // context is the same as none, RFC 8446 §7.5).
    return {
      type: "tls-exporter",
      data: socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)),
    };
  }
  const certificate = socket.getPeerCertificate();
  if (!certificate?.raw) return undefined;
  const hash = endPointHash(certificate.raw);
  return { type: "tls-server-end-point", data: createHash(hash).update(certificate.raw).digest() };
}

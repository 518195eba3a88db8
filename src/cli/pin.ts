// tls_fingerprint (msmtp): trust exactly one certificate, named by its SHA-256 (or, for old files, SHA-1)
// fingerprint, whatever CA signed it. Checked on the established channel before any credential is sent.
import type { SMTP } from "../client/smtp.js";
import { SMTPError } from "../errors.js";

/**
 * Throws ETLS unless the session runs over TLS and the server's certificate has the `expected`
 * fingerprint (hex, upper case, no colons; 64 digits for SHA-256, 40 for SHA-1). `where` names the
 * setting ("~/.msmtprc:12") in the message.
 */
export function verifyPinnedCertificate(smtp: SMTP, expected: string, where: string): void {
  const socket = smtp.tlsSocket;
  if (socket === undefined) {
    throw new SMTPError("ETLS", `tls_fingerprint (${where}) needs TLS: set "tls on"`, {
      stage: "CONNECT",
      temporary: false,
    });
  }
  const certificate = socket.getPeerCertificate();
  const actual = expected.length === 40 ? certificate.fingerprint : certificate.fingerprint256;
  const hex = (actual ?? "").replace(/:/g, "").toUpperCase();
  if (hex !== expected) {
    throw new SMTPError(
      "ETLS",
      `the server's certificate does not match tls_fingerprint (${where}): it is ${actual ?? "absent"}; ` +
        "if the server changed its certificate on purpose, set tls_fingerprint to the new one (smtpkit probe shows it)",
      { stage: "CONNECT", temporary: false },
    );
  }
}

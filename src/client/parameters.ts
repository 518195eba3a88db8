import { SMTPError } from "../errors.js";
import type { Capabilities } from "../protocol/capabilities.js";
import { encodeXtext } from "../protocol/xtext.js";
import type { Envelope, EnvelopeOptions, OutgoingMessage, Session } from "./session.js";

// MAIL FROM and RCPT TO parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 8689 REQUIRETLS,
// RFC 3461 DSN). Each check that can refuse the transaction runs here, before anything is written.

export function mailParameters(
  session: Session,
  envelope: Envelope,
  message: OutgoingMessage,
  options: EnvelopeOptions,
): string[] {
  const caps = session.capabilities;
  const params: string[] = [];
  if (message.size !== undefined && caps.maxSize !== undefined) {
    if (caps.maxSize > 0 && message.size > caps.maxSize) {
      throw new SMTPError(
        "EMESSAGE",
        `the message (${message.size} octets) is larger than the server's limit (SIZE ${caps.maxSize})`,
        { stage: "MAIL", temporary: false },
      );
    }
    params.push(`SIZE=${message.size}`);
  }
  if (message.eightBit && caps.eightBitMime) params.push("BODY=8BITMIME");
  if (envelope.smtpUtf8) {
    if (!caps.smtpUtf8) {
      throw new SMTPError("EENVELOPE", "an address needs SMTPUTF8, which the server does not offer", {
        stage: "MAIL",
        temporary: false,
      });
    }
    params.push("SMTPUTF8");
  }
  if (options.requireTLS) {
    if (!session.secure || !caps.requireTls) {
      throw new SMTPError(
        "EENVELOPE",
        session.secure
          ? "REQUIRETLS was asked for but the server does not offer it"
          : "REQUIRETLS needs a TLS channel",
        { stage: "MAIL", temporary: false },
      );
    }
    params.push("REQUIRETLS");
  }
  if (options.dsn && caps.dsn) {
    if (options.dsn.ret) params.push(`RET=${options.dsn.ret}`);
    if (options.dsn.envid !== undefined) params.push(`ENVID=${encodeXtext(options.dsn.envid)}`);
  }
  return params;
}

export function rcptParameters(caps: Capabilities, recipient: string, options: EnvelopeOptions): string[] {
  const dsn = options.dsn;
  if (!dsn || !caps.dsn) return [];
  const params: string[] = [];
  if (dsn.notify && dsn.notify.length > 0) params.push(`NOTIFY=${dsn.notify.join(",")}`);
  if (dsn.orcpt) params.push(`ORCPT=rfc822;${encodeXtext(recipient)}`);
  return params;
}

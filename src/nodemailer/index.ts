// smtpkit/nodemailer: a nodemailer transport with smtpkit underneath. Keep nodemailer's sendMail() (templates,
// attachments, DKIM, plugins); change one line:
//   nodemailer.createTransport(smtpkitTransport({ host, auth: { username, password } }))
// nodemailer is an optional peer dependency and is never imported by smtpkit (not even from here).
import type { SmtpkitTransportOptions } from "./options.js";
import { SmtpkitTransport } from "./transport.js";

/** A nodemailer transport object that sends through smtpkit (API.md §8). */
export function smtpkitTransport(options: SmtpkitTransportOptions): SmtpkitTransport {
  return new SmtpkitTransport(options);
}

export type { SmtpkitTransportOptions, TransportAuth, TransportPoolOptions } from "./options.js";
export type {
  NodemailerEnvelope,
  NodemailerErrorFields,
  SmtpkitSentMessageInfo,
  TransportError,
} from "./results.js";
export type { NodemailerDsn, NodemailerMail, SendCallback } from "./transport.js";
export { SmtpkitTransport } from "./transport.js";

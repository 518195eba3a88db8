// sendMail(): one message, one connection — connect, send, close.
import { checkSendInput } from "../client/send.js";
import { SMTPError } from "../errors.js";
import type { Content, SendOptions, SendResult } from "../types.js";
import { type ConnectOptions, connect } from "./connect.js";

/** The message part of sendMail()'s options. */
export interface MailOptions {
  /** The sender: "user@host" or "Name <user@host>"; also the envelope's MAIL FROM. */
  from: string;
  /** Recipients shown in the To header. */
  to: string | string[];
  /** Recipients shown in the Cc header. */
  cc?: string | string[];
  /** Recipients that get the message but appear in no header. */
  bcc?: string | string[];
  subject: string;
  /** Plain text, or a ready MIME message (see SMTP.send). */
  content: Content;
  /** Extra headers, Message-ID, Date, DSN, REQUIRETLS. */
  options?: SendOptions;
}

/**
 * Connects (see connect()), sends one message and closes the connection — also after a failure. Resolves
 * with the SendResult; rejects with the SMTPError of the step that failed (a failure to close afterwards
 * never replaces it, nor fails a send that succeeded). A content stream is left as it is when the
 * connection fails before the message is sent: the caller who opened it closes it.
 */
export async function sendMail(options: ConnectOptions & MailOptions): Promise<SendResult> {
  const { from, to, cc, bcc, subject, content, options: sendOptions, ...connectOptions } = options;
  const toList = asList(to);
  const ccList = asList(cc);
  const bccList = asList(bcc);
  if (toList.length + ccList.length + bccList.length === 0) {
    throw new SMTPError("EINPUT", "no recipients: give at least one address in to, cc or bcc", {
      temporary: false,
    });
  }
  // Every input rule that needs no server, before any byte is sent: bad input never costs a connection,
  // a TLS handshake and a login (send() checks the rest, e.g. SMTPUTF8, once it knows the server).
  checkSendInput({
    from,
    to: toList,
    cc: ccList,
    bcc: bccList,
    subject,
    options: sendOptions ?? {},
  });
  const smtp = await connect(connectOptions);
  try {
    return await smtp.send(from, toList, ccList, bccList, subject, content, sendOptions);
  } finally {
    await smtp.close().catch(() => undefined);
  }
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

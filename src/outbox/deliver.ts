// One stored message through the pool. The pool sends text/content messages (pool.sendMail); a follow-up
// transaction to only some recipients is the same message (composer) over pool.sendRaw. When composeMail
// (mime) lands, both become pool.sendMail(mail) with `envelope`, and html/attachments are allowed.
import { inputError } from "../errors.js";
import { composeMessage } from "../message/compose.js";
import type { Pool } from "../pool/types.js";
import type { SendResult } from "../types.js";
import type { ReadyMail } from "./stored-mail.js";

/** EINPUT for what this build cannot send yet (html and attachments need composeMail). */
export function checkSendable(mail: { html?: unknown; attachments?: unknown[] }): void {
  if (mail.html !== undefined || (mail.attachments !== undefined && mail.attachments.length > 0)) {
    throw inputError("html and attachments need composeMail, which this build of smtpkit does not have yet");
  }
}

export function deliver(pool: Pool, mail: ReadyMail): Promise<SendResult> {
  checkSendable(mail);
  const body = mail.content ?? mail.text ?? "";
  const headers = { ...mail.headers };
  if (mail.replyTo !== undefined && mail.replyTo.length > 0) headers["Reply-To"] = mail.replyTo.join(", ");
  if (mail.envelope === undefined) {
    return pool.sendMail({
      from: mail.from,
      to: mail.to,
      cc: mail.cc,
      bcc: mail.bcc,
      subject: mail.subject,
      content: body,
      headers,
      messageId: mail.messageId,
      date: mail.date,
      options: { ...mail.options },
    });
  }
  // a follow-up transaction: the same message (same headers, same Message-ID) to the envelope's recipients;
  // composed for the most restricted server (7-bit body, no SMTPUTF8) since the session is not known here
  const composed = composeMessage({
    from: mail.from,
    to: mail.to,
    cc: mail.cc,
    subject: mail.subject,
    content: body,
    headers,
    messageId: mail.messageId,
    date: mail.date,
    eightBitMime: false,
    smtpUtf8: false,
    hostname: "localhost",
  });
  const recipients = mail.envelope.to ?? [...mail.to, ...mail.cc, ...mail.bcc];
  return pool.sendRaw(mail.envelope.from ?? mail.from, recipients, composed.chunks, { ...mail.options });
}

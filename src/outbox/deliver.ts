// One stored message over one SMTP session. Until composeMail (mime) lands this uses SMTP.send() — and,
// for a follow-up transaction to only some recipients, the composer plus sendRaw(); then it becomes
// smtp.sendMail(mail) / pool.sendMail(mail) and this file goes away.
import type { SMTP } from "../client/smtp.js";
import { inputError } from "../errors.js";
import { composeMessage } from "../message/compose.js";
import type { SendResult } from "../types.js";
import type { ReadyMail } from "./stored-mail.js";

/** EINPUT for what this build cannot send yet (html and attachments need composeMail). */
export function checkSendable(mail: { html?: unknown; attachments?: unknown[] }): void {
  if (mail.html !== undefined || (mail.attachments !== undefined && mail.attachments.length > 0)) {
    throw inputError("html and attachments need composeMail, which this build of smtpkit does not have yet");
  }
}

export function deliver(smtp: SMTP, mail: ReadyMail): Promise<SendResult> {
  checkSendable(mail);
  const body = mail.content ?? mail.text ?? "";
  const headers = { ...mail.headers };
  if (mail.replyTo !== undefined && mail.replyTo.length > 0) headers["Reply-To"] = mail.replyTo.join(", ");
  if (mail.envelope === undefined) {
    return smtp.send(mail.from, mail.to, mail.cc, mail.bcc, mail.subject, body, {
      headers,
      messageId: mail.messageId,
      date: mail.date,
      ...mail.options,
    });
  }
  // a follow-up transaction: the same message (same headers, same Message-ID) to the envelope's recipients
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
  return smtp.sendRaw(mail.envelope.from ?? mail.from, recipients, composed.chunks, { ...mail.options });
}

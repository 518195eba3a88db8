// One stored message through the pool: the whole mail (text, html, attachments by path, a follow-up's
// envelope) goes to pool.sendMail(), which composes it (API.md §5) on the session it gets.
import type { MailOptions } from "../mime/types.js";
import type { Pool } from "../pool/types.js";
import type { SendResult } from "../types.js";
import type { ReadyMail } from "./stored-mail.js";

export function toMailOptions(mail: ReadyMail): MailOptions {
  const out: MailOptions = {
    from: mail.from,
    to: mail.to,
    cc: mail.cc,
    bcc: mail.bcc,
    subject: mail.subject,
    messageId: mail.messageId,
    date: mail.date,
  };
  if (mail.replyTo !== undefined) out.replyTo = mail.replyTo;
  if (mail.text !== undefined) out.text = mail.text;
  if (mail.html !== undefined) out.html = mail.html;
  if (mail.content !== undefined) out.content = mail.content;
  if (mail.attachments !== undefined) out.attachments = mail.attachments;
  if (mail.headers !== undefined) out.headers = mail.headers;
  if (mail.envelope !== undefined) out.envelope = mail.envelope;
  if (mail.options !== undefined) out.options = mail.options;
  if (mail.sender !== undefined) out.sender = mail.sender;
  if (mail.inReplyTo !== undefined) out.inReplyTo = mail.inReplyTo;
  if (mail.references !== undefined) out.references = mail.references;
  if (mail.priority !== undefined) out.priority = mail.priority;
  if (mail.listUnsubscribe !== undefined) out.listUnsubscribe = mail.listUnsubscribe;
  return out;
}

export function deliver(pool: Pool, mail: ReadyMail): Promise<SendResult> {
  return pool.sendMail(toMailOptions(mail));
}

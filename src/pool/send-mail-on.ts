// The one place the pool turns a mail into a transaction on a session: SMTP.sendMail (API.md §5).
import type { RawSendOptions } from "../client/send.js";
import type { SMTP } from "../client/smtp.js";
import { inputError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import { composeForSending } from "../mime/compose.js";
import type { MailOptions } from "../mime/types.js";
import type { Content, SendResult } from "../types.js";

/** What the pool sends: a composed mail (API.md §5). */
export type PoolMail = MailOptions;

/**
 * The checks that need no server, by the composer itself: addresses, subject and headers, Message-ID,
 * attachments (paths opened), DKIM keys. Throws EINPUT; run before the mail is queued. The session-dependent
 * checks (SMTPUTF8, SIZE) still run when the message is sent.
 */
export function checkMail(mail: PoolMail): void {
  if (mail === null || typeof mail !== "object") throw inputError("sendMail() needs a mail object");
  composeForSending(mail, {});
}

/** sendRaw's checks before queueing: the envelope and the content's type. */
export function checkRaw(fromAddr: string, recipients: string[], message: Content): void {
  if (!Array.isArray(recipients)) throw inputError("recipients must be an array");
  checkEnvelope(fromAddr, recipients);
  checkContent(message);
}

/** Runs the mail as one transaction on `smtp`. */
export function sendMailOn(smtp: SMTP, mail: PoolMail): Promise<SendResult> {
  return smtp.sendMail(mail);
}

/** Runs a raw message as one transaction on `smtp`. */
export function sendRawOn(
  smtp: SMTP,
  fromAddr: string,
  recipients: string[],
  message: Content,
  options: RawSendOptions | undefined,
): Promise<SendResult> {
  return smtp.sendRaw(fromAddr, recipients, message, options);
}

function checkEnvelope(from: string, recipients: string[]): void {
  if (typeof from !== "string") throw inputError("from must be a string");
  if (from !== "" && from !== "<>") parseMailbox(from);
  if (recipients.length === 0) throw inputError("no recipients: give at least one address in to, cc or bcc");
  for (const recipient of recipients) parseMailbox(recipient);
}

function checkContent(content: Content): void {
  const ok =
    typeof content === "string" ||
    content instanceof Uint8Array ||
    (content !== null && typeof content === "object" && (Symbol.asyncIterator in content || "on" in content));
  if (!ok) throw inputError("content must be a string, a Uint8Array, a readable stream or an async iterable");
}

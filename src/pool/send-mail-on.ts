// The one place the pool turns a mail into a transaction on a session. Until composeMail (API.md §5) is
// merged this maps the fields below onto SMTP.send(); then it becomes `smtp.sendMail(mail)`.
import type { RawSendOptions } from "../client/send.js";
import type { SMTP } from "../client/smtp.js";
import { inputError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import { checkHeaderName, checkHeaderValue, isMsgId } from "../message/headers.js";
import type { Content, SendOptions, SendResult } from "../types.js";

/** The part of MailOptions (API.md §5) the pool sends today. */
export interface PoolMail {
  /** One mailbox (display name allowed); also the envelope sender. */
  from: string;
  to?: string | string[];
  cc?: string | string[];
  /** Envelope only, never a header. */
  bcc?: string | string[];
  subject: string;
  /** text/plain body. */
  text?: Content;
  /** Instead of text: a plain body, or a ready MIME message whose header block is merged (API.md §4.6). */
  content?: Content;
  /** Extra headers. */
  headers?: Record<string, string | string[]>;
  messageId?: string;
  date?: Date;
  /** DSN, REQUIRETLS. */
  options?: SendOptions;
}

/** §5 fields this build cannot send yet: refused (EINPUT) rather than silently dropped. */
const NOT_YET = [
  "html",
  "attachments",
  "icalEvent",
  "dkim",
  "envelope",
  "replyTo",
  "sender",
  "inReplyTo",
  "references",
  "priority",
  "listUnsubscribe",
] as const;

/**
 * The checks that need no server: addresses (exactly one mailbox each, at least one recipient), subject
 * and headers (no CR/LF), Message-ID syntax, content type. Throws EINPUT; run before the mail is queued.
 * The session-dependent checks (SMTPUTF8, SIZE) still run when the message is sent.
 */
export function checkMail(mail: PoolMail): void {
  if (mail === null || typeof mail !== "object") throw inputError("sendMail() needs a mail object");
  for (const field of NOT_YET) {
    if ((mail as unknown as Record<string, unknown>)[field] !== undefined) {
      throw inputError(`the pool cannot send "${field}" yet: compose the message and pass it as content`);
    }
  }
  if (mail.text !== undefined && mail.content !== undefined)
    throw inputError("give either text or content, not both");
  const recipients = [...asList(mail.to), ...asList(mail.cc), ...asList(mail.bcc)];
  checkEnvelope(mail.from, recipients);
  checkHeaderValue("Subject", mail.subject);
  for (const [name, value] of Object.entries(mail.headers ?? {})) {
    checkHeaderName(name);
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== 1) throw inputError(`header ${name}: give exactly one value`);
    checkHeaderValue(name, values[0]);
  }
  if (mail.messageId !== undefined && !isMsgId(mail.messageId)) {
    throw inputError(`messageId ${JSON.stringify(mail.messageId)} is not <left@right>`);
  }
  if (mail.date !== undefined && !(mail.date instanceof Date && Number.isFinite(mail.date.getTime()))) {
    throw inputError("date must be a valid Date");
  }
  checkContent(mail.content ?? mail.text ?? "");
}

/** Content as the pool sends it, and whether it could be sent again in full. */
export interface WatchedContent {
  content: Content;
  /** True while the content can still be sent whole: in memory, or a stream nobody has started reading. */
  replayable(): boolean;
}

/**
 * Watches a stream so the pool knows whether it was read (a message whose stream was read cannot be sent
 * again: the bytes are gone). Releasing the watched source still destroys the stream.
 */
export function watchContent(content: Content): WatchedContent {
  if (typeof content === "string" || content instanceof Uint8Array)
    return { content, replayable: () => true };
  if (content !== null && typeof content === "object" && Symbol.asyncIterator in content) {
    const source = content as AsyncIterable<Uint8Array | string> & { destroy?: () => void };
    let started = false;
    const watched = {
      [Symbol.asyncIterator]: () => {
        started = true;
        return source[Symbol.asyncIterator]();
      },
      destroy: () => source.destroy?.(),
    };
    return { content: watched, replayable: () => !started };
  }
  return { content, replayable: () => false }; // an old-style stream: never sent twice
}

/** sendRaw's checks before queueing: the envelope and the content's type. */
export function checkRaw(fromAddr: string, recipients: string[], message: Content): void {
  if (!Array.isArray(recipients)) throw inputError("recipients must be an array");
  checkEnvelope(fromAddr, recipients);
  checkContent(message);
}

/** How the pool sends one message, and whether it could send it again in full. */
export interface Sender {
  send(smtp: SMTP): Promise<SendResult>;
  /** False once a content stream was read (its bytes are gone). */
  replayable(): boolean;
}

/** A mail's sender: its body watched when it is a stream. */
export function mailSender(mail: PoolMail): Sender {
  const body = mail.content ?? mail.text;
  if (body === undefined) return { send: (smtp) => sendMailOn(smtp, mail), replayable: () => true };
  const watched = watchContent(body);
  const sent =
    mail.content === undefined ? { ...mail, text: watched.content } : { ...mail, content: watched.content };
  return { send: (smtp) => sendMailOn(smtp, sent), replayable: watched.replayable };
}

/** A raw message's sender. */
export function rawSender(
  fromAddr: string,
  recipients: string[],
  message: Content,
  options: RawSendOptions | undefined,
): Sender {
  const watched = watchContent(message);
  return {
    send: (smtp) => smtp.sendRaw(fromAddr, recipients, watched.content, options),
    replayable: watched.replayable,
  };
}

/** Runs the mail as one transaction on `smtp` (becomes smtp.sendMail(mail) once composeMail is merged). */
export function sendMailOn(smtp: SMTP, mail: PoolMail): Promise<SendResult> {
  const headers =
    mail.headers === undefined
      ? undefined
      : Object.fromEntries(Object.entries(mail.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0]! : v]));
  const options: SendOptions = { ...mail.options };
  if (headers !== undefined) options.headers = headers;
  if (mail.messageId !== undefined) options.messageId = mail.messageId;
  if (mail.date !== undefined) options.date = mail.date;
  const body = mail.content ?? mail.text ?? "";
  return smtp.send(
    mail.from,
    asList(mail.to),
    asList(mail.cc),
    asList(mail.bcc),
    mail.subject,
    body,
    options,
  );
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

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

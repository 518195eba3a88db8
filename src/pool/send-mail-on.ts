// What the pool queues for one message: its checks before queueing, and how it is sent on a session
// (SMTP.sendMail or SMTP.sendRaw), with whether it could be sent again whole.
import { ANY_SERVER, buildEnvelope, type RawSendOptions } from "../client/send.js";
import { checkMailInput } from "../client/send-mail.js";
import type { SMTP } from "../client/smtp.js";
import { inputError } from "../errors.js";
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
  checkMailInput(mail);
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

/** sendRaw's checks before queueing: the envelope (SMTP.sendRaw's own rules) and the content's type. */
export function checkRaw(fromAddr: string, recipients: string[], message: Content): void {
  buildEnvelope({ capabilities: ANY_SERVER }, fromAddr, recipients);
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
  if (body === undefined) return { send: (smtp) => smtp.sendMail(mail), replayable: () => true };
  const watched = watchContent(body);
  const sent =
    mail.content === undefined ? { ...mail, text: watched.content } : { ...mail, content: watched.content };
  return { send: (smtp) => smtp.sendMail(sent), replayable: watched.replayable };
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

function checkContent(content: Content): void {
  const ok =
    typeof content === "string" ||
    content instanceof Uint8Array ||
    (content !== null && typeof content === "object" && (Symbol.asyncIterator in content || "on" in content));
  if (!ok) throw inputError("content must be a string, a Uint8Array, a readable stream or an async iterable");
}

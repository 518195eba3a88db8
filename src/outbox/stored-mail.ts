// What goes into Redis for one message, and back. The rules (API.md §7): in-memory content up to 1 MiB in
// all is stored; attachments given by path are stored as paths (read by the worker when it sends); streams
// cannot be stored; Message-ID and Date are fixed here, once, so a resend carries the same Message-ID.
import { inputError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import { checkHeaderName, checkHeaderValue, generateMessageId, isMsgId } from "../message/headers.js";
import type { Content, SendOptions } from "../types.js";

/** The largest in-memory content (text, html, content and attachment contents together) kept in Redis. */
export const MAX_STORED_BYTES = 1024 * 1024;

/** An attachment the outbox can store: a file by path, or in-memory content. */
export interface OutboxAttachment {
  filename?: string;
  path?: string;
  content?: string | Uint8Array;
  contentType?: string;
  cid?: string;
  contentDisposition?: "attachment" | "inline";
  headers?: Record<string, string>;
}

/** A message for the outbox: the storable part of MailOptions (API.md §5). */
export interface OutboxMail {
  from: string;
  to?: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  replyTo?: string | string[];
  subject: string;
  text?: string | Uint8Array;
  html?: string | Uint8Array;
  /** A plain body or a ready MIME message (string or bytes). */
  content?: string | Uint8Array | Content;
  attachments?: OutboxAttachment[];
  headers?: Record<string, string>;
  messageId?: string;
  date?: Date;
  envelope?: { from?: string; to?: string[] };
  options?: Pick<SendOptions, "dsn" | "requireTLS">;
  sender?: string;
  inReplyTo?: string;
  references?: string | string[];
  priority?: "high" | "normal" | "low";
  listUnsubscribe?: { url?: string; mailto?: string; oneClick?: boolean };
}

/** MailOptions fields kept as they are (plain JSON). */
const AS_IS = ["sender", "inReplyTo", "references", "priority", "listUnsubscribe"] as const;
/** Every field the outbox stores; anything else is refused rather than silently dropped. */
const KNOWN = new Set<string>([
  "from",
  "to",
  "cc",
  "bcc",
  "replyTo",
  "subject",
  "text",
  "html",
  "content",
  "attachments",
  "headers",
  "messageId",
  "date",
  "envelope",
  "options",
  ...AS_IS,
]);

/** Bytes as JSON can carry them. */
type StoredBody = string | { base64: string };

interface StoredAttachment extends Omit<OutboxAttachment, "content"> {
  content?: StoredBody;
}

/** The JSON form of a message in a job: plain fields as given, addresses as lists, bodies as StoredBody. */
export interface StoredMail
  extends Pick<OutboxMail, "from" | "subject" | "headers" | "envelope" | "options" | (typeof AS_IS)[number]> {
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string[];
  text?: StoredBody;
  html?: StoredBody;
  content?: StoredBody;
  attachments?: StoredAttachment[];
  /** Fixed at enqueue. */
  messageId: string;
  /** ISO 8601, fixed at enqueue. */
  date: string;
}

/** A message ready to send: bodies back as strings or bytes, Date back as a Date. */
export interface ReadyMail extends Omit<StoredMail, "text" | "html" | "content" | "attachments" | "date"> {
  text?: string | Uint8Array;
  html?: string | Uint8Array;
  content?: string | Uint8Array;
  attachments?: OutboxAttachment[];
  date: Date;
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...value] : [value];
}

/** Counts in-memory bytes and turns a body into its stored form; a stream is EINPUT. */
class BodyStore {
  bytes = 0;
  store(value: unknown, what: string): StoredBody | undefined {
    if (value === undefined) return undefined;
    if (typeof value === "string") {
      this.bytes += Buffer.byteLength(value, "utf8");
      return value;
    }
    if (value instanceof Uint8Array) {
      this.bytes += value.byteLength;
      return { base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
    }
    throw inputError(
      `${what}: a stream cannot be stored in the outbox; give a string or bytes (up to 1 MiB in all), or an attachment path`,
    );
  }
}

function restore(body: StoredBody | undefined): string | Uint8Array | undefined {
  if (body === undefined || typeof body === "string") return body;
  return Buffer.from(body.base64, "base64");
}

/**
 * Checks a message against the storage rules and returns its JSON form, with Message-ID and Date fixed.
 * Throws EINPUT for what can never be sent (no recipients, a bad sender, a bad Message-ID or header,
 * streams, more than 1 MiB in memory).
 */
export function storeMail(mail: OutboxMail, now: Date = new Date()): StoredMail {
  if (mail === null || typeof mail !== "object") throw inputError("the message must be an object");
  for (const key of Object.keys(mail)) {
    if (!KNOWN.has(key) && (mail as unknown as Record<string, unknown>)[key] !== undefined) {
      throw inputError(
        key === "dkim"
          ? "dkim: the outbox does not store signing keys in Redis"
          : `${key}: the outbox cannot store this field`,
      );
    }
  }
  const sender = parseMailbox(mail.from);
  const to = asList(mail.to);
  const cc = asList(mail.cc);
  const bcc = asList(mail.bcc);
  for (const address of [...to, ...cc, ...bcc]) parseMailbox(address);
  const envelopeTo = mail.envelope?.to;
  if ((envelopeTo ?? [...to, ...cc, ...bcc]).length === 0) {
    throw inputError("no recipients: give at least one address in to, cc or bcc");
  }
  if (typeof mail.subject !== "string") throw inputError("subject must be a string");
  if (
    mail.content !== undefined &&
    (mail.text !== undefined || mail.html !== undefined || mail.attachments)
  ) {
    throw inputError("give either content, or text/html/attachments, not both");
  }
  const messageId =
    mail.messageId ?? generateMessageId(sender.address.slice(sender.address.lastIndexOf("@") + 1));
  if (!isMsgId(messageId))
    throw inputError(`messageId ${JSON.stringify(messageId)} is not msg-id syntax <left@right>`);
  const date = mail.date ?? now;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw inputError("date must be a valid Date");
  for (const [name, value] of Object.entries(mail.headers ?? {})) {
    checkHeaderName(name);
    checkHeaderValue(name, value);
  }
  const bodies = new BodyStore();
  const stored: StoredMail = {
    from: mail.from,
    to,
    cc,
    bcc,
    subject: mail.subject,
    messageId,
    date: date.toISOString(),
  };
  if (mail.replyTo !== undefined) stored.replyTo = asList(mail.replyTo);
  const text = bodies.store(mail.text, "text");
  if (text !== undefined) stored.text = text;
  const html = bodies.store(mail.html, "html");
  if (html !== undefined) stored.html = html;
  const content = bodies.store(mail.content, "content");
  if (content !== undefined) stored.content = content;
  if (mail.attachments !== undefined) {
    stored.attachments = mail.attachments.map((attachment, i) => {
      const { content: body, ...rest } = attachment;
      if ((body === undefined) === (rest.path === undefined)) {
        throw inputError(`attachments[${i}]: give exactly one of content or path`);
      }
      const storedBody = bodies.store(body, `attachments[${i}].content`);
      return storedBody === undefined ? rest : { ...rest, content: storedBody };
    });
  }
  if (bodies.bytes > MAX_STORED_BYTES) {
    throw inputError(
      `the message holds ${bodies.bytes} bytes in memory; the outbox stores at most ${MAX_STORED_BYTES} (1 MiB): attach large files by path`,
    );
  }
  if (mail.headers !== undefined) stored.headers = { ...mail.headers };
  if (mail.envelope !== undefined) stored.envelope = { ...mail.envelope };
  if (mail.options !== undefined) stored.options = { ...mail.options };
  for (const key of AS_IS) {
    const value = mail[key];
    if (value !== undefined) (stored as unknown as Record<string, unknown>)[key] = structuredClone(value);
  }
  return stored;
}

/** The same stored message for these envelope recipients only (Message-ID and Date unchanged). */
export function forRecipients(mail: StoredMail, to: string[]): StoredMail {
  return { ...mail, envelope: { ...mail.envelope, to } };
}

/** The stored message, ready to send. */
export function readMail(stored: StoredMail): ReadyMail {
  const { text, html, content, attachments, date, ...rest } = stored;
  const ready: ReadyMail = { ...rest, date: new Date(date) };
  const restoredText = restore(text);
  if (restoredText !== undefined) ready.text = restoredText;
  const restoredHtml = restore(html);
  if (restoredHtml !== undefined) ready.html = restoredHtml;
  const restoredContent = restore(content);
  if (restoredContent !== undefined) ready.content = restoredContent;
  if (attachments !== undefined) {
    ready.attachments = attachments.map(({ content: body, ...a }) => {
      const restoredBody = restore(body);
      return restoredBody === undefined ? a : { ...a, content: restoredBody };
    });
  }
  return ready;
}

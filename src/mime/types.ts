// The public types of composed mail (API.md §5): what sendMail(), SMTP.sendMail() and composeMail() take.
import type { KeyObject } from "node:crypto";
import type { Content, SendOptions } from "../types.js";

/** One file or blob carried by the message: an attachment, or an inline part when it has a `cid`. */
export interface Attachment {
  /** Any Unicode; written as RFC 2231 parameters (and an RFC 2047 `name` for older readers). */
  filename?: string;
  /** The bytes (a string is UTF-8). Exactly one of `content` / `path`. */
  content?: string | Uint8Array | Content;
  /** A local file, opened before anything is sent and read while the message is written (never held whole). */
  path?: string;
  /** Default: from the filename's extension, else application/octet-stream. */
  contentType?: string;
  /** Makes the part inline, referenced from the html as "cid:<cid>"; unique within a message. */
  cid?: string;
  /** Default "inline" with a cid, else "attachment". */
  contentDisposition?: "attachment" | "inline";
  /** Extra header fields of this part (validated like the message's). */
  headers?: Record<string, string>;
}

/** A text/calendar alternative (an invitation: method REQUEST, a reply: REPLY, ...). */
export interface CalendarEvent {
  /** The iTIP method (RFC 5546), e.g. "REQUEST"; default "PUBLISH". */
  method?: string;
  content: string | Content;
  /** Written as the part's `name` parameter. */
  filename?: string;
}

/** A DKIM signer (RFC 6376; Ed25519 per RFC 8463). */
export interface DkimOptions {
  /** The signing domain (d=). */
  domainName: string;
  /** The selector (s=): the key is published at <selector>._domainkey.<domainName>. */
  keySelector: string;
  /** PEM text or a KeyObject: RSA (rsa-sha256, at least 1024 bits) or Ed25519 (ed25519-sha256). */
  privateKey: string | KeyObject;
  /** Default "relaxed". */
  headerCanonicalization?: "relaxed" | "simple";
  /** Default "relaxed". */
  bodyCanonicalization?: "relaxed" | "simple";
  /** Header fields to sign (those present are signed; From is always signed once more than it occurs). */
  headers?: string[];
  /** Seconds the signature is valid for: sets x= (RFC 6376 §3.5). */
  expires?: number;
}

/** One message to compose (API.md §5). Option names follow nodemailer's sendMail(). */
export interface MailOptions {
  /** One mailbox, "user@host" or "Name <user@host>"; also the envelope sender unless `envelope.from`. */
  from: string;
  to?: string | string[];
  cc?: string | string[];
  /** Recipients that appear in no header. */
  bcc?: string | string[];
  replyTo?: string | string[];
  sender?: string;
  subject: string;
  /** text/plain. */
  text?: string | Content;
  /** text/html. */
  html?: string | Content;
  attachments?: Attachment[];
  /** A text/calendar alternative. */
  icalEvent?: CalendarEvent;
  /** Instead of text/html/attachments: a plain body or a ready MIME message (the pre-§5 behaviour). */
  content?: Content;
  /** Extra header fields; an array value repeats the field. */
  headers?: Record<string, string | string[]>;
  messageId?: string;
  date?: Date;
  inReplyTo?: string;
  references?: string | string[];
  /** X-Priority and Importance. */
  priority?: "high" | "normal" | "low";
  /** RFC 2369 List-Unsubscribe; `oneClick` adds RFC 8058 List-Unsubscribe-Post (needs `url`). */
  listUnsubscribe?: { url?: string; mailto?: string; oneClick?: boolean };
  /** Several = several signatures (e.g. RSA and Ed25519). */
  dkim?: DkimOptions | DkimOptions[];
  /** Overrides the envelope taken from the headers. */
  envelope?: { from?: string; to?: string[] };
  /** dsn, requireTLS (headers, messageId and date: use the fields above). */
  options?: SendOptions;
}

/** The body fields `send()` accepts as its content. */
export type MailBody = Pick<MailOptions, "text" | "html" | "attachments" | "icalEvent">;

/** A composed message, ready to be written. */
export interface ComposedMail {
  envelope: { from: string; to: string[] };
  /** The Message-ID header ("<...>"). */
  messageId: string;
  /** Octets (CRLF line ends), when known without reading streams. */
  size?: number;
  /**
   * The message with CRLF line ends. May be called again when every source can be read again (paths,
   * in-memory content); a second call over a one-shot stream is EINPUT.
   */
  stream(): AsyncIterable<Uint8Array>;
}

/**
 * Builds the message that `send()` transmits: our header fields, then the content (API.md §1 send()).
 *
 * Headers, in order: From, To (or "undisclosed-recipients:;" when there is no To and no Cc), Cc (when
 * not empty), Subject, Date, Message-ID, the caller's extra headers, then MIME-Version, Content-Type
 * and Content-Transfer-Encoding. Never a Bcc.
 *
 * - Subject, extra header values and display names that are not plain ASCII are RFC 2047 encoded-words,
 *   also when the server offers SMTPUTF8: they decode everywhere, even after a hop without it. Only
 *   addresses go as raw UTF-8 (RFC 6532), and only with SMTPUTF8; then `smtpUtf8` is set.
 * - Plain text gets `text/plain; charset=utf-8` and the lightest transfer encoding that keeps every
 *   line within 998 octets (RFC 5322 §2.1.1): 7bit for ASCII, 8bit for UTF-8 when the server offers
 *   8BITMIME (RFC 6152), quoted-printable otherwise. Content of unknown length (a stream) is always
 *   quoted-printable, so that it is never read whole to decide.
 * - Ready MIME content (a leading header block with MIME-Version or Content-Type, API.md §4 rule 6):
 *   the caller's fields are kept (a Bcc or Resent-Bcc among them is dropped, line ends become CRLF),
 *   ours are added only where the caller has none of that name, and the body passes untouched.
 *
 * The body's line ends are not normalised here: the wire encoder (DotStuffer, or LineEndNormalizer
 * for BDAT) does it, once.
 */
import { isAscii } from "node:buffer";
import { inputError, SMTPError } from "../errors.js";
import type { Content } from "../types.js";
import { type Mailbox, needsSmtpUtf8, parseMailbox, splitAddressList, toEnvelopeAddress } from "./address.js";
import { inMemoryBytes, lineStats, sliced, slices, toByteChunks } from "./content.js";
import { phraseForm } from "./encode-words.js";
import {
  fieldValue,
  isMimeBlock,
  leadingBccField,
  peekHeaderBlock,
  type RawField,
  replay,
  scanHeaderBlock,
} from "./header-block.js";
import {
  checkHeaderName,
  checkHeaderValue,
  foldHeader,
  formatDate,
  formatUnstructured,
  generateMessageId,
  type HeaderPart,
  isMsgId,
} from "./headers.js";
import { QuotedPrintableEncoder } from "./transfer-encoding.js";

/** What `send()` passes to the composer. */
export interface ComposeInput {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  content: Content;
  headers?: Record<string, string>;
  /** msg-id syntax; "<" and ">" are added when missing. Default: a random one at `hostname`. */
  messageId?: string;
  date?: Date;
  /** The server offers 8BITMIME. */
  eightBitMime: boolean;
  /** The server offers SMTPUTF8. */
  smtpUtf8: boolean;
  /** Right-hand side of a generated Message-ID (the EHLO name). */
  hostname: string;
}

/** The composed message. `chunks` can be iterated once. */
export interface ComposedMessage {
  /**
   * The Message-ID the message carries. When the content is a stream holding a ready MIME message with
   * its own Message-ID, this is updated to that one once its header block has been read (before the
   * first chunk is yielded): read it after sending.
   */
  messageId: string;
  chunks: AsyncIterable<Uint8Array>;
  /** Octets as RFC 1870 counts them (CRLF line ends, without dot-stuffing), when known. */
  size?: number;
  /** The body may hold 8-bit octets: declare BODY=8BITMIME (RFC 6152) when offered. True for streams. */
  eightBit: boolean;
  /** The header holds raw UTF-8 (RFC 6532): MAIL FROM needs the SMTPUTF8 parameter (RFC 6531). */
  smtpUtf8: boolean;
  /** The header block (with its empty line), when the content was a ready MIME message in memory. */
  head?: Uint8Array;
}

/** Names the composer writes itself, and so refuses in `headers`. */
const OWN = ["from", "to", "cc", "subject", "date", "message-id"];
const REFUSED = new Set([
  ...OWN,
  "bcc",
  "resent-bcc",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
]);
const HIDDEN = new Set(["bcc", "resent-bcc"]);

/** Validates everything (`EINPUT`; `EENVELOPE` for an address that needs SMTPUTF8) and builds the message. */
export function composeMessage(input: ComposeInput): ComposedMessage {
  const from = mailboxIn("From", input.from);
  const to = mailboxes(input.to, "To");
  const cc = mailboxes(input.cc, "Cc");
  if (typeof input.subject !== "string") throw inputError("subject must be a string");
  let headerUtf8 = false;
  const address = (mailbox: Mailbox): string => {
    const out = toEnvelopeAddress(mailbox.address, input.smtpUtf8);
    if (needsSmtpUtf8(out)) headerUtf8 = true;
    return out;
  };
  const own = new Map<string, string>();
  own.set("from", foldHeader("From", addressParts([from], address)));
  if (to.length > 0) own.set("to", foldHeader("To", addressParts(to, address)));
  else if (cc.length === 0) own.set("to", "To: undisclosed-recipients:;\r\n");
  if (cc.length > 0) own.set("cc", foldHeader("Cc", addressParts(cc, address)));
  own.set("subject", formatUnstructured("Subject", input.subject));
  own.set("date", `Date: ${formatDate(input.date ?? new Date())}\r\n`);
  const messageId =
    input.messageId === undefined ? generateMessageId(input.hostname) : checkId(input.messageId);
  own.set("message-id", `Message-ID: ${messageId}\r\n`);
  const extra = extraHeaders(input.headers, address);
  const content = input.content;
  const bytes = inMemoryBytes(content);
  const source = bytes === undefined ? toByteChunks(content) : undefined; // checks the content's type

  if (bytes !== undefined) {
    const scan = scanHeaderBlock(bytes, true);
    const ready = scan.kind === "headers" && isMimeBlock(scan.fields);
    if (!ready && leadingBccField(bytes)) throw unusableBcc();
    if (ready) {
      const head = readyHead(own, extra, scan.fields);
      const body = bytes.subarray(scan.bodyStart);
      return {
        messageId: fieldValue(scan.fields, "Message-ID") ?? messageId,
        chunks: join(head, sliced(body)),
        size: head.length + lineStats(body).size,
        eightBit: scan.eightBit || !isAscii(body),
        smtpUtf8: headerUtf8 || scan.eightBit,
        head,
      };
    }
    const lines = lineStats(bytes);
    const plain = bytes.indexOf(0) < 0 && !lines.longLine;
    const cte = plain && isAscii(bytes) ? "7bit" : plain && input.eightBitMime ? "8bit" : "quoted-printable";
    const head = Buffer.from(plainHead(own, extra, cte), "utf8");
    const qp = cte === "quoted-printable";
    return {
      messageId,
      chunks: join(head, qp ? quotedPrintable(sliced(bytes)) : sliced(bytes)),
      size: head.length + (qp ? quotedPrintableSize(bytes) : lines.size),
      eightBit: cte === "8bit",
      smtpUtf8: headerUtf8,
    };
  }

  // `release` lets a consumer that gives up on a stalled stream destroy it (see ReleasableSource).
  const generator = streamChunks();
  const chunks = Object.assign(generator, {
    release: () => (source as { release?: () => void }).release?.(),
  });
  const result: ComposedMessage = { messageId, chunks, eightBit: true, smtpUtf8: headerUtf8 };
  async function* streamChunks(): AsyncGenerator<Uint8Array> {
    const { head, scan, rest } = await peekHeaderBlock(source!);
    const ready = scan.kind === "headers" && isMimeBlock(scan.fields);
    if (!ready && leadingBccField(head)) throw unusableBcc();
    if (ready) {
      const theirs = fieldValue(scan.fields, "Message-ID");
      if (theirs !== undefined) result.messageId = theirs;
      yield readyHead(own, extra, scan.fields);
      yield* replay(head.subarray(scan.bodyStart), rest);
    } else {
      yield Buffer.from(plainHead(own, extra, "quoted-printable"), "utf8");
      yield* quotedPrintable(replay(head, rest));
    }
  }
  return result;
}

/** The mailboxes of header `field` ("To"); the option is called `to`. */
function mailboxes(list: unknown, field: string): Mailbox[] {
  if (!Array.isArray(list)) throw inputError(`${field.toLowerCase()} must be an array of addresses`);
  return list.map((entry: unknown) => mailboxIn(field, entry));
}

/** One mailbox of header `field`; an input error names the field. */
function mailboxIn(field: string, entry: unknown): Mailbox {
  try {
    return parseMailbox(entry as string);
  } catch (error) {
    if (error instanceof SMTPError && error.code === "EINPUT") throw inputError(`${field}: ${error.message}`);
    throw error;
  }
}

/** Header parts for a list of mailboxes: `name <address>` or `address`, separated by ", ". */
function addressParts(list: readonly Mailbox[], address: (m: Mailbox) => string): HeaderPart[] {
  const parts: HeaderPart[] = [];
  list.forEach((mailbox, i) => {
    if (i > 0) parts.push(", ");
    const addr = address(mailbox);
    if (mailbox.name === undefined) {
      parts.push(addr);
      return;
    }
    const form = phraseForm(mailbox.name);
    parts.push(form.kind === "encoded" ? { encode: mailbox.name } : form.text, ` <${addr}>`);
  });
  return parts;
}

/** Accepts `<left@right>` or `left@right` (brackets added); `EINPUT` unless it is msg-id syntax. */
function checkId(value: string): string {
  if (typeof value !== "string") throw inputError("messageId must be a string");
  const id = value.startsWith("<") ? value : `<${value}>`;
  if (!isMsgId(id))
    throw inputError(`messageId "${value}" is not msg-id syntax (<left@right>, RFC 5322 §3.6.4)`);
  return id;
}

/**
 * Extra headers whose value is a list of addresses (RFC 5322 §3.6.2–3.6.6 and common extensions): written
 * like From/To (display names encoded, addresses as addresses), never as encoded unstructured text.
 */
const ADDRESS_HEADERS = new Set([
  "reply-to",
  "sender",
  "resent-from",
  "resent-sender",
  "resent-to",
  "resent-cc",
  "disposition-notification-to",
  "return-receipt-to",
  "mail-followup-to",
  "mail-reply-to",
  "errors-to",
]);

/** Validates and renders the extra headers (API.md §4 rule 5). */
function extraHeaders(headers: Record<string, string> | undefined, address: (m: Mailbox) => string): string {
  if (headers === undefined) return "";
  if (headers === null || typeof headers !== "object") throw inputError("headers must be an object");
  let out = "";
  for (const [name, value] of Object.entries(headers)) {
    checkHeaderName(name);
    const lower = name.toLowerCase();
    if (HIDDEN.has(lower)) throw inputError(`a ${name} header is never written; put those recipients in bcc`);
    if (REFUSED.has(lower)) {
      throw inputError(
        `header ${name} is written by send() itself; for your own MIME headers send ready MIME content`,
      );
    }
    checkHeaderValue(name, value);
    if (ADDRESS_HEADERS.has(lower)) {
      const list = splitAddressList(value).map((entry) => mailboxIn(name, entry));
      if (list.length === 0) throw inputError(`header ${name} holds no address`);
      out += foldHeader(name, addressParts(list, address));
    } else if (Buffer.byteLength(value, "utf8") === value.length) {
      // ASCII (its UTF-8 length is its length) needs no encoding: written as given (folded), so URLs and tokens such as
      // "<https://x/?a=?b>" stay exactly what the caller wrote.
      out += foldHeader(name, [value]);
    } else {
      out += formatUnstructured(name, value);
    }
  }
  return out;
}

/** The header block for plain text content. */
function plainHead(own: Map<string, string>, extra: string, cte: string): string {
  let out = "";
  for (const name of OWN) out += own.get(name) ?? "";
  return `${out}${extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n`;
}

/** Content that starts with a Bcc line we cannot remove safely: refused rather than shown to everyone. */
function unusableBcc(): SMTPError {
  return inputError(
    "the content starts with a Bcc field that is not part of a ready MIME header block (one with MIME-Version " +
      "or Content-Type, parsed up to its empty line within 64 KiB); it would be sent as text to every " +
      "recipient: pass Bcc recipients in bcc, or fix the header block",
  );
}

/** The header block for ready MIME content: ours where the caller has none, then the caller's, minus Bcc. */
function readyHead(own: Map<string, string>, extra: string, fields: readonly RawField[]): Uint8Array {
  const present = new Set(fields.map((f) => f.name.toLowerCase()));
  let ours = "";
  for (const name of OWN) if (!present.has(name)) ours += own.get(name) ?? "";
  ours += extra;
  if (!present.has("mime-version")) ours += "MIME-Version: 1.0\r\n";
  let theirs = "";
  for (const f of fields) if (!HIDDEN.has(f.name.toLowerCase())) theirs += `${f.raw}\r\n`;
  return Buffer.concat([Buffer.from(ours, "utf8"), Buffer.from(`${theirs}\r\n`, "latin1")]);
}

async function* join(head: Uint8Array, body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield head;
  yield* body;
}

async function* quotedPrintable(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const qp = new QuotedPrintableEncoder();
  for await (const chunk of source) {
    const out = qp.encode(chunk);
    if (out.length > 0) yield out;
  }
  const tail = qp.end();
  if (tail.length > 0) yield tail;
}

function* quotedPrintableSync(bytes: Uint8Array): Generator<Uint8Array> {
  const qp = new QuotedPrintableEncoder();
  for (const slice of slices(bytes)) yield qp.encode(slice);
  yield qp.end();
}

/** Octets of the quoted-printable form (already CRLF), plus the CRLF the end of data may add. */
function quotedPrintableSize(bytes: Uint8Array): number {
  let size = 0;
  let last = 0x0a;
  for (const out of quotedPrintableSync(bytes)) {
    size += out.length;
    if (out.length > 0) last = out[out.length - 1]!;
  }
  return last === 0x0a ? size : size + 2;
}

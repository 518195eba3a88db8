/**
 * Recognises a header block at the start of message content (RFC 5322 §2.1: header fields, then an
 * empty line, then the body), reading at most 64 KiB of a stream to decide.
 *
 * Header bytes are handled as latin1 text so that any 8-bit octets (RFC 6532 UTF-8) go back out
 * byte for byte; names are checked as ASCII field-names (RFC 5322 §3.6.8).
 */

const CR = 0x0d;
const LF = 0x0a;
/** How much of a stream is read, at most, to find the end of a leading header block. */
export const PEEK_LIMIT = 64 * 1024;

/** One header field as found: its name and its raw text (continuation lines joined by CRLF, no final CRLF). */
export interface RawField {
  name: string;
  raw: string;
}

/** Result of scanning: a header block ending at `bodyStart`, not a header block, or undecided yet. */
export type HeaderScan =
  | { kind: "headers"; fields: RawField[]; bodyStart: number; eightBit: boolean }
  | { kind: "none" }
  | { kind: "more" };

/**
 * Scans `bytes` for a leading header block. Lines may end in CRLF, LF or CR. `complete` says that
 * no more bytes follow: then a block that runs to the end (no empty line, no body) still counts.
 */
export function scanHeaderBlock(bytes: Uint8Array, complete: boolean): HeaderScan {
  const text = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = text.length;
  const fields: RawField[] = [];
  let eightBit = false;
  let pos = 0;
  for (;;) {
    if (pos >= n) {
      return complete && fields.length > 0
        ? { kind: "headers", fields, bodyStart: pos, eightBit }
        : more(complete);
    }
    // the line's end, noting 8-bit octets on the way (RFC 6532 UTF-8 in the header)
    let end = pos;
    for (; end < n; end++) {
      const byte = text[end]!;
      if (byte === CR || byte === LF) break;
      if (byte > 0x7f) eightBit = true;
    }
    let next: number;
    if (end === n) {
      if (!complete) return { kind: "more" };
      next = end;
    } else if (text[end] === CR) {
      if (end + 1 === n && !complete) return { kind: "more" }; // CR or CRLF? not known yet
      next = text[end + 1] === LF ? end + 2 : end + 1;
    } else {
      next = end + 1;
    }
    if (end === pos) {
      // The empty line that ends the header block (RFC 5322 §2.1).
      return fields.length > 0 ? { kind: "headers", fields, bodyStart: next, eightBit } : { kind: "none" };
    }
    const first = text[pos];
    if (first === SPACE || first === TAB) {
      const last = fields[fields.length - 1];
      if (last === undefined) return { kind: "none" };
      last.raw += `\r\n${text.toString("latin1", pos, end)}`;
    } else {
      const nameEnd = fieldNameEnd(text, pos, end);
      if (nameEnd < 0) return { kind: "none" };
      const line = text.toString("latin1", pos, end);
      fields.push({ name: line.slice(0, nameEnd - pos), raw: line });
    }
    pos = next;
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/**
 * Where the field name of the line `bytes[from, to)` ends: the index after its last character, before the
 * colon and any white space in front of it (RFC 5322 §4.5.3, obsolete syntax, allows "Bcc : x"). -1 when
 * the line has no colon or the name is empty or not printable ASCII without ":" (RFC 5322 §3.6.8).
 */
function fieldNameEnd(bytes: Uint8Array, from: number, to: number): number {
  let colon = from;
  while (colon < to && bytes[colon] !== COLON) colon++;
  if (colon === to) return -1;
  let end = colon;
  while (end > from && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB)) end--;
  if (end === from) return -1;
  for (let i = from; i < end; i++) {
    const byte = bytes[i]!;
    if (byte < 0x21 || byte > 0x7e) return -1;
  }
  return end;
}

function more(complete: boolean): HeaderScan {
  return complete ? { kind: "none" } : { kind: "more" };
}

/**
 * True when the content's leading lines (up to the first empty line) hold a Bcc or Resent-Bcc field,
 * however the rest of them look. Used to refuse content that would otherwise be sent as plain text with
 * its Bcc line visible to every recipient (API.md §4.6).
 */
export function leadingBccField(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  const end = text.search(/\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/);
  const head = end < 0 ? text : text.slice(0, end);
  return /(?:^|[\r\n])(?:resent-)?bcc[ \t]*:/i.test(head);
}

/** True when the fields make the content a ready MIME message (MIME-Version or Content-Type present). */
export function isMimeBlock(fields: readonly RawField[]): boolean {
  return fields.some((f) => {
    const name = f.name.toLowerCase();
    return name === "mime-version" || name === "content-type";
  });
}

/** The unfolded, trimmed value of the first field called `name` (case-insensitive), if any. */
export function fieldValue(fields: readonly RawField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const field = fields.find((f) => f.name.length === lower.length && f.name.toLowerCase() === lower);
  return field === undefined ? undefined : unfoldedValue(field);
}

/** A field's value, unfolded and trimmed. */
export function unfoldedValue(field: RawField): string {
  return field.raw
    .slice(field.raw.indexOf(":") + 1) // not name.length + 1: "Cc : x" (RFC 5322 §4.5.3) has white space first
    .replace(/\r\n/g, "")
    .trim();
}

/** Reads chunks until the scan decides (or PEEK_LIMIT is passed): the bytes read, the scan, and the rest. */
export async function peekHeaderBlock(
  source: AsyncIterable<Uint8Array>,
): Promise<{ head: Uint8Array; scan: HeaderScan; rest: AsyncIterator<Uint8Array> | undefined }> {
  const iterator = source[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let length = 0;
  let scanAt = 0; // scan again once this many bytes are in: the work stays linear for tiny chunks
  for (;;) {
    const step = await iterator.next();
    if (step.done) {
      const head = Buffer.concat(parts, length);
      return { head, scan: scanHeaderBlock(head, true), rest: undefined };
    }
    parts.push(step.value);
    length += step.value.length;
    if (length < scanAt && length < PEEK_LIMIT) continue;
    scanAt = Math.max(2 * length, 256);
    const head = Buffer.concat(parts, length);
    parts.length = 0;
    parts.push(head);
    const scan = scanHeaderBlock(head, false);
    if (scan.kind !== "more") return { head, scan, rest: iterator };
    if (length >= PEEK_LIMIT) return { head, scan: { kind: "none" }, rest: iterator };
  }
}

/** Yields `head` and then the remaining chunks of `rest`. */
export async function* replay(
  head: Uint8Array,
  rest: AsyncIterator<Uint8Array> | undefined,
): AsyncGenerator<Uint8Array> {
  if (head.length > 0) yield head;
  if (rest === undefined) return;
  try {
    for (;;) {
      const step = await rest.next();
      if (step.done) return;
      yield step.value;
    }
  } finally {
    // Stopped early (the consumer broke out): let the source release its stream.
    await rest.return?.();
  }
}

/**
 * For a message the caller built (sendRaw): finds its Message-ID in the leading header block, reading
 * at most 64 KiB, and returns the chunks to send (the bytes read are replayed first). `messageId` is
 * "" when there is none.
 */
export async function extractMessageId(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ messageId: string; chunks: AsyncIterable<Uint8Array> }> {
  const { head, scan, rest } = await peekHeaderBlock(chunks);
  const messageId = scan.kind === "headers" ? (fieldValue(scan.fields, "Message-ID") ?? "") : "";
  return { messageId, chunks: replay(head, rest) };
}

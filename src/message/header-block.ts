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
  const fields: RawField[] = [];
  let eightBit = false;
  let pos = 0;
  for (;;) {
    if (pos >= bytes.length) {
      return complete && fields.length > 0
        ? { kind: "headers", fields, bodyStart: pos, eightBit }
        : more(complete);
    }
    let end = pos;
    while (end < bytes.length && bytes[end] !== CR && bytes[end] !== LF) end++;
    let next: number;
    if (end === bytes.length) {
      if (!complete) return { kind: "more" };
      next = end;
    } else if (bytes[end] === CR) {
      if (end + 1 === bytes.length && !complete) return { kind: "more" }; // CR or CRLF? not known yet
      next = bytes[end + 1] === LF ? end + 2 : end + 1;
    } else {
      next = end + 1;
    }
    if (end === pos) {
      // The empty line that ends the header block (RFC 5322 §2.1).
      return fields.length > 0 ? { kind: "headers", fields, bodyStart: next, eightBit } : { kind: "none" };
    }
    const line = Buffer.from(bytes.buffer, bytes.byteOffset + pos, end - pos).toString("latin1");
    if (/[\u0080-\u00ff]/.test(line)) eightBit = true;
    if (line[0] === " " || line[0] === "\t") {
      const last = fields[fields.length - 1];
      if (last === undefined) return { kind: "none" };
      last.raw += `\r\n${line}`;
    } else {
      const colon = line.indexOf(":");
      // RFC 5322 §4.5.3 (obsolete syntax) allows white space before the colon: "Bcc : x" is a Bcc field.
      const name = colon > 0 ? line.slice(0, colon).replace(/[ \t]+$/, "") : "";
      if (!/^[\u0021-\u0039\u003b-\u007e]+$/.test(name)) return { kind: "none" };
      fields.push({ name, raw: line });
    }
    pos = next;
  }
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
  const field = fields.find((f) => f.name.toLowerCase() === lower);
  if (field === undefined) return undefined;
  return field.raw
    .slice(field.name.length + 1)
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

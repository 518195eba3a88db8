/**
 * Message content (`Content`: string | Uint8Array | Node readable stream | AsyncIterable of strings
 * or bytes) as an async iterable of byte chunks, without ever holding a stream whole.
 */
import { Readable } from "node:stream";
import { inputError } from "../errors.js";
import type { Content } from "../types.js";

/** In-memory content is handed out in slices of this size, so that writes interleave with the socket. */
const SLICE = 256 * 1024;

/**
 * The content's bytes as an async iterable. Strings are encoded as UTF-8 (a surrogate pair split
 * between two string chunks is kept whole). In-memory content is sliced without copying. A stream's
 * error is thrown from the iterator; breaking out of the loop destroys the stream.
 *
 * The type of `content` is checked now (`EINPUT`), not when iteration starts. The iterable is
 * single-use for streams and iterators.
 */
export function toByteChunks(content: Content): AsyncIterable<Uint8Array> {
  if (typeof content === "string") return sliced(Buffer.from(content, "utf8"));
  if (content instanceof Uint8Array) return sliced(content);
  if (content !== null && typeof content === "object") {
    if (Symbol.asyncIterator in content) {
      return releasable(fromIterable(content as AsyncIterable<unknown>), content);
    }
    // An old-style stream without async iteration: Readable.wrap() gives it one.
    // The wrapper is made only when the data is read: made earlier, it would re-emit the stream's errors
    // with nobody listening while the envelope is still being answered (an uncaught exception).
    if (typeof (content as NodeJS.ReadableStream).on === "function") {
      const stream = content as NodeJS.ReadableStream;
      return releasable(
        { [Symbol.asyncIterator]: () => fromIterable(new Readable().wrap(stream))[Symbol.asyncIterator]() },
        stream,
      );
    }
  }
  throw inputError("content must be a string, a Uint8Array, a readable stream or an async iterable");
}

/**
 * The content's length in octets when it is known without reading it (string: UTF-8 length;
 * Uint8Array: byteLength), else undefined. This is the raw length, before line ends are normalised.
 */
export function knownLength(content: Content): number | undefined {
  if (typeof content === "string") return Buffer.byteLength(content, "utf8");
  if (content instanceof Uint8Array) return content.byteLength;
  return undefined;
}

/** The bytes of in-memory content, or undefined for a stream or iterable. Strings are encoded once. */
export function inMemoryBytes(content: Content): Uint8Array | undefined {
  if (typeof content === "string") return Buffer.from(content, "utf8");
  if (content instanceof Uint8Array) return content;
  return undefined;
}

/** In-memory bytes as SLICE-sized views (no copy). */
export function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let p = 0; p < bytes.length; p += SLICE) yield bytes.subarray(p, p + SLICE);
}

/** In-memory bytes, yielded in SLICE-sized views. */
export function sliced(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      yield* slices(bytes);
    },
  };
}

/**
 * A source that can be released without reading it to the end: `release()` destroys the underlying
 * stream (without an error, so a caller without an 'error' listener is not hurt). A consumer calls it when
 * it gives up on a source that may be stalled, where an iterator's return() would wait for ever.
 */
export interface ReleasableSource extends AsyncIterable<Uint8Array> {
  release(): void;
}

function releasable(iterable: AsyncIterable<Uint8Array>, underlying: object): ReleasableSource {
  return {
    [Symbol.asyncIterator]: () => iterable[Symbol.asyncIterator](),
    release: () => {
      const destroy = (underlying as { destroy?: () => void }).destroy;
      if (typeof destroy === "function") destroy.call(underlying);
    },
  };
}

async function* fromIterable(source: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  let carry = ""; // a high surrogate that ended the previous string chunk
  for await (const chunk of source) {
    if (typeof chunk === "string") {
      let text = carry + chunk;
      carry = "";
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        carry = text.slice(-1);
        text = text.slice(0, -1);
      }
      if (text !== "") yield Buffer.from(text, "utf8");
    } else if (chunk instanceof Uint8Array) {
      if (carry !== "") {
        yield Buffer.from(carry, "utf8");
        carry = "";
      }
      if (chunk.length > 0) yield chunk;
    } else {
      throw inputError("a content stream yielded something that is neither a string nor a Uint8Array");
    }
  }
  if (carry !== "") yield Buffer.from(carry, "utf8");
}

/**
 * The size of in-memory content as RFC 1870 SIZE counts it — after CRLF normalisation, with the CRLF
 * the end of data gives an unfinished last line, without dot-stuffing — or undefined for a stream.
 * For `sendRaw`, where the content goes out as it is apart from line ends.
 */
export function wireSize(content: Content): number | undefined {
  const bytes = inMemoryBytes(content);
  return bytes === undefined ? undefined : lineStats(bytes).size;
}

/** RFC 5322 §2.1.1: at most 998 octets on a line, without the CRLF. */
const MAX_LINE = 998;

/**
 * One pass over the line ends (CRLF, LF or CR) without copying: the size after CRLF normalisation,
 * including the CRLF the end of data gives an unfinished last line (what LineEndNormalizer would
 * write), and whether any line is longer than 998 octets.
 */
export function lineStats(bytes: Uint8Array): { size: number; longLine: boolean } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = buf.length;
  let size = n;
  let longLine = false;
  let start = 0;
  let nextCR = -1;
  let nextLF = -1;
  while (start < n) {
    if (nextCR < start) nextCR = buf.indexOf(0x0d, start);
    if (nextCR < 0) nextCR = n;
    if (nextLF < start) nextLF = buf.indexOf(0x0a, start);
    if (nextLF < 0) nextLF = n;
    const end = Math.min(nextCR, nextLF);
    if (end - start > MAX_LINE) longLine = true;
    if (end === n) {
      size += 2; // the last line has no line end
      break;
    }
    if (end === nextCR && buf[end + 1] === 0x0a) {
      start = end + 2;
    } else {
      size += 1; // a bare CR or LF becomes CRLF
      start = end + 1;
    }
  }
  return { size, longLine };
}

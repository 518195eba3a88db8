import type { Reply } from "../types.js";
import { buildReply } from "./reply.js";

/** Limits of API.md §4 rule 2. */
export const MAX_LINE_OCTETS = 8192;
export const MAX_REPLY_OCTETS = 256 * 1024;
export const MAX_REPLY_LINES = 1000;

/** A reply that is not SMTP or breaks a limit. The connection maps it to EPROTOCOL. */
export class ReplySyntaxError extends Error {
  override readonly name = "ReplySyntaxError";
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Push decoder for SMTP replies (RFC 5321 §4.2). Give it chunks split anywhere (`each`); it hands on each complete
 * reply once its last line has arrived. Strict: every line ends in CRLF, starts with the same 3-digit code
 * (first digit 2-5), then "-" (more lines follow), " " or the line end (last line). Anything else throws
 * ReplySyntaxError, and so do the size limits. After a throw the parser must not be used again but reset().
 */
export class ReplyParser {
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  #code = 0;
  #lines: string[] = [];
  #replyOctets = 0;

  /** Octets held for a reply that is not complete yet. */
  get pendingOctets(): number {
    return this.#replyOctets + this.#partialLength;
  }

  /** Drops everything held (used after STARTTLS's 220: nothing received before TLS may be read). */
  reset(): void {
    this.#partial = [];
    this.#partialLength = 0;
    this.#code = 0;
    this.#lines = [];
    this.#replyOctets = 0;
  }

  /**
   * Decodes a chunk and hands each complete reply to `onReply` as soon as its last line is read (no array
   * per chunk: this runs for every reply of a session). When `onReply` returns true, decoding stops right
   * after that reply and the rest of the chunk is returned undecoded; otherwise undefined.
   */
  each(input: Uint8Array, onReply: (reply: Reply) => boolean): Uint8Array | undefined {
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
    const n = chunk.length;
    let start = 0;
    while (start < n) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        const piece = chunk.subarray(start);
        this.#partialLength += piece.length;
        // +1: the CR of the line end may already be here
        if (this.#partialLength > MAX_LINE_OCTETS + 1) {
          throw new ReplySyntaxError(`reply line longer than ${MAX_LINE_OCTETS} octets`);
        }
        this.#partial.push(piece);
        break;
      }
      let reply: Reply | undefined;
      if (this.#partialLength > 0) {
        this.#partial.push(chunk.subarray(start, lf + 1));
        const line = concat(this.#partial, this.#partialLength + lf + 1 - start);
        this.#partial = [];
        this.#partialLength = 0;
        reply = this.#line(line, 0, line.length);
      } else {
        reply = this.#line(chunk, start, lf + 1);
      }
      start = lf + 1;
      if (reply !== undefined && onReply(reply)) return chunk.subarray(start);
    }
    return undefined;
  }

  /** One line, `buf[from, to)`, its LF included. Returns the reply when this line was its last. */
  #line(buf: Buffer, from: number, to: number): Reply | undefined {
    const length = to - from;
    if (length - 2 > MAX_LINE_OCTETS) {
      throw new ReplySyntaxError(`reply line longer than ${MAX_LINE_OCTETS} octets`);
    }
    if (length < 5 || buf[to - 2] !== CR) {
      throw new ReplySyntaxError(length < 5 ? "reply line too short" : "reply line not ended by CRLF");
    }
    const d0 = buf[from]! - 0x30;
    const d1 = buf[from + 1]! - 0x30;
    const d2 = buf[from + 2]! - 0x30;
    if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 5 || d2 < 0 || d2 > 9) {
      throw new ReplySyntaxError("reply line does not start with a reply code");
    }
    const code = d0 * 100 + d1 * 10 + d2;
    const sep = buf[from + 3]!;
    let last: boolean;
    let textStart: number;
    if (sep === CR) {
      // "250\r\n": a last line with no text
      last = true;
      textStart = from + 3;
    } else if (sep === 0x20 || sep === 0x2d) {
      last = sep === 0x20;
      textStart = from + 4;
    } else {
      throw new ReplySyntaxError("reply code not followed by space, hyphen or CRLF");
    }
    if (this.#lines.length > 0 && code !== this.#code) {
      throw new ReplySyntaxError(`multi-line reply changes its code from ${this.#code} to ${code}`);
    }
    this.#code = code;
    const end = to - 2;
    let ascii = true;
    for (let i = textStart; i < end; i++) {
      const byte = buf[i]!;
      if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) {
        throw new ReplySyntaxError("control character in reply text");
      }
      if (byte > 0x7f) ascii = false;
    }
    // ASCII text (nearly every reply) is read without the UTF-8 decoder
    this.#lines.push(buf.toString(ascii ? "latin1" : "utf8", textStart, end));
    this.#replyOctets += length;
    if (this.#lines.length > MAX_REPLY_LINES) {
      throw new ReplySyntaxError(`reply longer than ${MAX_REPLY_LINES} lines`);
    }
    if (this.#replyOctets > MAX_REPLY_OCTETS) {
      throw new ReplySyntaxError(`reply longer than ${MAX_REPLY_OCTETS} octets`);
    }
    if (!last) return undefined;
    const reply = buildReply(code, this.#lines);
    this.#lines = [];
    this.#replyOctets = 0;
    this.#code = 0;
    return reply;
  }
}

function concat(parts: Uint8Array[], length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

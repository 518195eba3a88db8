/**
 * Streaming Content-Transfer-Encodings (RFC 2045 §6): quoted-printable (§6.7) and base64 (§6.8).
 * Like the wire encoders, each is a state machine with `encode(chunk)` and `end()`; splitting the
 * input anywhere gives the same output as encoding it whole. Output line ends are CRLF.
 */

import { grownOutput, outputFor, usualSlack } from "../protocol/output-buffer.js";

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const EQ = 0x3d;
const DOT = 0x2e;
const HEX = Buffer.from("0123456789ABCDEF", "latin1");
/** Characters before a soft line break: 75 plus the "=" make the 76 of RFC 2045 §6.7 rule (5). */
const QP_LINE = 75;
const NONE = -1;

// Bytes kept as they are (RFC 2045 §6.7 rules 2 and 3): printable ASCII except "=", plus SPACE and TAB
// (which are encoded only when they end a line).
const SAFE = new Uint8Array(256);
for (let b = 0x20; b < 0x7f; b++) SAFE[b] = b === EQ ? 0 : 1;
SAFE[TAB] = 1;

/** Room for one turn of the encoding loop: a run up to the soft break (75) and a line end (8). */
const STEP_ROOM = 96;

/**
 * Quoted-printable for text (RFC 2045 §6.7):
 * - printable ASCII other than "=" is kept (rule 2); "=", controls and 8-bit octets become "=HH" (rule 1);
 * - CRLF, bare LF and bare CR are hard line breaks, written as CRLF (rule 4);
 * - a space or TAB right before a line break (or at the end) is encoded, others are kept (rule 3);
 * - lines are at most 76 characters, with "=" soft breaks (rule 5);
 * - a "." that would begin an encoded line is written "=2E" (rule 1 allows it for any octet): no line of
 *   the encoded text needs dot-stuffing, so the DATA encoder passes the output on as it is instead of
 *   copying it once more, and a transport that mishandles a lone "." line cannot cut the message short.
 *
 * Runs of bytes that stay as they are are copied whole. A SPACE or TAB is written as it comes and
 * re-encoded if a line break follows it; one that ends a chunk is held back until the next chunk.
 * The output is a buffer about the size of the input (output-buffer.ts), grown once for text that needs
 * more (8-bit).
 */
export class QuotedPrintableEncoder {
  /** Characters on the current output line. */
  private col = 0;
  /** A space or TAB held back at the end of the last chunk, or NONE. */
  private ws = NONE;
  /** The last input byte was CR (already written as a hard break): skip an LF that follows. */
  private afterCR = false;

  /** Encodes one chunk; the result may be empty (a held-back space). */
  encode(chunk: Uint8Array): Uint8Array {
    const n = chunk.length;
    let out: Uint8Array = outputFor(n + usualSlack(n) + STEP_ROOM);
    let o = 0;
    let col = this.col;
    let i = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (n > 0 && chunk[0] === LF) i = 1;
    }
    if (this.ws !== NONE) {
      out[o++] = this.ws; // as if it had come in this chunk; line col < 75 when it was held
      col++;
      this.ws = NONE;
    }
    while (i < n) {
      if (o + STEP_ROOM > out.length) {
        // Room for the worst case of the rest: 3 characters per octet and a soft break per 25 octets.
        out = grownOutput(out, o, o + 4 * (n - i) + STEP_ROOM);
      }
      if (col === 0 && chunk[i] === DOT) {
        o = writeHex(out, o, DOT); // "=2E": no encoded line begins with "."
        col = 3;
        i++;
        continue;
      }
      // Copy the longest run of safe bytes that fits on the line before a soft break.
      const stop = Math.min(n, i + (QP_LINE - col));
      let j = i;
      while (j < stop && SAFE[chunk[j]!] === 1) j++;
      if (j > i) {
        const len = j - i;
        if (len > 16)
          out.set(chunk.subarray(i, j), o); // a view: see output-buffer.ts
        else for (let k = i; k < j; k++) out[o + k - i] = chunk[k]!;
        o += len;
        col += len;
        i = j;
        if (i === n) break;
      }
      const b = chunk[i]!;
      if (b === CR || b === LF) {
        const last = o > 0 ? out[o - 1]! : NONE;
        if (col > 0 && (last === SP || last === TAB)) {
          // Rule 3: whitespace that ends a line is encoded. The last segment of a line may use all 76.
          o--;
          col--;
          if (col + 3 > QP_LINE + 1) o = softBreak(out, o);
          o = writeHex(out, o, last);
        }
        out[o++] = CR;
        out[o++] = LF;
        col = 0;
        i++;
        if (b === CR) {
          if (i === n) this.afterCR = true;
          else if (chunk[i] === LF) i++;
        }
      } else if (SAFE[b] === 1) {
        o = softBreak(out, o); // the line is full
        col = 0;
      } else {
        if (col + 3 > QP_LINE) {
          o = softBreak(out, o);
          col = 0;
        }
        o = writeHex(out, o, b);
        col += 3;
        i++;
      }
    }
    // A space or TAB at the very end may turn out to end a line: hold it back.
    const last = o > 0 && col > 0 ? out[o - 1]! : NONE;
    if (last === SP || last === TAB) {
      this.ws = last;
      o--;
      col--;
    }
    this.col = col;
    return out.subarray(0, o);
  }

  /**
   * Flushes a held-back trailing space or TAB, encoded (the content ends here, and the end of the data
   * adds a line break after it). Does not add a final line break. The encoder is reset.
   */
  end(): Uint8Array {
    const out = Buffer.allocUnsafe(8);
    let o = 0;
    if (this.ws !== NONE) {
      if (this.col + 3 > QP_LINE + 1) o = softBreak(out, o);
      o = writeHex(out, o, this.ws);
    }
    this.col = 0;
    this.ws = NONE;
    this.afterCR = false;
    return out.subarray(0, o);
  }
}

function softBreak(out: Uint8Array, o: number): number {
  out[o] = EQ;
  out[o + 1] = CR;
  out[o + 2] = LF;
  return o + 3;
}

function writeHex(out: Uint8Array, o: number, b: number): number {
  out[o] = EQ;
  out[o + 1] = HEX[b >> 4]!;
  out[o + 2] = HEX[b & 15]!;
  return o + 3;
}

/** Input bytes per base64 line: 57 bytes make 76 characters (RFC 2045 §6.8). */
const B64_GROUP = 57;
const B64_LINE = 76;

/** Base64 (RFC 2045 §6.8) in lines of 76 characters, each ending in CRLF (the last one too). */
export class Base64Encoder {
  /** Up to 56 bytes that do not fill a line yet. */
  private rest: Uint8Array = new Uint8Array(0);

  /** Encodes one chunk: every full line it completes. */
  encode(chunk: Uint8Array): Uint8Array {
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // The held-back bytes and the start of this chunk make at most one line: join only those, not the
    // whole chunk.
    let head: Buffer | undefined;
    let start = 0;
    if (this.rest.length > 0) {
      start = Math.min(B64_GROUP - this.rest.length, data.length);
      head = Buffer.concat([this.rest, data.subarray(0, start)]);
      if (head.length < B64_GROUP) {
        this.rest = head;
        return new Uint8Array(0);
      }
    }
    const lines = Math.floor((data.length - start) / B64_GROUP);
    const full = start + lines * B64_GROUP;
    this.rest = Uint8Array.prototype.slice.call(data, full); // a copy: the caller may reuse the chunk
    const total = lines + (head === undefined ? 0 : 1);
    if (total === 0) return new Uint8Array(0);
    const out = Buffer.allocUnsafe(total * (B64_LINE + 2));
    let o = 0;
    if (head !== undefined) o = wrap(head, 1, out, o);
    if (lines > 0) wrap(data.subarray(start, full), lines, out, o);
    return out;
  }

  /** The last, shorter line (with its CRLF), if any. The encoder is reset. */
  end(): Uint8Array {
    const rest = this.rest;
    this.rest = new Uint8Array(0);
    if (rest.length === 0) return rest;
    return Buffer.from(`${Buffer.from(rest).toString("base64")}\r\n`, "latin1");
  }
}

/**
 * Writes the base64 of `data` (`lines` whole 57-byte groups) into `out` at `o` as lines of 76 characters
 * plus CRLF; returns the new write position. The text is written once, 2 bytes per line further on,
 * and each line is moved down to its place: a line's CRLF never reaches text not yet moved.
 */
function wrap(data: Buffer, lines: number, out: Buffer, o: number): number {
  let src = o + 2 * lines;
  out.write(data.toString("base64"), src, "latin1");
  for (let k = 0; k < lines; k++, src += B64_LINE) {
    out.copyWithin(o, src, src + B64_LINE);
    o += B64_LINE;
    out[o++] = CR;
    out[o++] = LF;
  }
  return o;
}

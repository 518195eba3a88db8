/**
 * Streaming encoders for message data on the wire.
 *
 * `DotStuffer` frames DATA content (RFC 5321 §4.1.1.4 and §4.5.2): every line ends in CRLF (bare LF and
 * bare CR become CRLF, RFC 5321 §2.3.8), a "." at the start of a line is doubled, and `end()` writes
 * the terminator. This is the SMTP-smuggling guard: whatever the content holds ("\n.\n", "\r.\r",
 * "\r\n.\n", ...), the only CRLF "." CRLF on the wire is the one `end()` writes.
 *
 * `LineEndNormalizer` does the same CRLF normalisation without dot-stuffing, for BDAT (RFC 3030 §2:
 * chunks are sent as they are, so no transparency is needed).
 *
 * Both are byte-level state machines whose state crosses chunk boundaries: splitting the input anywhere
 * (inside CRLF, before a dot, inside a UTF-8 sequence) gives the same output as encoding it whole.
 * When a chunk needs no change, `encode()` returns the chunk itself (no copy); otherwise it copies the
 * unchanged runs into one fresh output buffer about the size of the chunk (output-buffer.ts).
 */

import { grownOutput, outputFor, usualSlack } from "./output-buffer.js";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const EMPTY = new Uint8Array(0);
const DOT_CRLF = Uint8Array.of(DOT, CR, LF);

/**
 * The shared CRLF state machine. `stuff` selects dot-stuffing.
 *
 * State between chunks: `lineStart` (the next byte begins a line) and `afterCR` (the last byte was a
 * CR, already written; an LF that follows it completes that CRLF and is skipped, anything else means
 * the CR was bare and an LF must be inserted).
 */
class CrlfEncoder {
  /** The next input byte begins a line (true at the start: DATA content follows the 354's CRLF). */
  protected lineStart = true;
  /** The previous input byte was a CR, written as is. */
  protected afterCR = false;

  constructor(private readonly stuff: boolean) {}

  /** Encodes one chunk. Returns the chunk itself when nothing in it needs changing. */
  encode(input: Uint8Array): Uint8Array {
    const n = input.length;
    if (n === 0) return input;
    // Buffer's indexOf (memchr) is about twice as fast as TypedArray's: view plain arrays as Buffers.
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, n);
    const stuff = this.stuff;
    let out: Uint8Array | undefined;
    let o = 0; // write position in out
    let copied = 0; // input before this index is already in out (or unchanged, while out is undefined)
    let pos = 0; // scan position
    let lineStart = this.lineStart;

    if (this.afterCR) {
      this.afterCR = false;
      if (chunk[0] === LF) {
        pos = 1; // completes the CRLF begun in the previous chunk
      } else {
        // The previous chunk ended with a bare CR: insert the missing LF before this chunk.
        out = outputFor(n + usualSlack(n));
        out[o++] = LF;
      }
      lineStart = true;
    }

    // Next CR and LF at or after pos; n when there is none. Each is searched again only once passed,
    // so every byte is scanned by indexOf at most twice in total (once for CR, once for LF).
    let nextCR = chunk.indexOf(CR, pos);
    if (nextCR < 0) nextCR = n;
    let nextLF = chunk.indexOf(LF, pos);
    if (nextLF < 0) nextLF = n;

    for (;;) {
      if (lineStart) {
        if (pos === n) break; // the line starts in the next chunk
        lineStart = false;
        if (stuff && chunk[pos] === DOT) {
          // RFC 5321 §4.5.2: a line that begins with "." gets one more "." in front.
          out = roomFor(out, n, o, copied);
          o = copyRun(chunk, copied, pos, out, o);
          out[o++] = DOT;
          copied = pos; // the original dot follows with the rest of the line
        }
      }
      if (nextCR < pos) {
        nextCR = chunk.indexOf(CR, pos);
        if (nextCR < 0) nextCR = n;
      }
      if (nextLF < pos) {
        nextLF = chunk.indexOf(LF, pos);
        if (nextLF < 0) nextLF = n;
      }
      if (nextCR < nextLF) {
        const e = nextCR;
        if (e + 1 === n) {
          // CR is the last byte: whether it is bare is decided by the next chunk (or by end()).
          this.afterCR = true;
          pos = n;
          break;
        }
        if (chunk[e + 1] === LF) {
          pos = e + 2; // a proper CRLF: unchanged
        } else {
          // Bare CR: write it followed by an inserted LF.
          out = roomFor(out, n, o, copied);
          o = copyRun(chunk, copied, e + 1, out, o);
          out[o++] = LF;
          copied = e + 1;
          pos = e + 1;
        }
        lineStart = true;
      } else if (nextLF < n) {
        // An LF not preceded by CR (a CR before it would have consumed it above): insert a CR.
        const e = nextLF;
        out = roomFor(out, n, o, copied);
        o = copyRun(chunk, copied, e, out, o);
        out[o++] = CR;
        copied = e; // the LF itself follows
        pos = e + 1;
        lineStart = true;
      } else {
        break; // no more line ends in this chunk
      }
    }

    this.lineStart = lineStart;
    if (out === undefined) return input;
    o = copyRun(chunk, copied, n, out, o);
    return out.subarray(0, o);
  }

  /** Forgets all state, ready for a new message. */
  reset(): void {
    this.lineStart = true;
    this.afterCR = false;
  }

  /**
   * What is needed to finish the last line: "" when it is complete or nothing was seen (before the
   * first byte `lineStart` is still true, so no separate "seen" flag is needed).
   */
  protected finishLine(): Uint8Array {
    if (this.afterCR) {
      this.afterCR = false;
      this.lineStart = true;
      return Uint8Array.of(LF);
    }
    if (this.lineStart) return EMPTY;
    this.lineStart = true;
    return Uint8Array.of(CR, LF);
  }
}

/**
 * The output buffer, with room for one inserted octet and the rest of the chunk (input from `copied` on,
 * `o` octets written): made at the first insertion; grown when a chunk of very short lines outgrows the
 * first guess, then to the worst case for the rest (each remaining octet becomes at most 2).
 */
function roomFor(out: Uint8Array | undefined, n: number, o: number, copied: number): Uint8Array {
  if (out === undefined) return outputFor(n + usualSlack(n));
  const rest = n - copied;
  return o + rest + 1 <= out.length ? out : grownOutput(out, o, o + 2 * rest + 16);
}

/**
 * Copies chunk[from, to) into out at o; returns the new write position. A long run goes through a view
 * (output-buffer.ts explains why that small allocation is kept), a short one byte by byte.
 */
function copyRun(chunk: Uint8Array, from: number, to: number, out: Uint8Array, o: number): number {
  const len = to - from;
  if (len > 32) {
    out.set(chunk.subarray(from, to), o);
    return o + len;
  }
  for (let i = from; i < to; i++) out[o++] = chunk[i]!;
  return o;
}

/**
 * DATA encoder (RFC 5321 §4.1.1.4, §4.5.2): CRLF normalisation, dot-stuffing, and the terminator.
 *
 * ```ts
 * const ds = new DotStuffer();
 * for await (const chunk of content) socket.write(ds.encode(chunk));
 * socket.write(ds.end());
 * ```
 */
export class DotStuffer extends CrlfEncoder {
  constructor() {
    super(true);
  }

  /**
   * Returns exactly what finishes the data: the missing end of the last line (nothing, "\n" after a
   * trailing CR, or "\r\n") followed by ".\r\n". The whole data section therefore always ends in
   * CRLF "." CRLF, and that sequence appears nowhere else. For empty content the result is ".\r\n"
   * alone: the data begins right after the CRLF that ended the DATA command's 354 reply exchange, so
   * the terminator line needs no CRLF before it (RFC 5321 §4.1.1.4; Go's and nodemailer's choice too).
   * The encoder is reset, so it can be used for the next message.
   */
  end(): Uint8Array {
    const finish = this.finishLine();
    const out = new Uint8Array(finish.length + 3);
    out.set(finish, 0);
    out.set(DOT_CRLF, finish.length);
    this.reset();
    return out;
  }
}

/**
 * CRLF normalisation without dot-stuffing, for BDAT (RFC 3030): bare LF and bare CR become CRLF, and
 * nothing else changes.
 */
export class LineEndNormalizer extends CrlfEncoder {
  constructor() {
    super(false);
  }

  /**
   * Returns what finishes the last line: "" when the content was empty or already ended with a line
   * end, "\n" when it ended with a bare CR, "\r\n" when its last line had no line end. A message sent
   * with BDAT is thus byte for byte the one the same content gives through DATA, where the CRLF before
   * the terminating "." ends the last line (RFC 5321 §4.1.1.4). The normalizer is reset.
   */
  end(): Uint8Array {
    const out = this.finishLine();
    this.reset();
    return out;
  }
}

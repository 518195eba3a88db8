/**
 * Output memory for the streaming encoders (dot-stuffing, line-end normalisation, quoted-printable), built
 * in place: the input chunk is copied once to the end of a fresh buffer a little larger than it (the
 * slack), and the output is written from the start, each unchanged run moved forward with `copyWithin`.
 * The output may run ahead of the input by the slack; an encoder that needs more (very short lines,
 * 8-bit text in quoted-printable) asks for a larger buffer, once per chunk at most.
 *
 * What this avoids, each measured on a 200 MiB stream (test/interop/memory.test.ts):
 * - copying a run with `out.set(chunk.subarray(...))` allocates a view per run, that is per line of text:
 *   100 bytes of JS heap per 40-octet line, a scavenge every 10 ms, and a young generation grown from
 *   4 to 8 MiB for good; `copyWithin` on one buffer allocates nothing (and is about 3× faster per line);
 * - a worst-case reserve (2× the input for CRLF, 4× for quoted-printable) carved from shared 1 MiB slabs:
 *   each slab stays alive until every output cut from it is collected, and the first slab freed (an
 *   mmapped block) raises glibc's mmap threshold to 1 MiB for the rest of the process, after which the
 *   slabs come from the heap and leave holes it cannot return. An output about the size of its 64 KiB
 *   input stays below the threshold, in the size class of the source's own chunks.
 */

/**
 * A buffer of `input.length + slack` octets whose last `input.length` are the input: input octet i is at
 * `buffer.length - input.length + i`, and the output is written from 0.
 */
export function inPlaceOutput(input: Uint8Array, slack: number, recycler?: OutputRecycler): Buffer {
  const size = input.length + slack;
  const out = recycler && size >= RECYCLED_MIN ? recycler.take(size) : Buffer.allocUnsafe(size);
  out.set(input, slack);
  return out;
}

/**
 * A larger in-place output: out[0, used) kept, input octets from `from` on at the end as before, and
 * `slack` octets of room between output and input (octet i of the input at `buffer.length - n + i`).
 */
export function grownOutput(
  out: Uint8Array,
  used: number,
  input: Uint8Array,
  from: number,
  slack: number,
): Buffer {
  const bigger = Buffer.allocUnsafe(input.length + slack);
  bigger.set(out.subarray(0, used), 0);
  bigger.set(input.subarray(from), slack + from);
  return bigger;
}

/** The slack for ordinary text: an eighth of the input (a line end or escape per 8 octets), and a little. */
export function usualSlack(n: number): number {
  return (n >>> 3) + 16;
}

/** Outputs smaller than this come from Node's own buffer pool: not worth keeping. */
const RECYCLED_MIN = 4096;
/** The most octets of free buffers a recycler keeps for reuse. */
const RECYCLER_KEEPS = 1024 * 1024;

/**
 * Output buffers used again once the bytes in them have left the process, so that a long stream's
 * encoded copy is not garbage (a 200 MiB message through an encoder that copies every chunk made as
 * much garbage again as the source, and between two collections that is several MiB of peak RSS).
 * Whoever knows when the bytes are gone says so: the BDAT framer when a chunk's reply arrives (the server
 * has read it all), a writer when its socket has nothing queued. Buffers are taken in order; `mark()`
 * names the point reached, and `release(mark)` frees every buffer taken before it. At most
 * RECYCLER_KEEPS octets wait for reuse; the rest are left to the garbage collector.
 */
export class OutputRecycler {
  /** Taken and not yet released, in the order taken. */
  readonly #inUse: Buffer[] = [];
  /** How many buffers were taken before #inUse[0]. */
  #releasedUpTo = 0;
  readonly #free: Buffer[] = [];
  #freeOctets = 0;

  /** A buffer of exactly `size` octets (a view of a free one when one is large enough). */
  take(size: number): Buffer {
    let whole: Buffer | undefined;
    const free = this.#free;
    for (let k = free.length - 1; k >= 0; k--) {
      if (free[k]!.length >= size) {
        whole = free[k]!;
        free[k] = free[free.length - 1]!;
        free.pop();
        this.#freeOctets -= whole.length;
        break;
      }
    }
    // a little room over the size, so that the next chunk of about the same size fits too
    whole ??= Buffer.allocUnsafeSlow(size + (size >>> 4));
    this.#inUse.push(whole);
    return whole.subarray(0, size);
  }

  /** The point reached: every buffer taken so far is before it. */
  mark(): number {
    return this.#releasedUpTo + this.#inUse.length;
  }

  /** The bytes in every buffer taken before `mark` are gone: those buffers may be taken again. */
  release(mark: number = this.mark()): void {
    const count = mark - this.#releasedUpTo;
    if (count <= 0) return;
    const released = this.#inUse.splice(0, count);
    this.#releasedUpTo += released.length;
    for (const whole of released) {
      if (this.#freeOctets + whole.length > RECYCLER_KEEPS) continue;
      this.#free.push(whole);
      this.#freeOctets += whole.length;
    }
  }
}

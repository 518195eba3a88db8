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
export function inPlaceOutput(input: Uint8Array, slack: number): Buffer {
  const out = Buffer.allocUnsafe(input.length + slack);
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

/**
 * Output memory for the streaming encoders (dot-stuffing, line-end normalisation, quoted-printable): one
 * buffer per encoded chunk, sized for the usual case (the input plus an eighth) and grown only in a chunk
 * that needs more (very short lines, 8-bit text in quoted-printable).
 *
 * Measured on 200 MiB streams (test/interop/memory.test.ts, test/cli/sendmail-stream.test.ts), Node 20:
 * - a worst-case reserve (2× the input for CRLF, 4× for quoted-printable) carved from shared 1 MiB slabs
 *   cost 3 to 5 MiB of peak RSS: each slab stays alive until every output cut from it is collected, and
 *   the first slab freed (an mmapped block) raises glibc's mmap threshold to 1 MiB for the rest of the
 *   process, after which slabs come from the heap and leave holes it cannot return. An output about the
 *   size of its 64 KiB input stays below the threshold, in the size class of the source's own chunks.
 * - The encoders copy each unchanged run with `out.set(chunk.subarray(...))`, a small view per line.
 *   Building the output in place with `copyWithin` instead allocates nothing and copies a line about 3×
 *   faster, but it made peak RSS worse: V8 11 (Node 20) does not count array buffers toward a young
 *   collection, so with no JS garbage the dead 64 KiB chunks of the source and their copies pile up until
 *   its external-memory limit: +37 MiB for `smtpkit sendmail` with a 200 MiB message, as much as a bare
 *   file-to-socket pipe, against +17 with the views, whose young garbage brings a scavenge every few MiB
 *   that frees those chunks too.
 */

/** A buffer for `size` octets of output. */
export function outputFor(size: number): Buffer {
  return Buffer.allocUnsafe(size);
}

/** A buffer of `size` octets that starts with out[0, used): for an output that outgrew its first guess. */
export function grownOutput(out: Uint8Array, used: number, size: number): Buffer {
  const bigger = Buffer.allocUnsafe(size);
  bigger.set(out.subarray(0, used), 0);
  return bigger;
}

/** The room over the input for ordinary text: an eighth (a line end or escape per 8 octets), and a little. */
export function usualSlack(n: number): number {
  return (n >>> 3) + 16;
}

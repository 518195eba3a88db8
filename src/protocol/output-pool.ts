/**
 * Output memory for the streaming encoders, carved from shared slabs as Buffer's own pool does: an
 * encoder reserves the worst case for a chunk with `take(max)` but keeps only what it wrote with
 * `keep(out, used)`, so the slab advances by that. This avoids one large allocation per chunk (a 2×
 * or 4× reserve for a 64 KiB chunk is over glibc's 128 KiB mmap threshold: an mmap and munmap each).
 * Kept bytes are never written again; a slab is freed once every output cut from it is.
 */
export class OutputPool {
  private slab = new Uint8Array(0);
  private used = 0;

  constructor(private readonly slabSize = 1024 * 1024) {}

  /** Room for up to `max` bytes at the slab's free end. */
  take(max: number): Uint8Array {
    if (this.slab.length - this.used < max) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabSize, max));
      this.used = 0;
    }
    return this.slab.subarray(this.used, this.used + max);
  }

  /** Keeps the first `used` bytes of what `take` gave; the rest stays free. */
  keep(out: Uint8Array, used: number): Uint8Array {
    if (out.buffer === this.slab.buffer) this.used += (used + 7) & ~7;
    return out.subarray(0, used);
  }
}

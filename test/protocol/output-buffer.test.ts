import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DotStuffer, LineEndNormalizer } from "../../src/protocol/dot-stuff.js";
import { OutputRecycler } from "../../src/protocol/output-buffer.js";

const lfText = (i: number): Buffer => Buffer.from(`.${i} ${"t".repeat(60)}\n`.repeat(1000), "latin1");

describe("OutputRecycler", () => {
  it("gives a buffer again only after the mark taken after it was released", () => {
    const recycler = new OutputRecycler();
    const a = recycler.take(70_000);
    assert.equal(a.length, 70_000);
    const afterA = recycler.mark();
    const b = recycler.take(70_000);
    assert.notEqual(b.buffer, a.buffer);
    recycler.release(afterA); // a's bytes are gone, b's are not
    const c = recycler.take(69_000);
    assert.equal(c.buffer, a.buffer, "a is used again");
    const d = recycler.take(70_000);
    assert.notEqual(d.buffer, b.buffer, "b is still in use");
    assert.notEqual(d.buffer, a.buffer);
    recycler.release();
    const again = [recycler.take(70_000), recycler.take(70_000), recycler.take(70_000)];
    assert.deepEqual(
      new Set(again.map((x) => x.buffer)),
      new Set([b.buffer, c.buffer, d.buffer]),
      "every buffer comes back after release()",
    );
  });

  it("keeps at most 1 MiB of free buffers", () => {
    const recycler = new OutputRecycler();
    const taken = Array.from({ length: 40 }, () => recycler.take(65_536));
    recycler.release();
    const reused = Array.from({ length: 40 }, () => recycler.take(65_536)).filter((x) =>
      taken.some((t) => t.buffer === x.buffer),
    );
    assert.ok(reused.length > 0 && reused.length * 65_536 <= 1024 * 1024, `${reused.length} reused`);
  });

  for (const [name, make] of [
    ["DotStuffer", (r?: OutputRecycler) => new DotStuffer(r)],
    ["LineEndNormalizer", (r?: OutputRecycler) => new LineEndNormalizer(r)],
  ] as const) {
    it(`${name} with a recycler: same bytes, outputs intact until released, buffers used again after`, () => {
      const recycler = new OutputRecycler();
      const recycled = make(recycler);
      const plain = make();
      const expect = (i: number): string => Buffer.from(plain.encode(lfText(i))).toString("latin1");
      // nothing released: all 20 outputs are still needed, and still right at the end
      const held = Array.from({ length: 20 }, (_, i) => recycled.encode(lfText(i)));
      for (const [i, out] of held.entries())
        assert.equal(Buffer.from(out).toString("latin1"), expect(i), `${i}`);
      recycler.release();
      const later = Array.from({ length: 5 }, (_, i) => recycled.encode(lfText(20 + i)));
      for (const [i, out] of later.entries())
        assert.equal(Buffer.from(out).toString("latin1"), expect(20 + i));
      assert.ok(
        later.every((out) => held.some((h) => h.buffer === out.buffer)),
        "after release() the outputs are written into the released buffers",
      );
    });
  }
});

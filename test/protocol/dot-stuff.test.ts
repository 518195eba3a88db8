import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DotStuffer, LineEndNormalizer } from "../../src/protocol/dot-stuff.js";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");
const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString("latin1");

/** The obvious (slow) definition: normalise line ends, stuff leading dots, add the terminator. */
function referenceData(input: string): string {
  const norm = input.replace(/\r\n|\r|\n/g, "\r\n");
  if (norm === "") return ".\r\n";
  return `${norm.replace(/(^|\r\n)\./g, "$1..")}${norm.endsWith("\r\n") ? "" : "\r\n"}.\r\n`;
}

function referenceBdat(input: string): string {
  const norm = input.replace(/\r\n|\r|\n/g, "\r\n");
  return norm === "" || norm.endsWith("\r\n") ? norm : `${norm}\r\n`;
}

/** Undoes the DATA framing: what the receiving server stores. */
function unstuff(wire: string): string {
  assert.ok(wire === ".\r\n" || wire.endsWith("\r\n.\r\n"), `terminator missing: ${JSON.stringify(wire)}`);
  const body = wire.slice(0, -3);
  if (body === "") return "";
  return body
    .split("\r\n")
    .map((line) => (line.startsWith(".") ? line.slice(1) : line))
    .join("\r\n");
}

function run(encoder: DotStuffer | LineEndNormalizer, chunks: Uint8Array[]): string {
  const out = chunks.map((c) => encoder.encode(c));
  out.push(encoder.end());
  return text(out);
}

/** Every way of cutting the input once and twice, plus byte by byte. */
function splits(input: Buffer): Uint8Array[][] {
  const ways: Uint8Array[][] = [[input]];
  for (let i = 0; i <= input.length; i++) {
    ways.push([input.subarray(0, i), input.subarray(i)]);
    for (let j = i; j <= input.length && input.length <= 24; j++) {
      ways.push([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]);
    }
  }
  ways.push([...input].map((b) => Uint8Array.of(b)));
  return ways;
}

const DATA_TABLE: [string, string][] = [
  ["", ".\r\n"],
  ["\n.\n", "\r\n..\r\n.\r\n"],
  ["\r\r\n", "\r\n\r\n.\r\n"],
  [".", "..\r\n.\r\n"],
  ["..", "...\r\n.\r\n"],
  ["a\r", "a\r\n.\r\n"],
  ["\r", "\r\n.\r\n"],
  ["\n", "\r\n.\r\n"],
  ["x\n.\r\n.\n", "x\r\n..\r\n..\r\n.\r\n"],
  ["no newline at the end", "no newline at the end\r\n.\r\n"],
  ["a\r\n", "a\r\n.\r\n"],
  ["\r\n.\r\n", "\r\n..\r\n.\r\n"],
  ["a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"],
  ["a\n\rb", "a\r\n\r\nb\r\n.\r\n"],
  [".\r\n.\r\n", "..\r\n..\r\n.\r\n"],
  ["a.b\n c.\n", "a.b\r\n c.\r\n.\r\n"],
  ["\r\n\r\n", "\r\n\r\n.\r\n"],
  ["\u00c3\u00a9\n.\u00c3\u00bc", "\u00c3\u00a9\r\n..\u00c3\u00bc\r\n.\r\n"], // UTF-8 "é", "ü" as bytes
  ["line\r\n.\n.\r.", "line\r\n..\r\n..\r\n..\r\n.\r\n"],
];

describe("DotStuffer", () => {
  for (const [input, expected] of DATA_TABLE) {
    it(`encodes ${JSON.stringify(input)} the same at every split point`, () => {
      assert.equal(referenceData(input), expected, "the table agrees with the reference");
      for (const chunks of splits(latin1(input))) {
        const wire = run(new DotStuffer(), chunks);
        assert.equal(wire, expected, `split ${JSON.stringify(chunks.map((c) => text([c])))}`);
      }
    });
  }

  it("never lets CRLF.CRLF appear before the end, and unstuffs to the normalised input (fuzz)", () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ["\r", "\n", ".", "a", "\u00c3", "\u00a9", " "];
    for (let round = 0; round < 3000; round++) {
      let input = "";
      const length = random(40);
      for (let i = 0; i < length; i++) input += alphabet[random(alphabet.length)];
      const bytes = latin1(input);
      const chunks: Uint8Array[] = [];
      for (let p = 0; p < bytes.length; ) {
        const n = 1 + random(6);
        chunks.push(bytes.subarray(p, p + n));
        p += n;
      }
      const wire = run(new DotStuffer(), chunks);
      assert.equal(wire, referenceData(input), JSON.stringify(input));
      assert.ok(!wire.slice(0, -3).includes("\r\n.\r\n"), "no early terminator");
      assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(wire), "only CRLF line ends");
      assert.equal(unstuff(wire), referenceBdat(input));
    }
  });

  it("handles a 1 MiB message in 64 KiB chunks like the reference", () => {
    const lines: string[] = [];
    for (let i = 0, size = 0; size < 1 << 20; i++) {
      lines.push(`${i % 2 ? "." : ""}line ${i}${["\n", "\r\n", "\r"][i % 3]}`);
      size += lines[i]!.length;
    }
    const input = lines.join("");
    const bytes = latin1(input);
    const chunks: Uint8Array[] = [];
    for (let p = 0; p < bytes.length; p += 65536) chunks.push(bytes.subarray(p, p + 65536));
    assert.equal(run(new DotStuffer(), chunks), referenceData(input));
  });

  it("grows its output for 64 KiB chunks of very short lines (up to twice the input)", () => {
    // the output is first sized for ordinary text; these need up to 2n octets, wherever the chunk is cut
    for (const pattern of ["\n", ".\n", "\r", "a\n.\r", ".\r\n", "\n\n\nabcdefghijklmnopqrstuvwxyz\n"]) {
      const input = pattern.repeat(Math.ceil(200_000 / pattern.length));
      const bytes = latin1(input);
      for (const size of [65536, 65535, 100_000]) {
        const chunks: Uint8Array[] = [];
        for (let p = 0; p < bytes.length; p += size) chunks.push(bytes.subarray(p, p + size));
        assert.equal(run(new DotStuffer(), chunks), referenceData(input), JSON.stringify(pattern));
        assert.equal(run(new LineEndNormalizer(), chunks), referenceBdat(input), JSON.stringify(pattern));
      }
    }
  });

  it("returns the chunk itself when nothing needs changing", () => {
    const ds = new DotStuffer();
    const chunk = latin1("hello\r\nworld\r\n");
    assert.equal(ds.encode(chunk), chunk);
    const plain = new Uint8Array(latin1("no line end here"));
    assert.equal(ds.encode(plain), plain);
  });

  it("accepts plain Uint8Arrays (not Buffers)", () => {
    const ds = new DotStuffer();
    const out = [ds.encode(new Uint8Array(latin1("a\n.b"))), ds.end()];
    assert.equal(text(out), "a\r\n..b\r\n.\r\n");
  });

  it("is reset by end(), ready for the next message", () => {
    const ds = new DotStuffer();
    assert.equal(run(ds, [latin1("one\r")]), "one\r\n.\r\n");
    assert.equal(run(ds, [latin1(".two")]), "..two\r\n.\r\n");
    assert.equal(run(ds, []), ".\r\n");
  });

  it("keeps earlier outputs intact while later chunks are encoded", () => {
    const ds = new DotStuffer();
    const outputs: Uint8Array[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const input = `.${i}\n`.repeat(1 + (i % 50));
      outputs.push(ds.encode(latin1(input)));
      expected.push(input.replace(/\./g, "..").replace(/\n/g, "\r\n"));
    }
    assert.equal(text(outputs), expected.join(""));
  });
});

const BDAT_TABLE: [string, string][] = [
  ["", ""],
  ["\n.\n", "\r\n.\r\n"],
  ["\r\r\n", "\r\n\r\n"],
  [".", ".\r\n"],
  ["..", "..\r\n"],
  ["a\r", "a\r\n"],
  ["\r", "\r\n"],
  ["x\n.\r\n.\n", "x\r\n.\r\n.\r\n"],
  ["no newline at the end", "no newline at the end\r\n"],
  ["a\r\n", "a\r\n"],
  ["a\r.\rb", "a\r\n.\r\nb\r\n"],
];

describe("LineEndNormalizer", () => {
  for (const [input, expected] of BDAT_TABLE) {
    it(`normalises ${JSON.stringify(input)} the same at every split point, without dot-stuffing`, () => {
      assert.equal(referenceBdat(input), expected);
      for (const chunks of splits(latin1(input))) {
        assert.equal(run(new LineEndNormalizer(), chunks), expected);
      }
    });
  }

  it("matches the reference on random input", () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 1000; round++) {
      let input = "";
      for (let i = random(30); i > 0; i--) input += ["\r", "\n", ".", "b"][random(4)];
      const bytes = latin1(input);
      const cut = random(bytes.length + 1);
      const out = run(new LineEndNormalizer(), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.equal(out, referenceBdat(input), JSON.stringify(input));
    }
  });
});

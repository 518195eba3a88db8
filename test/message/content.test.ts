import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import { SMTPError } from "../../src/errors.js";
import { knownLength, toByteChunks } from "../../src/message/content.js";
import type { Content } from "../../src/types.js";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

async function collect(content: Content): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of toByteChunks(content)) {
    assert.ok(chunk instanceof Uint8Array);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

describe("toByteChunks", () => {
  it("encodes strings as UTF-8", async () => {
    assert.deepEqual(await collect("h\u00e9llo \u{1f600}"), Buffer.from("h\u00e9llo \u{1f600}", "utf8"));
    assert.deepEqual(await collect(""), Buffer.alloc(0));
  });

  it("slices Uint8Arrays without copying", async () => {
    const bytes = new Uint8Array(600_000).fill(65);
    const chunks: Uint8Array[] = [];
    for await (const chunk of toByteChunks(bytes)) chunks.push(chunk);
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) assert.equal(chunk.buffer, bytes.buffer);
    assert.equal(
      chunks.reduce((n, c) => n + c.length, 0),
      bytes.length,
    );
  });

  it("reads Node readable streams of Buffers and of strings", async () => {
    assert.deepEqual(
      await collect(Readable.from([Buffer.from("ab"), Buffer.from("cd")])),
      Buffer.from("abcd"),
    );
    const text = new PassThrough();
    text.setEncoding("utf8");
    text.end(Buffer.from("gr\u00fc\u00dfe", "utf8"));
    assert.deepEqual(await collect(text), Buffer.from("gr\u00fc\u00dfe", "utf8"));
  });

  it("reads async iterables, keeping a surrogate pair split between string chunks whole", async () => {
    async function* parts(): AsyncGenerator<string | Uint8Array> {
      yield "smile \ud83d";
      yield "\ude00 and ";
      yield Buffer.from("bytes");
      yield "\ud83d"; // a lone high surrogate at the very end
    }
    assert.deepEqual(await collect(parts()), Buffer.from("smile \u{1f600} and bytes\ufffd", "utf8"));
  });

  it("reads old-style streams without async iteration", async () => {
    const old = Object.assign(new EventEmitter(), {
      readable: true,
      pause() {},
      resume() {},
    }) as unknown as NodeJS.ReadableStream;
    const done = collect(old);
    const emitter = old as unknown as EventEmitter;
    setImmediate(() => {
      emitter.emit("data", Buffer.from("old "));
      emitter.emit("data", Buffer.from("style"));
      emitter.emit("end");
    });
    assert.deepEqual(await done, Buffer.from("old style"));
  });

  it("throws a stream's error from the iterator", async () => {
    const failure = new Error("disk on fire");
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("partial");
      throw failure;
    }
    await assert.rejects(collect(failing()), (e) => e === failure);
    const stream = new PassThrough();
    const reading = collect(stream);
    stream.write("x");
    setImmediate(() => stream.destroy(failure));
    await assert.rejects(reading, (e) => e === failure);
  });

  it("refuses chunks that are neither strings nor bytes", async () => {
    await assert.rejects(collect(Readable.from([{ not: "bytes" }])), isInputError);
  });

  it("refuses content of the wrong type at once", () => {
    for (const bad of [42, null, undefined, {}, true]) {
      assert.throws(() => toByteChunks(bad as unknown as Content), isInputError);
    }
  });

  it("destroys the stream when the consumer stops early", async () => {
    const stream = Readable.from(["a", "b", "c"], { objectMode: false });
    for await (const _chunk of toByteChunks(stream)) break;
    assert.equal(stream.destroyed, true);
  });
});

describe("knownLength", () => {
  it("knows in-memory content and not streams", () => {
    assert.equal(knownLength("h\u00e9"), 3);
    assert.equal(knownLength(new Uint8Array(7)), 7);
    assert.equal(knownLength(Readable.from([])), undefined);
    assert.equal(knownLength((async function* () {})()), undefined);
  });
});

// Where a part's bytes come from: memory, a file (opened and checked before anything is sent, read while the
// message is written), or a one-shot stream. For DKIM, a one-shot stream is made re-readable: kept in memory
// up to 1 MiB, else spooled to a private temporary file that is removed afterwards.
import { closeSync, createReadStream, fstatSync, openSync, type Stats } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inputError } from "../errors.js";
import { inMemoryBytes, type ReleasableSource, sliced, toByteChunks } from "../message/content.js";
import type { Content } from "../types.js";

/** The raw bytes of one part. */
export interface Source {
  /** Octets, when known without reading. */
  readonly length: number | undefined;
  /** True when `open()` may be called more than once. */
  readonly rereadable: boolean;
  /** The bytes, as fresh chunks. */
  open(): AsyncIterable<Uint8Array>;
  /** Destroys an underlying stream not read to its end (a consumer that gave up). */
  release(): void;
}

/** In-memory content (a string is UTF-8). */
export function memorySource(bytes: Uint8Array): Source {
  return { length: bytes.length, rereadable: true, open: () => sliced(bytes), release: () => undefined };
}

/** Read chunk size for files: 64 KiB, Node's default, a fresh buffer per read. */
const FILE_CHUNK = 64 * 1024;

/**
 * A local file, opened now to check that it can be read (`EINPUT` naming `what` otherwise) and to learn
 * its size; read again each time the message is written.
 */
export function fileSource(path: unknown, what: string): Source {
  if (typeof path !== "string" || path === "") throw inputError(`${what} must be a non-empty string`);
  let stat: Stats;
  try {
    const fd = openSync(path, "r");
    try {
      stat = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw inputError(
      `${what} ${JSON.stringify(path)} cannot be opened for reading (${(error as { code?: string }).code ?? error})`,
    );
  }
  if (!stat.isFile()) throw inputError(`${what} ${JSON.stringify(path)} is not a regular file`);
  const size = stat.size;
  const open = new Set<ReturnType<typeof createReadStream>>();
  return {
    length: size,
    rereadable: true,
    open: () => {
      const stream = createReadStream(path, { highWaterMark: FILE_CHUNK });
      open.add(stream);
      stream.once("close", () => open.delete(stream));
      return stream as AsyncIterable<Uint8Array>;
    },
    release: () => {
      for (const stream of open) stream.destroy();
    },
  };
}

/** A one-shot stream or iterable: read once, length unknown. */
export function streamSource(content: Content, what: string): Source {
  let source: ReleasableSource | AsyncIterable<Uint8Array> | undefined;
  try {
    source = toByteChunks(content);
  } catch {
    throw inputError(`${what} must be a string, a Uint8Array, a readable stream or an async iterable`);
  }
  let used = false;
  return {
    length: undefined,
    rereadable: false,
    open: () => {
      if (used)
        throw inputError(`${what} is a stream and was already read: the message cannot be written twice`);
      used = true;
      return source;
    },
    release: () => (source as Partial<ReleasableSource>).release?.(),
  };
}

/** The source for content given in memory or as a stream (`what` names the field in errors). */
export function contentSource(content: unknown, what: string): Source {
  if (content === undefined || content === null) throw inputError(`${what} is missing`);
  const bytes = inMemoryBytes(content as Content);
  return bytes === undefined ? streamSource(content as Content, what) : memorySource(bytes);
}

/** One-shot streams up to this size are kept in memory for DKIM; larger ones go to a temporary file. */
export const SPOOL_THRESHOLD = 1024 * 1024;

/** A re-readable copy of a one-shot source, and what removes its temporary file (if one was made). */
export interface Spooled {
  source: Source;
  remove(): Promise<void>;
}

/**
 * Reads a one-shot source to its end: into memory when it stays within 1 MiB, else into a temporary file
 * (mode 0600, in a private 0700 directory). The file is removed by `remove()`, and at once if spooling fails.
 */
export async function spool(source: Source): Promise<Spooled> {
  const held: Uint8Array[] = [];
  let length = 0;
  const iterator = source.open()[Symbol.asyncIterator]();
  for (;;) {
    const step = await iterator.next();
    if (step.done) {
      return { source: memorySource(Buffer.concat(held, length)), remove: async () => undefined };
    }
    held.push(step.value);
    length += step.value.length;
    if (length > SPOOL_THRESHOLD) break;
  }
  const dir = await mkdtemp(join(tmpdir(), "smtpkit-spool-"));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const path = join(dir, "part");
    const file = await open(path, "wx", 0o600);
    try {
      for (const chunk of held) await file.write(chunk);
      held.length = 0;
      for (;;) {
        const step = await iterator.next();
        if (step.done) break;
        await file.write(step.value);
      }
    } finally {
      await file.close();
    }
    return { source: fileSource(path, "spooled stream"), remove };
  } catch (error) {
    await iterator.return?.();
    await remove();
    throw error;
  }
}

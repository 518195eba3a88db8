import { atStage, SMTPError, type SMTPStage } from "../errors.js";
import type { Command } from "../protocol/commands.js";
import type { Connection, Deadline } from "./connection.js";

/** Where an encoder puts its output: message bytes and command lines, in order, and transcript lines. */
export interface DataOutput {
  bytes(bytes: Uint8Array): void;
  commands(commands: readonly Command[]): void;
  log(line: string): void;
}

/**
 * Turns message content into wire data: a dot-stuffer (DATA) or a BDAT framer. `push` writes what one
 * source chunk becomes (it may hold some back) and may return a promise to wait on before the next chunk
 * (a window of chunks in flight); `end` writes what ends the data (the terminator, the LAST frame) and
 * whatever rides with it. Once `stopped` (the server refused a chunk), nothing more is read or written.
 */
export interface DataEncoder {
  push(chunk: Uint8Array, out: DataOutput): Promise<void> | undefined;
  end(out: DataOutput): void;
  readonly stopped: boolean;
}

export interface DataWrite {
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  encoder: DataEncoder;
  /** DATA or BDAT: the stage of a failure while writing. */
  stage: Extract<SMTPStage, "DATA" | "BDAT">;
  /** The deadline for writing it all (the reply to the end of data has its own). */
  timeoutMs: number;
  /**
   * In-memory content: gather the output into writes of up to 256 KiB, so a small message and its end
   * leave in one write (one syscall, one segment). A stream's chunks go out as they come.
   */
  corked: boolean;
}

/** In-memory content is gathered into writes of up to this many octets. */
const GATHER_OCTETS = 256 * 1024;
/** Pieces adding up to at most this many octets are joined into one buffer (one write, no writev). */
const JOIN_OCTETS = 16 * 1024;

/**
 * The one owner of message data on the wire (like undici's writeIterable): feeds every source chunk
 * through the encoder, writes each chunk's output together (one write: a small message, its end and a
 * pipelined next envelope leave in one segment), waits for 'drain' when the socket is full, runs the
 * data deadline, and races the source against the connection so that a stalled source cannot outlive a
 * failed connection. A source that throws fails the connection with EMESSAGE, so the end of data is
 * never written after a partial message.
 *
 * Returns undefined when everything was written at once (in-memory content the socket took whole: no
 * promise, no timer), else a promise of the end.
 */
export function writeData(connection: Connection, write: DataWrite): Promise<void> | undefined {
  const writer = new DataWriter(connection, write);
  const source = write.source;
  if (Symbol.asyncIterator in source) return writer.stream(source);
  return writer.memory(source[Symbol.iterator]());
}

/** One writeData call: what is gathered for the next write, the deadline, the steps. */
class DataWriter implements DataOutput {
  readonly #connection: Connection;
  readonly #write: DataWrite;
  readonly #started = performance.now();
  #deadline: Deadline | undefined;
  #pieces: (Uint8Array | string)[] = [];
  #octets = 0;

  constructor(connection: Connection, write: DataWrite) {
    this.#connection = connection;
    this.#write = write;
  }

  // ---- DataOutput, for the encoder ----

  bytes(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#pieces.push(bytes);
    this.#octets += bytes.length;
  }

  commands(commands: readonly Command[]): void {
    const wire = this.#connection.commandWire(commands);
    this.#pieces.push(wire);
    this.#octets += wire.length;
  }

  log(line: string): void {
    this.#connection.log("C", line);
  }

  // ---- the two kinds of source ----

  /** In-memory content (views of bytes): written synchronously unless the socket fills. */
  memory(chunks: Iterator<Uint8Array>): Promise<void> | undefined {
    const wait = this.#chunksUntilWait(chunks);
    if (wait) return this.#memoryAfter(wait, chunks);
    const end = this.#end();
    return end?.finally(() => this.#deadline?.clear());
  }

  async #memoryAfter(wait: Promise<void> | undefined, chunks: Iterator<Uint8Array>): Promise<void> {
    try {
      while (wait) {
        try {
          await wait;
        } catch (cause) {
          throw contentFailed(this.#connection, cause, this.#write.stage);
        }
        wait = this.#chunksUntilWait(chunks);
      }
      await this.#end();
    } finally {
      this.#deadline?.clear();
    }
  }

  /** Writes chunks until one must be waited for (that wait is returned), the source ends or the encoder stops. */
  #chunksUntilWait(chunks: Iterator<Uint8Array>): Promise<void> | undefined {
    try {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (this.#write.encoder.stopped) return undefined;
        const wait = this.#each(next.value);
        if (wait) return wait;
      }
      return undefined;
    } catch (cause) {
      throw contentFailed(this.#connection, cause, this.#write.stage);
    }
  }

  async stream(source: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      this.#arm();
      try {
        await forEachChunk(source, this.#connection, (chunk) => this.#each(chunk), this.#write.encoder);
      } catch (cause) {
        throw contentFailed(this.#connection, cause, this.#write.stage);
      }
      await this.#end();
    } finally {
      this.#deadline?.clear();
    }
  }

  // ---- steps ----

  /** The deadline starts with the step but is armed at the first wait (a source read, a full socket, a window). */
  #arm(): void {
    const { timeoutMs, stage } = this.#write;
    this.#deadline ??= this.#connection.deadline(timeoutMs, stage, "sending the message", this.#started);
  }

  /** One source chunk through the encoder; a promise when the next chunk must wait (socket full, window). */
  #each(chunk: Uint8Array): Promise<void> | undefined {
    let wait = this.#write.encoder.push(chunk, this);
    // (an encoder's wait, a window of chunks awaiting replies, must never wait on bytes still held here)
    if (!this.#write.corked || this.#octets >= GATHER_OCTETS || wait) {
      const drained = this.#flush();
      if (drained) wait = wait ? Promise.all([drained, wait]).then(noop) : drained;
    }
    if (wait) this.#arm();
    return wait;
  }

  /** Writes the end (unless the encoder stopped) and flushes; a promise only when the socket is full. */
  #end(): Promise<void> | undefined {
    const { encoder, stage } = this.#write;
    if (encoder.stopped) return undefined; // a refused chunk: the end is not written
    encoder.end(this);
    const drained = this.#flush();
    if (drained === undefined) return undefined;
    this.#arm();
    return drained.catch((error: unknown) => {
      throw atStage(error as SMTPError, stage);
    });
  }

  /** Writes what was gathered; a promise when the socket is full (settles on 'drain' or failure). */
  #flush(): Promise<void> | undefined {
    const gathered = this.#pieces;
    if (gathered.length === 0) return undefined;
    const size = this.#octets;
    this.#pieces = [];
    this.#octets = 0;
    const connection = this.#connection;
    if (gathered.length === 1) return connection.write(gathered[0]!);
    if (size <= JOIN_OCTETS) return connection.write(join(gathered));
    const socket = connection.socket;
    socket.cork();
    let wait: Promise<void> | undefined;
    for (const piece of gathered) wait = connection.write(piece) ?? wait;
    socket.uncork();
    return wait;
  }
}

/** Pieces (bytes and command lines) as one buffer. */
function join(pieces: readonly (Uint8Array | string)[]): Buffer {
  let size = 0;
  for (const piece of pieces) size += typeof piece === "string" ? Buffer.byteLength(piece) : piece.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const piece of pieces) {
    if (typeof piece === "string") at += out.write(piece, at);
    else {
      out.set(piece, at);
      at += piece.length;
    }
  }
  return out;
}

/**
 * Feeds every chunk of an async source to `each`, awaiting what it returns, raced against the connection: if the connection fails
 * (the data deadline, the server gone) while the source is stalled, this rejects with that failure at
 * once, and the source is told to stop. One failure listener serves the whole loop and rejects only the
 * wait in progress: racing each next() against one long-lived promise would leave a reaction on it per
 * chunk, each holding its chunk, and keep the whole message reachable until the send ended.
 */
async function forEachChunk(
  source: AsyncIterable<Uint8Array>,
  connection: Connection,
  each: (chunk: Uint8Array) => Promise<void> | undefined,
  encoder: DataEncoder,
): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  let abandon: ((error: SMTPError) => void) | undefined;
  const unsubscribe = connection.onFailure((error) => abandon?.(error));
  let finished = false;
  try {
    for (;;) {
      if (connection.failure) throw connection.failure;
      if (encoder.stopped) return;
      const next = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        abandon = reject;
        iterator.next().then(resolve, reject);
      });
      abandon = undefined;
      if (next.done) {
        finished = true;
        return;
      }
      if (encoder.stopped) return; // refused while the source was read: not one more byte
      const step = each(next.value);
      if (step) await step;
    }
  } finally {
    unsubscribe();
    if (!finished) {
      // Not awaited: a source stalled inside next() would keep return() pending for ever; a stream
      // source is destroyed outright so its file or socket is not held.
      iterator.return?.()?.catch(noop);
      (source as { release?: () => void }).release?.();
    }
  }
}

/**
 * The error for a content source that failed: EMESSAGE with the source's error as the cause, and the
 * connection destroyed so the end of data is never sent (the server is still reading message data, so
 * nothing else may follow). When the connection itself had already failed, that failure is the error.
 */
function contentFailed(connection: Connection, cause: unknown, stage: "DATA" | "BDAT"): SMTPError {
  if (connection.failure) return atStage(cause instanceof SMTPError ? cause : connection.failure, stage);
  const error = new SMTPError(
    "EMESSAGE",
    `the message content failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    { stage, cause, temporary: false },
  );
  connection.fail(error);
  return error;
}

function noop(): void {}

import type { SMTPError, SMTPStage } from "../errors.js";
import * as commands from "../protocol/commands.js";
import { LineEndNormalizer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import type { Connection, ReplyBatch } from "../transport/connection.js";
import type { DataEncoder, DataOutput } from "../transport/data-writer.js";
import type { Reply } from "../types.js";

// RFC 3030 CHUNKING: the message goes as BDAT chunks (line ends normalised, no dot-stuffing). Chunks are
// pipelined: up to BDAT_WINDOW octets of them may wait for their reply while the next is written, so a
// large message is not slowed to one chunk per round trip; every reply is still checked, and after a
// refused chunk nothing more is sent (RFC 3030 §2: the server refuses every later BDAT of the transaction).

/** Octets gathered into one BDAT chunk at most (the last chunk may be larger by one source piece). */
export const BDAT_CHUNK = 256 * 1024;
/**
 * Octets of chunks whose reply may be outstanding while the next one is written (16 chunks): at 20 ms
 * round trip that allows 200 MiB/s, and it bounds what waits for a reply, whatever the source's piece size.
 */
export const BDAT_WINDOW = 16 * BDAT_CHUNK;

/**
 * The BDAT framer: gathers the normalised content into chunks of up to BDAT_CHUNK octets (so a small
 * message is a single `BDAT n LAST`), writes each with its command, and keeps a bounded window of chunks
 * in flight. `head` (the pipelined envelope) rides in the first frame's write; `expectLast` registers the
 * waiters for the reply (or replies, LMTP) to the LAST frame just before it is written.
 */
export class BdatFramer implements DataEncoder {
  readonly #connection: Connection;
  readonly #timeoutMs: number;
  readonly #expectLast: () => void;
  readonly #normalizer = new LineEndNormalizer();
  #head: commands.Command[];
  #held: Uint8Array[] = [];
  #heldOctets = 0;
  /** The size of each chunk written and not yet answered, oldest first (they are answered in order). */
  readonly #unanswered: number[] = [];
  #unansweredOctets = 0;
  /** The first chunk reply that was not positive: nothing more is read or written after it. */
  #refusal: Reply | undefined;
  /** Why a chunk's reply never came (the connection failed), if it did not. */
  #failure: SMTPError | undefined;
  /** Called when a reply makes room in the window (the writer waits for it) or answers the last chunk. */
  #wake: (() => void) | undefined;

  constructor(connection: Connection, timeoutMs: number, head: commands.Command[], expectLast: () => void) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    this.#head = head;
    this.#expectLast = expectLast;
  }

  /** True once the server refused a chunk: nothing more is read or written. */
  get stopped(): boolean {
    return this.#refusal !== undefined;
  }

  push(chunk: Uint8Array, out: DataOutput): Promise<void> | undefined {
    const data = this.#normalizer.encode(chunk);
    if (data.length === 0) return undefined;
    let wait: Promise<void> | undefined;
    // one piece is always held back, so that the last frame can say LAST
    if (this.#heldOctets > 0 && this.#heldOctets + data.length > BDAT_CHUNK) wait = this.#frame(out, false);
    this.#held.push(data); // encoders hand out fresh buffers or views of the input: safe to keep
    this.#heldOctets += data.length;
    return wait;
  }

  end(out: DataOutput): void {
    const tail = this.#normalizer.end();
    if (tail.length > 0) {
      this.#held.push(tail);
      this.#heldOctets += tail.length;
    }
    this.#expectLast();
    this.#frame(out, true);
  }

  /**
   * Once every chunk but the LAST one is answered (or the connection failed first): the first refusal,
   * else the failure, else nothing (every chunk accepted).
   */
  async answered(): Promise<{ refusal?: Reply; failure?: SMTPError }> {
    while (this.#unanswered.length > 0 && this.#failure === undefined) await this.#woken();
    if (this.#refusal !== undefined) return { refusal: this.#refusal };
    if (this.#failure !== undefined) return { failure: this.#failure };
    return {};
  }

  /** Writes the held pieces as one chunk; returns a wait when the window is full. */
  #frame(out: DataOutput, last: boolean): Promise<void> | undefined {
    const octets = this.#heldOctets;
    // One waiter per chunk, settled in #onReply: no promise, closure or entry is kept per chunk.
    if (!last) this.#connection.expectReplies(BDAT_STAGE, this.#timeoutMs).then(this.#onReply);
    out.commands([...this.#head, commands.bdat(octets, last)]);
    this.#head = [];
    out.log(`<${octets} octets>`);
    for (const piece of this.#held) out.bytes(piece);
    this.#held = [];
    this.#heldOctets = 0;
    if (last) return undefined;
    this.#unanswered.push(octets);
    this.#unansweredOctets += octets;
    // With more than BDAT_WINDOW octets unanswered, the next chunk waits for the oldest reply.
    if (this.#unansweredOctets <= BDAT_WINDOW) return undefined;
    return this.#woken();
  }

  readonly #onReply = ({ replies, failure }: ReplyBatch): void => {
    const reply = replies[0];
    if (reply === undefined) this.#failure ??= failure;
    else {
      this.#unansweredOctets -= this.#unanswered.shift()!;
      if (!isPositive(reply)) this.#refusal ??= reply;
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };

  /** Settles at the next chunk reply (or failure). */
  #woken(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }
}

const BDAT_STAGE: readonly SMTPStage[] = ["BDAT"];

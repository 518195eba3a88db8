import * as commands from "../protocol/commands.js";
import { LineEndNormalizer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import type { Connection } from "../transport/connection.js";
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
  #refused = false;
  /** Chunks written and not yet answered, oldest first (they are answered in order). */
  readonly #unanswered: { reply: Promise<Reply>; octets: number }[] = [];
  #unansweredOctets = 0;
  /** The replies to every chunk but the LAST one, in order. */
  readonly replies: Promise<Reply>[] = [];

  constructor(connection: Connection, timeoutMs: number, head: commands.Command[], expectLast: () => void) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    this.#head = head;
    this.#expectLast = expectLast;
  }

  /** True once the server refused a chunk: nothing more is read or written. */
  get stopped(): boolean {
    return this.#refused;
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

  /** Writes the held pieces as one chunk; returns a wait when the window is full. */
  #frame(out: DataOutput, last: boolean): Promise<void> | undefined {
    const octets = this.#heldOctets;
    const reply = last ? undefined : this.#connection.expect("BDAT", this.#timeoutMs);
    out.commands([...this.#head, commands.bdat(octets, last)]);
    this.#head = [];
    out.log(`<${octets} octets>`);
    for (const piece of this.#held) out.bytes(piece);
    this.#held = [];
    this.#heldOctets = 0;
    if (reply === undefined) return undefined;
    this.replies.push(reply);
    const entry = { reply, octets };
    this.#unanswered.push(entry);
    this.#unansweredOctets += octets;
    const answered = (): void => {
      this.#unanswered.shift();
      this.#unansweredOctets -= octets;
    };
    reply.then((r) => {
      answered();
      if (!isPositive(r)) this.#refused = true;
    }, answered);
    // With more than BDAT_WINDOW octets unanswered, the next chunk waits for the oldest reply.
    if (this.#unansweredOctets <= BDAT_WINDOW) return undefined;
    return this.#unanswered[0]!.reply.then(noop, noop);
  }
}

function noop(): void {}

import type { RecipientRefusal } from "../errors.js";
import type { Capabilities } from "../protocol/capabilities.js";
import type { Connection, ReplyBatch } from "../transport/connection.js";
import type { Reply, SendOptions } from "../types.js";

// The types a transaction shares with the modules that run its parts (outcome, parameters, BDAT).

/** What a transaction needs to know about the session it runs in. */
export interface Session {
  connection: Connection;
  capabilities: Capabilities;
  lmtp: boolean;
  secure: boolean;
  timeouts: { greeting: number; command: number; data: number };
  clientName: string;
  /**
   * The next queued send, prepared, when one is waiting behind this one (RFC 2920 §3.1: its envelope may
   * ride in the same write as this message's end of data). Undefined when nothing is queued.
   */
  nextQueued?: (() => PreparedTransaction | undefined) | undefined;
}

export interface Envelope {
  /** Envelope sender, bare ("" for the null reverse-path). */
  from: string;
  /** Envelope recipients, bare, de-duplicated. */
  recipients: string[];
  /** True when an address needs SMTPUTF8 (checked by the caller against the server's offer). */
  smtpUtf8: boolean;
}

export interface OutgoingMessage {
  /**
   * The message bytes, with any line ends (normalised on the way). In-memory content comes as an array
   * of views (no async generator per message), streams as an async iterable.
   */
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** The size in octets when known (SIZE=, RFC 1870). */
  size: number | undefined;
  /** False when the message is known to be 7-bit; BODY=8BITMIME is declared otherwise (when offered). */
  eightBit: boolean;
}

export interface TransactionResult {
  accepted: string[];
  rejected: RecipientRefusal[];
  reply: Reply;
}

export type EnvelopeOptions = Pick<SendOptions, "dsn" | "requireTLS">;

/** One transaction, validated and ready to run. */
export interface PreparedTransaction {
  envelope: Envelope;
  message: OutgoingMessage;
  options: EnvelopeOptions;
  /**
   * Set when the envelope (MAIL, RCPT..., DATA) already went out, with the previous message's end of data:
   * the waiter for its replies, in that order.
   */
  early?: Promise<ReplyBatch> | undefined;
}

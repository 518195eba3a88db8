import { inputError, type RecipientRefusal, replyError } from "../errors.js";
import type { Capabilities } from "../protocol/capabilities.js";
import * as commands from "../protocol/commands.js";
import { DotStuffer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import type { Connection } from "../transport/connection.js";
import type { Reply, SendOptions } from "../types.js";
import { sendChunked } from "./chunked.js";
import { forEachChunk } from "./chunks.js";
import {
  contentFailed,
  envelopeRefused,
  expectFinal,
  finish,
  resetQuietly,
  settleEnvelope,
  sortRecipients,
  withRejected,
} from "./outcome.js";
import { mailParameters, rcptParameters } from "./parameters.js";

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
  /** Set when the envelope (MAIL, RCPT..., DATA) already went out with the previous message's end of data. */
  early?: { mail: Promise<Reply>; rcpts: Promise<Reply>[]; data: Promise<Reply> } | undefined;
}

/** Builds the envelope commands; throws (EINPUT, EENVELOPE, EMESSAGE) before anything is registered or written. */
function envelopeCommands(
  session: Session,
  tx: PreparedTransaction,
): { mail: commands.Command; rcpts: commands.Command[] } {
  try {
    const mail = commands.mailFrom(
      tx.envelope.from,
      mailParameters(session, tx.envelope, tx.message, tx.options),
    );
    const rcpts = tx.envelope.recipients.map((r) =>
      commands.rcptTo(r, rcptParameters(session.capabilities, r, tx.options)),
    );
    return { mail, rcpts };
  } catch (error) {
    // e.g. a quoted local part with a space: valid RFC 5322, but not something we put in a command
    if (error instanceof commands.CommandArgumentError) throw inputError(error.message, "MAIL");
    throw error;
  }
}

/**
 * Registers the reply waiters for a pipelined envelope flight (MAIL, every RCPT, DATA) and returns the
 * commands to write. Only for PIPELINING without CHUNKING. Throws before registering anything when the
 * transaction cannot be built.
 */
function launchEnvelope(session: Session, tx: PreparedTransaction): commands.Command[] {
  const { mail, rcpts } = envelopeCommands(session, tx);
  // Behind a previous message's end of data these replies wait for that one first; the connection starts
  // each reply's deadline only when the reply before it has arrived.
  const replies = expectEnvelope(session, rcpts.length);
  tx.early = { ...replies, data: session.connection.expect("DATA", session.timeouts.command) };
  return [mail, ...rcpts, commands.data()];
}

/** Registers the waiters for a pipelined MAIL and its RCPTs, in order. */
function expectEnvelope(
  session: Session,
  recipients: number,
): { mail: Promise<Reply>; rcpts: Promise<Reply>[] } {
  const { connection } = session;
  const t = session.timeouts.command;
  const mail = connection.expect("MAIL", t);
  return { mail, rcpts: Array.from({ length: recipients }, () => connection.expect("RCPT", t)) };
}

/**
 * Runs one mail transaction: MAIL, RCPT for every recipient, then DATA (dot-stuffed) or BDAT (CHUNKING).
 * With PIPELINING the envelope and DATA (or the first BDAT) go in one write; every reply is still checked
 * (RFC 2920). A transaction refused before its end is reset (RSET) so the session stays usable.
 */
export async function runTransaction(session: Session, tx: PreparedTransaction): Promise<TransactionResult> {
  const { envelope, message } = tx;
  const { connection, capabilities } = session;
  const chunking = capabilities.chunking;
  // LMTP with BDAT answers once per accepted recipient after the last chunk: the envelope must be known
  // before that count can be awaited, so there the envelope is not pipelined with the chunks.
  const pipelining = capabilities.pipelining && !(chunking && session.lmtp);
  const t = session.timeouts.command;

  // ---- envelope ----
  let mailReply: Reply;
  let accepted: string[];
  let rejected: RecipientRefusal[];
  let dataReply: Promise<Reply> | undefined;
  if (pipelining && chunking) {
    // The envelope rides with the first BDAT chunk (written by sendChunked); nothing is awaited before it.
    const { mail, rcpts } = envelopeCommands(session, tx);
    const replies = expectEnvelope(session, rcpts.length);
    return await sendChunked(session, envelope, message, [mail, ...rcpts], replies.mail, replies.rcpts);
  }
  if (pipelining) {
    if (tx.early === undefined) connection.writeCommands(launchEnvelope(session, tx));
    const early = tx.early!;
    dataReply = early.data;
    ({ mailReply, accepted, rejected } = await settleEnvelope(
      session,
      envelope.recipients,
      early.mail,
      early.rcpts,
      false,
    ));
  } else {
    const { mail, rcpts } = envelopeCommands(session, tx);
    mailReply = await connection.command(mail, "MAIL", t);
    const rcptReplies: Reply[] = [];
    if (isPositive(mailReply)) {
      for (const rcpt of rcpts) rcptReplies.push(await connection.command(rcpt, "RCPT", t));
    }
    connection.failIfClosing(mailReply, "MAIL");
    ({ accepted, rejected } = sortRecipients(envelope.recipients, rcptReplies));
    for (const r of rejected) connection.failIfClosing(r.reply, "RCPT");
  }

  if (!isPositive(mailReply) || accepted.length === 0) {
    if (dataReply) {
      const reply = await dataReply;
      if (reply.code === 354) {
        // RFC 2920 §3.1: DATA was accepted although nothing else was; end it with an empty message body.
        const end = connection.expect("END", session.timeouts.data);
        connection.writeCommands([
          { verb: "DATA", wire: ".\r\n", log: ". (no recipient was accepted: empty data ended)" },
        ]);
        await end;
      }
    }
    await resetQuietly(session);
    throw envelopeRefused(mailReply, rejected);
  }

  if (chunking) {
    // CHUNKING without PIPELINING: envelope answered, now the chunks
    return await sendChunked(session, envelope, message, [], undefined, [], { accepted, rejected });
  }

  // ---- DATA ----
  const dataAnswer = await (dataReply ?? connection.command(commands.data(), "DATA", t));
  if (dataAnswer.code !== 354) {
    connection.failIfClosing(dataAnswer, "DATA");
    if (dataAnswer.code < 400) {
      const error = replyError("EPROTOCOL", "DATA", "the server answered DATA without 354", dataAnswer);
      connection.fail(error);
      throw error;
    }
    await resetQuietly(session);
    throw withRejected(replyError("EMESSAGE", "DATA", "the server refused DATA", dataAnswer), rejected);
  }
  const deadline = connection.deadline(session.timeouts.data, "DATA", "sending the message");
  const socket = connection.socket;
  // In-memory content is written corked, so the body and its end leave in one write (one syscall, one
  // segment for a small message). A stream is not: its chunks go out as they come.
  let corked = message.size !== undefined;
  if (corked) socket.cork();
  try {
    const stuffer = new DotStuffer();
    const written = await pump(connection, message.chunks, (chunk) => stuffer.encode(chunk), corked);
    const finals = expectFinal(session, accepted.length);
    connection.log("C", `<message: ${written} octets>`);
    connection.log("C", ".");
    // RFC 2920 §3.1: a queued send's envelope may follow the end of data in the same write, so a
    // caller with several messages queued pays one round trip per message.
    const next = pipelining ? session.nextQueued?.() : undefined;
    let nextFlight: commands.Command[] = [];
    if (next !== undefined && next.early === undefined) {
      try {
        nextFlight = launchEnvelope(session, next);
      } catch {
        // that send fails on its own when its turn comes; this one is unaffected
      }
    }
    socket.cork();
    const wait = connection.write(stuffer.end());
    if (nextFlight.length > 0) connection.writeCommands(nextFlight);
    socket.uncork();
    if (corked) {
      corked = false;
      socket.uncork();
    }
    if (wait) await wait;
    return await finish(session, finals, accepted, rejected);
  } finally {
    if (corked) socket.uncork();
    deadline.clear();
  }
}

/**
 * Writes every chunk through `encode`, waiting for drain when the socket is full (a corked socket is
 * flushed first, then corked again). A source error, or a stall past the connection's end, fails all.
 */
async function pump(
  connection: Connection,
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  encode: (chunk: Uint8Array) => Uint8Array,
  corked: boolean,
): Promise<number> {
  let octets = 0;
  const drained = async (wait: Promise<void>): Promise<void> => {
    if (corked) connection.socket.uncork();
    await wait;
    if (corked) connection.socket.cork();
  };
  try {
    await forEachChunk(source, connection, (chunk) => {
      octets += chunk.length;
      const out = encode(chunk);
      if (out.length === 0) return undefined;
      const wait = connection.write(out);
      return wait ? drained(wait) : undefined;
    });
  } catch (cause) {
    throw contentFailed(connection, cause, "DATA");
  }
  return octets;
}

/** BDAT: the message is split into chunks of whatever the source yields; the last one says LAST. */

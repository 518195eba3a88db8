import {
  atStage,
  inputError,
  type RecipientRefusal,
  replyError,
  SMTPError,
  type SMTPStage,
} from "../errors.js";
import * as commands from "../protocol/commands.js";
import { DotStuffer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import type { ReplyBatch } from "../transport/connection.js";
import { type DataEncoder, type DataOutput, writeData } from "../transport/data-writer.js";
import type { Reply } from "../types.js";
import { BdatFramer } from "./bdat.js";
import {
  envelopeRefused,
  expectFinal,
  finish,
  resetQuietly,
  settleEnvelope,
  withRejected,
} from "./outcome.js";
import { mailParameters, rcptParameters } from "./parameters.js";
import type { PreparedTransaction, Session, TransactionResult } from "./session.js";

/**
 * Runs one mail transaction: MAIL, RCPT for every recipient, then DATA (dot-stuffed) or BDAT (CHUNKING).
 * With PIPELINING the envelope and DATA (or the first BDAT chunk) go in one write; every reply is still
 * checked (RFC 2920). A transaction refused before its end is reset (RSET) so the session stays usable.
 * The bytes go through writeData (transport/data-writer.ts); what the replies mean is decided here and
 * in outcome.ts.
 */
export function runTransaction(session: Session, tx: PreparedTransaction): Promise<TransactionResult> {
  const chunking = session.capabilities.chunking;
  // LMTP with BDAT answers once per accepted recipient after the last chunk: the envelope must be known
  // before that count can be awaited, so there the envelope is not pipelined with the chunks.
  const pipelining = session.capabilities.pipelining && !(chunking && session.lmtp);
  return chunking ? sendChunked(session, tx, pipelining) : sendData(session, tx, pipelining);
}

type EnvelopeOutcome = { mailReply: Reply; accepted: string[]; rejected: RecipientRefusal[] };

/** DATA: the envelope (pipelined, or one command at a time), 354, the dot-stuffed content and its end. */
async function sendData(
  session: Session,
  tx: PreparedTransaction,
  pipelining: boolean,
): Promise<TransactionResult> {
  const { connection } = session;
  let outcome: EnvelopeOutcome;
  // with PIPELINING, DATA's reply comes last in the envelope's batch (missing if the connection was lost first)
  let batch: ReplyBatch | undefined;
  if (pipelining) {
    if (tx.early === undefined) connection.writeCommands(launchEnvelope(session, tx));
    batch = await tx.early!;
    outcome = settleEnvelope(session, tx.envelope.recipients, batch, false);
  } else {
    outcome = await envelopeInTurn(session, tx);
  }
  const dataReply = batch?.replies[1 + tx.envelope.recipients.length];
  const { mailReply, accepted, rejected } = outcome;
  if (!isPositive(mailReply) || accepted.length === 0) {
    if (dataReply?.code === 354) {
      // RFC 2920 §3.1: DATA was accepted although nothing else was; end it with an empty message body.
      const end = connection.expect("END", session.timeouts.data);
      connection.writeCommands([
        { verb: "DATA", wire: ".\r\n", log: ". (no recipient was accepted: empty data ended)" },
      ]);
      await end;
    }
    await resetQuietly(session);
    throw envelopeRefused(mailReply, rejected);
  }

  let dataAnswer: Reply;
  if (!pipelining) dataAnswer = await connection.command(commands.data(), "DATA", session.timeouts.command);
  else if (dataReply === undefined) throw batch!.failure!;
  else dataAnswer = dataReply;
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
  const encoder = new DotStuffingEncoder(session, accepted.length, pipelining);
  const writing = writeData(connection, {
    source: tx.message.chunks,
    encoder,
    stage: "DATA",
    timeoutMs: session.timeouts.data,
    corked: tx.message.size !== undefined,
  });
  if (writing) await writing;
  return finish(session, await encoder.finals!, accepted, rejected);
}

/**
 * DATA's encoder: dot-stuffs the content; at its end registers the waiter for the final reply and writes
 * the terminator, followed (RFC 2920 §3.1) by the next queued send's envelope, so a caller with several
 * messages queued pays one round trip per message.
 */
class DotStuffingEncoder implements DataEncoder {
  readonly stopped = false;
  /** The final reply(ies), once the end was written. */
  finals: Promise<ReplyBatch> | undefined;
  readonly #stuffer = new DotStuffer();
  #octets = 0;

  constructor(
    private readonly session: Session,
    private readonly acceptedCount: number,
    private readonly pipelining: boolean,
  ) {}

  push(chunk: Uint8Array, out: DataOutput): undefined {
    this.#octets += chunk.length;
    out.bytes(this.#stuffer.encode(chunk));
    return undefined;
  }

  end(out: DataOutput): void {
    this.finals = expectFinal(this.session, this.acceptedCount);
    out.log(`<message: ${this.#octets} octets>`);
    out.log(".");
    const next = this.pipelining ? nextFlight(this.session) : [];
    out.bytes(this.#stuffer.end());
    if (next.length > 0) out.commands(next);
  }
}

/**
 * A pipelined BDAT flight (MAIL, RCPT..., BDAT n LAST and the message) rides in one write only when the
 * server can read all of it at once: 4 KiB, the read buffer of Postfix's smtpd (and stdio's BUFSIZ).
 */
export const ONE_FLIGHT_OCTETS = 4096;

/**
 * BDAT: with PIPELINING a small message goes in one flight (MAIL, RCPT... and BDAT n LAST in one write;
 * the envelope's replies are read after it). A larger one, or a stream, sends the envelope as one
 * pipelined group and settles it before the first chunk, as DATA waits for its 354: a server that reads
 * the flight in several reads (Postfix) answers the envelope before it has the end, and when the client
 * had already written everything, its ACK of those replies is delayed (up to 40 ms on Linux) while the
 * server, Nagle on, holds the final reply until that ACK: 40 ms per message instead of one round trip.
 * With the envelope settled first, the chunks carry that ACK. The chunks keep their window.
 */
async function sendChunked(
  session: Session,
  tx: PreparedTransaction,
  pipelining: boolean,
): Promise<TransactionResult> {
  const { connection } = session;
  const { envelope, message } = tx;
  let head: commands.Command[] = [];
  let pipelined: Promise<ReplyBatch> | undefined;
  let known: EnvelopeOutcome | undefined;
  const { mail, rcpts } = pipelining ? envelopeCommands(session, tx) : { mail: undefined, rcpts: [] };
  if (mail !== undefined && fitsOneFlight([mail, ...rcpts], message.size)) {
    pipelined = expectEnvelope(session, rcpts.length);
    head = [mail, ...rcpts];
  } else {
    known =
      mail !== undefined
        ? await envelopeFirst(session, tx, [mail, ...rcpts])
        : await envelopeInTurn(session, tx);
    if (!isPositive(known.mailReply) || known.accepted.length === 0) {
      await resetQuietly(session);
      throw envelopeRefused(known.mailReply, known.rejected);
    }
  }
  let finals: Promise<ReplyBatch> | undefined;
  // Once the LAST chunk is handed to the socket, losing the connection before every reply is in means
  // the message may have been accepted (API.md §4.7).
  let lastWritten = false;
  const framer = new BdatFramer(connection, session.timeouts.data, head, () => {
    finals = expectFinal(session, known ? known.accepted.length : envelope.recipients.length);
    lastWritten = true;
  });
  try {
    const writing = writeData(connection, {
      source: message.chunks,
      encoder: framer,
      stage: "BDAT",
      timeoutMs: session.timeouts.data,
      corked: message.size !== undefined,
    });
    if (writing) await writing;
  } catch (error) {
    // A write failed (the server closed: EPIPE, a reset): a reply that did arrive and explains it (a 421
    // to a RCPT, a refused MAIL) is the error to report; otherwise the write's own failure is.
    if (pipelined !== undefined && connection.failure) {
      const batch = await pipelined;
      try {
        settleEnvelope(session, envelope.recipients, batch, false);
      } catch (explained) {
        if (explained instanceof SMTPError && explained.reply !== undefined) throw explained;
      }
    }
    throw error;
  }
  try {
    let accepted: string[];
    let rejected: RecipientRefusal[];
    if (pipelined === undefined) ({ accepted, rejected } = known!);
    else {
      let mailReply: Reply;
      ({ mailReply, accepted, rejected } = settleEnvelope(
        session,
        envelope.recipients,
        await pipelined,
        lastWritten,
      ));
      if (!isPositive(mailReply) || accepted.length === 0) {
        await framer.answered();
        await finals;
        await resetQuietly(session);
        throw envelopeRefused(mailReply, rejected);
      }
    }
    const { refusal, failure } = await framer.answered();
    if (refusal !== undefined) {
      await finals;
      connection.failIfClosing(refusal, "BDAT");
      await resetQuietly(session);
      throw withRejected(
        replyError("EMESSAGE", "BDAT", "the server refused a BDAT chunk", refusal),
        rejected,
      );
    }
    if (failure !== undefined) throw failure;
    return finish(session, await finals!, accepted, rejected);
  } catch (error) {
    if (lastWritten && error instanceof SMTPError && error.reply === undefined && connection.failure) {
      throw atStage(error, "END");
    }
    throw error;
  }
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

/** True when the envelope, `BDAT n LAST` and a message of `size` octets fit in ONE_FLIGHT_OCTETS. */
function fitsOneFlight(envelope: readonly commands.Command[], size: number | undefined): boolean {
  if (size === undefined) return false;
  let octets = commands.bdat(size, true).wire.length + size;
  for (const command of envelope) octets += Buffer.byteLength(command.wire);
  return octets <= ONE_FLIGHT_OCTETS;
}

/** With PIPELINING, before BDAT chunks: MAIL and every RCPT in one write, then their replies. */
async function envelopeFirst(
  session: Session,
  tx: PreparedTransaction,
  envelope: commands.Command[],
): Promise<EnvelopeOutcome> {
  const replies = expectEnvelope(session, envelope.length - 1);
  try {
    session.connection.writeCommands(envelope);
  } catch {
    // the failure also ends the batch
  }
  return settleEnvelope(session, tx.envelope.recipients, await replies, false);
}

/** Without PIPELINING: MAIL, then each RCPT, each awaited (no RCPT after a refused MAIL). */
async function envelopeInTurn(session: Session, tx: PreparedTransaction): Promise<EnvelopeOutcome> {
  const { connection } = session;
  const t = session.timeouts.command;
  const { mail, rcpts } = envelopeCommands(session, tx);
  const mailReply = await connection.command(mail, "MAIL", t);
  const replies = [mailReply];
  if (isPositive(mailReply)) {
    for (const rcpt of rcpts) {
      const reply = await connection.command(rcpt, "RCPT", t);
      // a 421 closes the session: the next RCPT would only meet a closed connection and lose this reply
      connection.failIfClosing(reply, "RCPT");
      replies.push(reply);
    }
  }
  // the same rule as for a pipelined envelope (a lost connection has already thrown from its command)
  return settleEnvelope(session, tx.envelope.recipients, { replies, failure: undefined }, false);
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
  tx.early = session.connection.expectReplies(envelopeStages(rcpts.length, "DATA"), session.timeouts.command);
  return [mail, ...rcpts, commands.data()];
}

/** The next queued send's envelope flight, to follow this end of data; [] when there is none to send. */
function nextFlight(session: Session): commands.Command[] {
  const next = session.nextQueued?.();
  if (next === undefined || next.early !== undefined) return [];
  try {
    return launchEnvelope(session, next);
  } catch {
    return []; // that send fails on its own when its turn comes; this one is unaffected
  }
}

/** Registers the waiter for a pipelined MAIL and its RCPTs, in order. */
function expectEnvelope(session: Session, recipients: number): Promise<ReplyBatch> {
  return session.connection.expectReplies(envelopeStages(recipients), session.timeouts.command);
}

/** The stages of a pipelined envelope's replies: MAIL, a RCPT per recipient, then `last` if given. */
function envelopeStages(recipients: number, last?: "DATA"): readonly SMTPStage[] {
  const key = last === undefined ? recipients : -1 - recipients;
  let stages = STAGES.get(key);
  if (stages === undefined) {
    const list: SMTPStage[] = ["MAIL"];
    for (let i = 0; i < recipients; i++) list.push("RCPT");
    if (last !== undefined) list.push(last);
    stages = list;
    if (STAGES.size < 64) STAGES.set(key, stages);
  }
  return stages;
}

/** envelopeStages' lists by recipient count (negative: with DATA), for the counts a sender repeats. */
const STAGES = new Map<number, readonly SMTPStage[]>();

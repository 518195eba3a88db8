import { atStage, inputError, type RecipientRefusal, replyError, SMTPError } from "../errors.js";
import * as commands from "../protocol/commands.js";
import { DotStuffer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import { type DataEncoder, writeData } from "../transport/data-writer.js";
import type { Reply } from "../types.js";
import { BdatFramer } from "./bdat.js";
import {
  envelopeRefused,
  expectFinal,
  finish,
  resetQuietly,
  settleEnvelope,
  sortRecipients,
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
  let dataReply: Promise<Reply> | undefined;
  let outcome: EnvelopeOutcome;
  if (pipelining) {
    if (tx.early === undefined) connection.writeCommands(launchEnvelope(session, tx));
    const early = tx.early!;
    dataReply = early.data;
    outcome = await settleEnvelope(session, tx.envelope.recipients, early.mail, early.rcpts, false);
  } else {
    outcome = await envelopeInTurn(session, tx);
  }
  const { mailReply, accepted, rejected } = outcome;
  if (!isPositive(mailReply) || accepted.length === 0) {
    if (dataReply && (await dataReply).code === 354) {
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

  const dataAnswer = await (dataReply ??
    connection.command(commands.data(), "DATA", session.timeouts.command));
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
  let finals: Promise<Reply>[] = [];
  const stuffer = new DotStuffer();
  let octets = 0;
  const encoder: DataEncoder = {
    stopped: false,
    push(chunk, out) {
      octets += chunk.length;
      out.bytes(stuffer.encode(chunk));
      return undefined;
    },
    end(out) {
      finals = expectFinal(session, accepted.length);
      out.log(`<message: ${octets} octets>`);
      out.log(".");
      // RFC 2920 §3.1: a queued send's envelope may follow the end of data in the same write, so a
      // caller with several messages queued pays one round trip per message.
      const next = pipelining ? nextFlight(session) : [];
      out.bytes(stuffer.end());
      if (next.length > 0) out.commands(next);
    },
  };
  await writeData(connection, {
    source: tx.message.chunks,
    encoder,
    stage: "DATA",
    timeoutMs: session.timeouts.data,
    corked: tx.message.size !== undefined,
  });
  return await finish(session, finals, accepted, rejected);
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
  let pipelined: { mail: Promise<Reply>; rcpts: Promise<Reply>[] } | undefined;
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
  let finals: Promise<Reply>[] = [];
  // Once the LAST chunk is handed to the socket, losing the connection before every reply is in means
  // the message may have been accepted (API.md §4.7).
  let lastWritten = false;
  const framer = new BdatFramer(connection, session.timeouts.data, head, () => {
    finals = expectFinal(session, known ? known.accepted.length : envelope.recipients.length);
    lastWritten = true;
  });
  try {
    await writeData(connection, {
      source: message.chunks,
      encoder: framer,
      stage: "BDAT",
      timeoutMs: session.timeouts.data,
      corked: message.size !== undefined,
    });
  } catch (error) {
    // A write failed (the server closed: EPIPE, a reset): a reply that did arrive and explains it (a 421
    // to a RCPT, a refused MAIL) is the error to report; otherwise the write's own failure is.
    if (pipelined !== undefined && connection.failure) {
      const explained = await settleEnvelope(
        session,
        envelope.recipients,
        pipelined.mail,
        pipelined.rcpts,
        false,
      ).then(noop, (e: unknown) => e);
      if (explained instanceof SMTPError && explained.reply !== undefined) throw explained;
    }
    throw error;
  }
  try {
    let accepted: string[];
    let rejected: RecipientRefusal[];
    if (pipelined === undefined) ({ accepted, rejected } = known!);
    else {
      let mailReply: Reply;
      ({ mailReply, accepted, rejected } = await settleEnvelope(
        session,
        envelope.recipients,
        pipelined.mail,
        pipelined.rcpts,
        lastWritten,
      ));
      if (!isPositive(mailReply) || accepted.length === 0) {
        for (const p of [...framer.replies, ...finals]) await p.catch(noop);
        await resetQuietly(session);
        throw envelopeRefused(mailReply, rejected);
      }
    }
    for (const p of framer.replies) {
      const reply = await p;
      if (!isPositive(reply)) {
        for (const q of [...framer.replies, ...finals]) await q.catch(noop);
        connection.failIfClosing(reply, "BDAT");
        await resetQuietly(session);
        throw withRejected(
          replyError("EMESSAGE", "BDAT", "the server refused a BDAT chunk", reply),
          rejected,
        );
      }
    }
    return await finish(session, finals, accepted, rejected);
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
  const { mail, rcpts } = expectEnvelope(session, envelope.length - 1);
  try {
    session.connection.writeCommands(envelope);
  } catch {
    // the failure also rejects the replies
  }
  return await settleEnvelope(session, tx.envelope.recipients, mail, rcpts, false);
}

/** Without PIPELINING: MAIL, then each RCPT, each awaited (no RCPT after a refused MAIL). */
async function envelopeInTurn(session: Session, tx: PreparedTransaction): Promise<EnvelopeOutcome> {
  const { connection } = session;
  const t = session.timeouts.command;
  const { mail, rcpts } = envelopeCommands(session, tx);
  const mailReply = await connection.command(mail, "MAIL", t);
  const rcptReplies: Reply[] = [];
  if (isPositive(mailReply)) {
    for (const rcpt of rcpts) rcptReplies.push(await connection.command(rcpt, "RCPT", t));
  }
  connection.failIfClosing(mailReply, "MAIL");
  const { accepted, rejected } = sortRecipients(tx.envelope.recipients, rcptReplies);
  for (const r of rejected) connection.failIfClosing(r.reply, "RCPT");
  return { mailReply, accepted, rejected };
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

function noop(): void {}

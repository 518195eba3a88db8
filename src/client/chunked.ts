import { atStage, type RecipientRefusal, replyError, SMTPError } from "../errors.js";
import * as commands from "../protocol/commands.js";
import { LineEndNormalizer } from "../protocol/dot-stuff.js";
import { isPositive } from "../protocol/reply.js";
import type { Reply } from "../types.js";
import { forEachChunk } from "./chunks.js";
import {
  contentFailed,
  envelopeRefused,
  expectFinal,
  finish,
  resetQuietly,
  settleEnvelope,
  withRejected,
} from "./outcome.js";
import type { Envelope, OutgoingMessage, Session, TransactionResult } from "./transaction.js";

// RFC 3030 CHUNKING: the message goes as BDAT chunks (no dot-stuffing); with PIPELINING the envelope
// rides in the same write as the first chunk, so a small message costs one round trip.

export async function sendChunked(
  session: Session,
  envelope: Envelope,
  message: OutgoingMessage,
  envelopeCommands: commands.Command[],
  mailP: Promise<Reply> | undefined,
  rcptPs: Promise<Reply>[],
  known?: { accepted: string[]; rejected: RecipientRefusal[] },
): Promise<TransactionResult> {
  const { connection } = session;
  const normalizer = new LineEndNormalizer();
  const bdatReplies: Promise<Reply>[] = [];
  let failedEarly = false;
  const deadline = connection.deadline(session.timeouts.data, "BDAT", "sending the message");
  let pendingHead = envelopeCommands;
  let finals: Promise<Reply>[] = [];
  let lastWritten = false;
  // Write one BDAT frame: command line + the pieces (not copied into one buffer), corked together with
  // whatever envelope is still unsent.
  const frame = (pieces: Uint8Array[], octets: number, last: boolean): Promise<void> | undefined => {
    const command = commands.bdat(octets, last);
    const reply = last ? undefined : connection.expect("BDAT", session.timeouts.data);
    if (reply) {
      bdatReplies.push(reply);
      reply.then(
        (r) => {
          if (!isPositive(r)) failedEarly = true;
        },
        () => undefined,
      );
    }
    const socket = connection.socket;
    socket.cork();
    connection.writeCommands([...pendingHead, command]);
    pendingHead = [];
    connection.log("C", `<${octets} octets>`);
    let wait: Promise<void> | undefined;
    for (const piece of pieces) if (piece.length > 0) wait = connection.write(piece) ?? wait;
    socket.uncork();
    return wait;
  };
  try {
    // Small pieces (a composed header block, a short body) are gathered into one chunk of up to
    // BDAT_CHUNK octets, so a small message is one BDAT ... LAST; one piece is always held back so that
    // the last frame can say LAST.
    let held: Uint8Array[] = [];
    let heldOctets = 0;
    try {
      try {
        await forEachChunk(message.chunks, connection, (chunk) => {
          const out = normalizer.encode(chunk);
          if (out.length === 0) return undefined;
          let step: Promise<void> | undefined;
          if (heldOctets > 0 && heldOctets + out.length > BDAT_CHUNK) {
            const wait = frame(held, heldOctets, false);
            held = [];
            heldOctets = 0;
            step = wait;
          }
          held.push(out); // encoders hand out fresh buffers or views of the input: safe to keep
          heldOctets += out.length;
          if (failedEarly) return false; // a BDAT was refused: send nothing more (RFC 3030 §2)
          return step;
        });
      } catch (cause) {
        throw contentFailed(connection, cause, "BDAT");
      }
      const tail = normalizer.end();
      held.push(tail);
      heldOctets += tail.length;
      if (!failedEarly) {
        finals = expectFinal(session, known ? known.accepted.length : envelope.recipients.length, "END");
        // Once the LAST chunk is handed to the socket, losing the connection before every reply is in
        // means the message may have been accepted (API.md §4.7).
        lastWritten = true;
        const wait = frame(held, heldOctets, true);
        if (wait) await wait;
      }
    } catch (error) {
      // A write failed (the server closed: EPIPE, a reset): a reply that did arrive and explains it (a 421
      // to a RCPT, a refused MAIL) is the error to report; otherwise the write's own failure is.
      if (mailP !== undefined && connection.failure) {
        const explained = await settleEnvelope(session, envelope.recipients, mailP, rcptPs, false).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (explained instanceof SMTPError && explained.reply !== undefined) throw explained;
      }
      throw error;
    }
    // ---- collect: envelope replies first, then each BDAT, then the final one(s) ----
    try {
      return await collect();
    } catch (error) {
      if (lastWritten && error instanceof SMTPError && error.reply === undefined && connection.failure) {
        throw atStage(error, "END");
      }
      throw error;
    }
  } finally {
    deadline.clear();
  }

  async function collect(): Promise<TransactionResult> {
    let accepted: string[];
    let rejected: RecipientRefusal[];
    if (known) {
      ({ accepted, rejected } = known);
    } else {
      let mailReply: Reply;
      ({ mailReply, accepted, rejected } = await settleEnvelope(
        session,
        envelope.recipients,
        mailP!,
        rcptPs,
        lastWritten,
      ));
      if (!isPositive(mailReply) || accepted.length === 0) {
        for (const p of [...bdatReplies, ...finals]) await p;
        await resetQuietly(session);
        throw envelopeRefused(mailReply, rejected);
      }
    }
    for (const p of bdatReplies) {
      const reply = await p;
      if (!isPositive(reply)) {
        for (const q of [...bdatReplies, ...finals]) await q.catch(() => undefined);
        connection.failIfClosing(reply, "BDAT");
        await resetQuietly(session);
        throw withRejected(
          replyError("EMESSAGE", "BDAT", "the server refused a BDAT chunk", reply),
          rejected,
        );
      }
    }
    return await finish(session, finals, accepted, rejected);
  }
}

/** Octets gathered into one BDAT chunk at most (the last chunk may be larger by one source piece). */
const BDAT_CHUNK = 256 * 1024;

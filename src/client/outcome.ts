import { atStage, type RecipientRefusal, replyError, type SMTPError, type SMTPStage } from "../errors.js";
import * as commands from "../protocol/commands.js";
import { isPositive } from "../protocol/reply.js";
import type { ReplyBatch } from "../transport/connection.js";
import type { Reply } from "../types.js";
import type { Session, TransactionResult } from "./session.js";

// How a transaction's replies become its outcome: accepted and rejected recipients, the final reply,
// the errors for refusals, and the RSET that keeps the session usable after a refusal before the data ends.

const END_ONLY: readonly SMTPStage[] = ["END"];

/** Registers the waiter for the end of data: one reply, or one per accepted recipient with LMTP (RFC 2033 §4.2). */
export function expectFinal(session: Session, acceptedCount: number): Promise<ReplyBatch> {
  const { connection, timeouts } = session;
  const stages = session.lmtp ? Array.from({ length: acceptedCount }, () => "END" as const) : END_ONLY;
  return connection.expectReplies(stages, timeouts.data);
}

/** The transaction's outcome from the replies to its end of data (see expectFinal). */
export function finish(
  session: Session,
  finals: ReplyBatch,
  accepted: string[],
  rejected: RecipientRefusal[],
): TransactionResult {
  if (!session.lmtp) {
    const reply = finals.replies[0];
    if (reply === undefined) throw finals.failure!;
    if (isPositive(reply)) return { accepted, rejected, reply };
    session.connection.failIfClosing(reply, "END");
    // No RSET: the reply to the end of data ends the transaction either way (RFC 5321 §4.1.1.4), and the
    // next queued transaction may already have started.
    throw withRejected(replyError("EMESSAGE", "END", "the server refused the message", reply), rejected);
  }
  // LMTP: one reply per accepted recipient, in order. If the connection is lost part way, the error says
  // who got the message, who was refused and whose outcome is unknown, so a retry duplicates nothing.
  const lmtpAccepted: string[] = [];
  const lmtpRejected = [...rejected];
  let positive: Reply | undefined;
  let first: Reply | undefined;
  for (const [i, recipient] of accepted.entries()) {
    const reply = finals.replies[i];
    if (reply === undefined) {
      const error = finals.failure!;
      error.accepted = lmtpAccepted;
      error.rejected = lmtpRejected;
      error.unknown = accepted.slice(i);
      throw error;
    }
    first ??= reply;
    if (isPositive(reply)) {
      lmtpAccepted.push(recipient);
      positive ??= reply;
    } else lmtpRejected.push({ recipient, reply });
  }
  if (positive === undefined) {
    throw withRejected(
      replyError("EMESSAGE", "END", "every recipient refused the message", first!),
      lmtpRejected,
    );
  }
  return { accepted: lmtpAccepted, rejected: lmtpRejected, reply: positive };
}

/**
 * The one rule for an envelope's outcome (pipelined or in turn, DATA and BDAT alike). Reads every reply that arrived,
 * even when the connection was lost part way (a 421 is often followed by the server closing, and a write
 * error may be reported before the replies already received are looked at), then decides:
 * - a 421 to MAIL or a RCPT: the server refused the transaction before its data, a temporary failure at
 *   that stage carrying the reply (ECONNECTION, deliveryUnknown false);
 * - the connection lost with MAIL refused: that refusal (EENVELOPE);
 * - the connection lost before every reply came: when the end of data was already written
 *   (`endWritten`: BDAT LAST in the envelope's flight) the server may have taken the message, so the
 *   error is stage END with deliveryUnknown; otherwise it is the stage whose reply was missing;
 * - otherwise the sender's reply and the recipients sorted; the caller handles a refused envelope.
 */
export function settleEnvelope(
  session: Session,
  recipients: string[],
  envelope: ReplyBatch,
  endWritten: boolean,
): { mailReply: Reply; accepted: string[]; rejected: RecipientRefusal[] } {
  const { connection } = session;
  // the batch may go on past the envelope (DATA's reply): only MAIL's and the RCPTs' count here
  const { replies } = envelope;
  const lost = replies.length < 1 + recipients.length ? envelope.failure : undefined;
  const mailReply = replies[0];
  if (mailReply !== undefined) connection.failIfClosing(mailReply, "MAIL");
  const { accepted, rejected } = sortRecipients(recipients, replies);
  for (const r of rejected) connection.failIfClosing(r.reply, "RCPT");
  if (lost === undefined) return { mailReply: mailReply!, accepted, rejected };
  if (mailReply !== undefined && !isPositive(mailReply)) throw envelopeRefused(mailReply, rejected);
  throw endWritten ? atStage(lost, "END") : lost;
}

/** Recipients sorted by their replies (`replies[1 + i]`, after MAIL's, answers `recipients[i]`; a missing one: neither). */
function sortRecipients(recipients: string[], replies: readonly Reply[]) {
  const accepted: string[] = [];
  const rejected: RecipientRefusal[] = [];
  for (let i = 0; i < recipients.length; i++) {
    const reply = replies[1 + i];
    if (reply === undefined) break;
    if (isPositive(reply)) accepted.push(recipients[i]!);
    else rejected.push({ recipient: recipients[i]!, reply });
  }
  return { accepted, rejected };
}

export async function resetQuietly(session: Session): Promise<void> {
  if (!session.connection.isOpen) return;
  try {
    await session.connection.command(commands.rset(), "RSET", session.timeouts.command);
  } catch {
    // the error that made us reset is the one to report
  }
}

export function withRejected(error: SMTPError, rejected: RecipientRefusal[]): SMTPError {
  error.rejected = rejected;
  return error;
}

/** The error for a transaction whose sender, or every recipient, was refused (after the RSET). */
export function envelopeRefused(mailReply: Reply, rejected: RecipientRefusal[]): SMTPError {
  if (!isPositive(mailReply)) return replyError("EENVELOPE", "MAIL", "the sender was refused", mailReply);
  return withRejected(
    replyError("EENVELOPE", "RCPT", "every recipient was refused", rejected[0]!.reply),
    rejected,
  );
}

import { type RecipientRefusal, replyError, SMTPError } from "../errors.js";
import * as commands from "../protocol/commands.js";
import { isPositive } from "../protocol/reply.js";
import type { Connection } from "../transport/connection.js";
import type { Reply } from "../types.js";
import type { Session, TransactionResult } from "./transaction.js";

// How a transaction's replies become its outcome: accepted and rejected recipients, the final reply,
// the errors for refusals, and the RSET that keeps the session usable after a refusal before the data ends.

/** Registers the waiter(s) for the end of data: one, or one per accepted recipient with LMTP (RFC 2033 §4.2). */
export function expectFinal(session: Session, acceptedCount: number, stage: "END" = "END"): Promise<Reply>[] {
  const count = session.lmtp ? acceptedCount : 1;
  return Array.from({ length: count }, () => session.connection.expect(stage, session.timeouts.data));
}

export async function finish(
  session: Session,
  finals: Promise<Reply>[],
  accepted: string[],
  rejected: RecipientRefusal[],
): Promise<TransactionResult> {
  if (!session.lmtp) {
    const reply = await finals[0]!;
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
  for (const [i, final] of finals.entries()) {
    const recipient = accepted[i]!;
    let reply: Reply;
    try {
      reply = await final;
    } catch (error) {
      if (!(error instanceof SMTPError)) throw error;
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

export function sortRecipients(recipients: string[], replies: Reply[]) {
  const accepted: string[] = [];
  const rejected: RecipientRefusal[] = [];
  recipients.forEach((recipient, i) => {
    const reply = replies[i];
    if (reply === undefined) return;
    if (isPositive(reply)) accepted.push(recipient);
    else rejected.push({ recipient, reply });
  });
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

export function errorMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * The error for a content source that failed: EMESSAGE with the source's error as the cause, and the
 * connection destroyed so the terminator is never sent (the server is still reading message data, so
 * nothing else may follow). When the connection itself had already failed, that failure is the error.
 */
export function contentFailed(connection: Connection, cause: unknown, stage: "DATA" | "BDAT"): SMTPError {
  if (connection.failure) return cause instanceof SMTPError ? cause : connection.failure;
  const error = new SMTPError("EMESSAGE", `the message content failed: ${errorMessage(cause)}`, {
    stage,
    cause,
    temporary: false,
  });
  connection.fail(error);
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

// What a failed send means for the message in the outbox (API.md §7). Pure: an error in, a verdict out.
import { SMTPError } from "../errors.js";
import type { Reply } from "../types.js";

export type Verdict =
  /** A throttling reply (421, 454, 4.7.x): pause the whole queue; the message is not charged an attempt. */
  | { kind: "throttle"; reason: string }
  /** Never worth retrying: 5xx, bad input. */
  | { kind: "permanent"; reason: string }
  /** 4xx or a connection lost before the end of data: retry on the schedule. `recipients`: only these. */
  | { kind: "temporary"; reason: string; recipients?: string[] }
  /** The connection was lost after the end of data: the message may have been accepted. */
  | { kind: "unknown"; reason: string };

/**
 * A throttling reply: 421 (service closing) anywhere; 454 or any 4.7.x (RFC 3463 security/policy) to the
 * session or the sender. Not a 4.7.x to one RCPT: that is greylisting-style, the recipient's own retry.
 */
export function isThrottling(reply: Reply | undefined, stage?: string): boolean {
  if (reply === undefined) return false;
  if (reply.code === 421) return true;
  if (stage === "RCPT") return false;
  return reply.code === 454 || (reply.code < 500 && /^4\.7\./.test(reply.enhancedCode ?? ""));
}

export function isTemporaryReply(reply: Reply): boolean {
  return reply.code >= 400 && reply.code < 500;
}

export function classify(error: unknown): Verdict {
  if (!(error instanceof SMTPError)) {
    return { kind: "temporary", reason: error instanceof Error ? error.message : String(error) };
  }
  const reason = error.message;
  if (isThrottling(error.reply, error.stage) || error.rejected?.some((r) => isThrottling(r.reply, "RCPT"))) {
    return { kind: "throttle", reason };
  }
  if (error.deliveryUnknown) return { kind: "unknown", reason };
  if (error.code === "EINPUT") return { kind: "permanent", reason };
  if (error.code === "EENVELOPE" && error.stage === "RCPT" && error.rejected !== undefined) {
    // every recipient refused: those refused for now are tried again, alone; the others never
    const later = error.rejected.filter((r) => isTemporaryReply(r.reply)).map((r) => r.recipient);
    return later.length > 0
      ? { kind: "temporary", reason, recipients: later }
      : { kind: "permanent", reason };
  }
  if (error.reply !== undefined) {
    return isTemporaryReply(error.reply) ? { kind: "temporary", reason } : { kind: "permanent", reason };
  }
  return error.temporary ? { kind: "temporary", reason } : { kind: "permanent", reason };
}

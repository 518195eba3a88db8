// What a failed send means for the message in the outbox (API.md §7). Pure: an error in, a verdict out.
// Which replies are throttling (and which 4.7.x at RCPT is greylisting) is the pool's rule
// (pool/verdict.ts isThrottling), reused here.
import { SMTPError } from "../errors.js";
import { isThrottling } from "../pool/verdict.js";
import type { Reply } from "../types.js";

export type Verdict =
  /** The server is throttling: pause the whole queue; the message is not charged an attempt. */
  | { kind: "throttle"; reason: string }
  /** Never worth retrying: 5xx, bad input. */
  | { kind: "permanent"; reason: string }
  /** 4xx or a connection lost before the end of data: retry on the schedule. `recipients`: only these. */
  | { kind: "temporary"; reason: string; recipients?: string[] }
  /** The connection was lost after the end of data: the message may have been accepted. */
  | { kind: "unknown"; reason: string };

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
  // the server closed the connection during the envelope (the pool retried once already): as the pool
  // reads it, a server shedding load — a 421 answering a pipelined MAIL surfaces like this too
  if (
    error.code === "ECONNECTION" &&
    error.reply === undefined &&
    (error.stage === "MAIL" || error.stage === "RCPT")
  ) {
    return { kind: "throttle", reason };
  }
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

// What the pool does with a failed message: report it, send it again (it cannot be a duplicate), or put
// it back because the server is throttling. One function, so the rules live in one place (API.md §6).
import { SMTPError } from "../errors.js";
import type { Reply } from "../types.js";

export type Verdict =
  /** Reported to the caller as it is. */
  | "report"
  /** Not accepted, none of its content written: send again once, on another connection. */
  | "retry"
  /** Refused by a throttling reply (or the server closed the connection at MAIL) before its data: wait and send again. */
  | "throttled"
  /**
   * Send again without using its retry: a pooled connection the server had closed while it was idle, or a
   * message behind a throttled one on the same connection (one event, counted once).
   */
  | "requeue";

/** 421, 454 or any 4.7.x: the server asks us to slow down (RFC 3463 §3.8: 4.7.x is a security or policy status). */
export function isThrottleReply(reply: Reply | undefined): boolean {
  if (reply === undefined) return false;
  return (
    reply.code === 421 || reply.code === 454 || (reply.code < 500 && /^4\.7\./.test(reply.enhancedCode ?? ""))
  );
}

/**
 * A throttling reply as an answer at `stage`: 421 and 454 anywhere, a 4.7.x anywhere but at RCPT — there a
 * 4.7.x from 450/451 is greylisting, a per-recipient answer that is reported.
 */
export function isThrottling(reply: Reply | undefined, stage?: string): boolean {
  if (!isThrottleReply(reply)) return false;
  return stage !== "RCPT" || reply!.code === 421 || reply!.code === 454;
}

/**
 * True when the failure happened before any of the message's content was written: the envelope (MAIL,
 * RCPT) or the wait for DATA's 354 (`lastReply`, the connection's last reply, is not that 354: no reply
 * comes while content is written). A failure at END, anything deliveryUnknown, a failure while the content
 * was being written, and any BDAT failure are not.
 */
export function beforeContent(error: SMTPError, lastReply?: Reply): boolean {
  if (error.deliveryUnknown) return false;
  if (error.stage === "MAIL" || error.stage === "RCPT") return true;
  return error.stage === "DATA" && (error.reply !== undefined || lastReply?.code !== 354);
}

/**
 * @param error how the send failed
 * @param idleBefore the connection had completed messages and none was in flight when this one started
 * @param lastReply the last reply on that connection: a 421 there explains a connection lost while the
 *   rest of a pipelined envelope waited; a 354 there means the content was being written
 */
export function verdictFor(error: unknown, idleBefore: boolean, lastReply?: Reply): Verdict {
  if (!(error instanceof SMTPError)) return "report";
  if (error.code === "EABORT" || !beforeContent(error, lastReply)) return "report";
  const reply =
    error.reply ?? (error.code === "ECONNECTION" && lastReply?.code === 421 ? lastReply : undefined);
  if (isThrottling(reply, error.stage)) return "throttled";
  if (reply !== undefined) return "report"; // any other reply: 5xx, greylisting 450/451, 452...
  if (error.code !== "ECONNECTION" && error.code !== "ETIMEDOUT") return "report";
  if (error.stage === "MAIL" && error.code === "ECONNECTION") return idleBefore ? "requeue" : "throttled";
  return "retry";
}

/** True when `error` means the connection it came from is gone (no further message may use it). */
export function endsConnection(error: unknown): boolean {
  if (!(error instanceof SMTPError)) return true;
  switch (error.code) {
    case "ECONNECTION":
    case "ETIMEDOUT":
    case "EPROTOCOL":
    case "EABORT":
    case "ETLS":
      return true;
    case "EMESSAGE":
      // a content source that failed while being written destroys the connection; a refusal does not
      return error.reply === undefined && error.stage !== "END";
    default:
      return false;
  }
}

/** Whether a throttle event at END (after the data) should still slow the pool down: it should. */
export function throttlesAfterData(error: unknown): boolean {
  return (
    error instanceof SMTPError &&
    (error.stage === "END" || error.deliveryUnknown) &&
    isThrottleReply(error.reply)
  );
}

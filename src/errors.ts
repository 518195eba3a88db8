import type { Reply } from "./types.js";

/** Every error code smtpkit raises. */
export type SMTPErrorCode =
  | "ECONNECTION"
  | "ETIMEDOUT"
  | "EPROTOCOL"
  | "ETLS"
  | "EAUTH"
  | "EENVELOPE"
  | "EMESSAGE"
  | "EABORT"
  | "EINPUT"
  /** A pool's maxQueued is reached: try again later (backpressure). */
  | "EQUEUEFULL";

/** The protocol step an error happened in. "END" means after the end of data was written. */
export type SMTPStage =
  | "CONNECT"
  | "GREETING"
  | "EHLO"
  | "STARTTLS"
  | "AUTH"
  | "MAIL"
  | "RCPT"
  | "DATA"
  | "BDAT"
  | "END"
  | "QUIT"
  | "RSET"
  | "NOOP";

export interface SMTPErrorOptions {
  reply?: Reply | undefined;
  stage?: SMTPStage | undefined;
  cause?: unknown;
  temporary?: boolean | undefined;
  deliveryUnknown?: boolean | undefined;
  accepted?: string[] | undefined;
  rejected?: RecipientRefusal[] | undefined;
  unknown?: string[] | undefined;
}

/** A recipient the server refused, with its reply. */
export interface RecipientRefusal {
  recipient: string;
  reply: Reply;
}

/** The one error type of smtpkit. */
export class SMTPError extends Error {
  override readonly name = "SMTPError";
  /** What kind of failure this is. */
  readonly code: SMTPErrorCode;
  /** The server reply that caused it, when there is one. */
  readonly reply: Reply | undefined;
  /** The protocol step that failed. */
  readonly stage: SMTPStage | undefined;
  /** Worth retrying later: a 4xx reply, a timeout, or a lost connection. */
  readonly temporary: boolean;
  /** True when the connection was lost after the end of data: the message may have been accepted. */
  readonly deliveryUnknown: boolean;
  /**
   * What is known per recipient when a transaction failed: those accepted so far (LMTP: delivered), those
   * refused with their replies, and those whose outcome is unknown (LMTP: no reply before the loss).
   */
  accepted: string[] | undefined;
  rejected: RecipientRefusal[] | undefined;
  unknown: string[] | undefined;

  constructor(code: SMTPErrorCode, message: string, options: SMTPErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reply = options.reply;
    this.stage = options.stage;
    this.deliveryUnknown = options.deliveryUnknown ?? false;
    this.accepted = options.accepted;
    this.rejected = options.rejected;
    this.unknown = options.unknown;
    this.temporary =
      options.temporary ??
      (options.reply !== undefined
        ? options.reply.code >= 400 && options.reply.code < 500
        : code === "ETIMEDOUT" || code === "ECONNECTION");
  }
}

/** Formats a reply for an error message: "550 5.1.1 No such user". */
export function describeReply(reply: Reply): string {
  const text = reply.lines.join(" / ");
  return `${reply.code}${reply.enhancedCode ? ` ${reply.enhancedCode}` : ""}${text ? ` ${text}` : ""}`;
}

/** An error for a reply the server sent that the step could not accept. */
export function replyError(code: SMTPErrorCode, stage: SMTPStage, what: string, reply: Reply): SMTPError {
  return new SMTPError(code, `${what}: ${describeReply(reply)}`, { reply, stage });
}

/**
 * The same failure as one step sees it: tagged with that step's stage, and after the end of data
 * ("END") marked deliveryUnknown — the message may or may not have been accepted (API.md §4.7).
 */
export function atStage(error: SMTPError, stage: SMTPStage): SMTPError {
  const end = stage === "END";
  if (error.stage === stage && (!end || error.deliveryUnknown)) return error;
  return new SMTPError(
    error.code,
    end
      ? `${error.message}; the message may or may not have been accepted (delivery unknown)`
      : error.message,
    {
      stage,
      reply: error.reply,
      cause: error.cause ?? error,
      temporary: error.temporary,
      deliveryUnknown: end,
    },
  );
}

export function inputError(message: string, stage?: SMTPStage): SMTPError {
  return new SMTPError("EINPUT", message, { stage, temporary: false });
}

/** The caller's AbortSignal fired: EABORT, with the signal's reason as the cause. */
export function abortError(signal: AbortSignal | undefined, stage?: SMTPStage): SMTPError {
  return new SMTPError("EABORT", "aborted by the caller", { stage, cause: signal?.reason, temporary: false });
}

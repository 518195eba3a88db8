// What nodemailer code expects back from a transport: `info` shaped like its SMTP transport's, and errors
// that carry its fields (responseCode, response, command) and codes — while staying smtpkit SMTPErrors.
import { type RecipientRefusal, SMTPError, type SMTPErrorCode, type SMTPStage } from "../errors.js";
import type { Reply, SendResult } from "../types.js";

/** nodemailer's envelope: `from` is false for the null sender. */
export interface NodemailerEnvelope {
  from: string | false;
  to: string[];
}

/** The fields nodemailer's SMTP transport puts on its errors. */
export interface NodemailerErrorFields {
  /** The reply code, when a reply caused the error. */
  responseCode?: number;
  /** The server's reply as nodemailer shows it: "550 5.1.1 No such user" (lines joined with "\n"). */
  response?: string;
  /** The command that failed, in nodemailer's words: "CONN", "EHLO", "AUTH", "MAIL FROM", "RCPT TO", "DATA"... */
  command?: string;
  /** For a refused recipient (in info.rejectedErrors): the address. */
  recipient?: string;
  /** Every refused recipient's error, when every recipient was refused. */
  rejectedErrors?: TransportError[];
}

/** An SMTPError with nodemailer's fields on it. */
export type TransportError = SMTPError & NodemailerErrorFields;

/** `info` as nodemailer's SMTP transport gives it, plus smtpkit's own result. */
export interface SmtpkitSentMessageInfo {
  envelope: NodemailerEnvelope;
  messageId: string;
  accepted: string[];
  rejected: string[];
  /** Present when some recipient was refused: one error per refused recipient. */
  rejectedErrors?: TransportError[];
  /** The reply to the end of data: "250 2.0.0 Ok: queued as 4Fx1". */
  response: string;
  /** The server's EHLO extension lines (one connection per message only: a pool does not say). */
  ehlo?: string[];
  /** smtpkit's SendResult. */
  smtpkit: SendResult;
}

/** A reply as nodemailer renders it: the raw lines, codes included, joined with "\n". */
export function replyText(reply: Reply): string {
  const last = reply.lines.length - 1;
  const enhanced = reply.enhancedCode ? `${reply.enhancedCode} ` : "";
  if (last < 0) return `${reply.code}`;
  return reply.lines
    .map((line, i) => `${reply.code}${i < last ? "-" : " "}${enhanced}${line}`.trimEnd())
    .join("\n");
}

/** The stage of ours as the command of theirs. */
const COMMANDS: Record<SMTPStage, string> = {
  CONNECT: "CONN",
  GREETING: "CONN",
  EHLO: "EHLO",
  STARTTLS: "STARTTLS",
  AUTH: "AUTH",
  MAIL: "MAIL FROM",
  RCPT: "RCPT TO",
  DATA: "DATA",
  BDAT: "BDAT",
  END: "DATA",
  QUIT: "QUIT",
  RSET: "RSET",
  NOOP: "NOOP",
};

/**
 * nodemailer's code for the same failure where it differs from ours. The one difference that matters:
 * a refused DATA command is EENVELOPE in nodemailer (its "Data command failed"), EMESSAGE in smtpkit.
 */
function nodemailerCode(error: SMTPError): SMTPErrorCode {
  if (error.code === "EMESSAGE" && error.stage === "DATA" && error.reply !== undefined) return "EENVELOPE";
  return error.code;
}

/** The error for nodemailer: an SMTPError (the original as `cause` when the code changed) with its fields. */
export function toTransportError(error: unknown): unknown {
  if (!(error instanceof SMTPError)) return error;
  const code = nodemailerCode(error);
  const out: TransportError =
    code === error.code
      ? error
      : new SMTPError(code, error.message, {
          reply: error.reply,
          stage: error.stage,
          cause: error,
          temporary: error.temporary,
          deliveryUnknown: error.deliveryUnknown,
          accepted: error.accepted,
          rejected: error.rejected,
          unknown: error.unknown,
        });
  decorate(out);
  if (out.rejected !== undefined && out.rejected.length > 0 && out.stage === "RCPT")
    out.rejectedErrors = out.rejected.map(recipientError);
  return out;
}

/** nodemailer's fields, from the error's own reply and stage. */
function decorate(error: TransportError): void {
  if (error.reply !== undefined) {
    error.responseCode = error.reply.code;
    error.response = replyText(error.reply);
  }
  if (error.stage !== undefined) error.command = COMMANDS[error.stage];
}

/** One refused recipient as nodemailer reports it in rejectedErrors. */
function recipientError(refusal: RecipientRefusal): TransportError {
  const error: TransportError = new SMTPError("EENVELOPE", `recipient ${refusal.recipient} was refused`, {
    reply: refusal.reply,
    stage: "RCPT",
  });
  decorate(error);
  error.recipient = refusal.recipient;
  return error;
}

/** `info` for a sent message. */
export function toInfo(
  result: SendResult,
  envelope: NodemailerEnvelope,
  messageId: string,
  ehlo: string[] | undefined,
): SmtpkitSentMessageInfo {
  const info: SmtpkitSentMessageInfo = {
    accepted: result.accepted,
    rejected: result.rejected.map((r) => r.recipient),
    response: replyText(result.reply),
    envelope: { from: envelope.from, to: envelope.to },
    messageId,
    smtpkit: result,
  };
  if (result.rejected.length > 0) info.rejectedErrors = result.rejected.map(recipientError);
  if (ehlo !== undefined && ehlo.length > 0) info.ehlo = ehlo;
  return info;
}

import type { SMTPStage } from "./errors.js";

/** One complete server reply. */
export interface Reply {
  /** The three-digit reply code. */
  code: number;
  /** The RFC 3463 enhanced status code ("5.1.1"), when the server sent one (RFC 2034). */
  enhancedCode?: string;
  /** The text of each line, without the code, separator and enhanced code. */
  lines: string[];
  /** The lines joined with "\n". */
  text: string;
}

/** Message content: text, bytes, a Node readable stream, or any async iterable of chunks. */
export type Content = string | Uint8Array | NodeJS.ReadableStream | AsyncIterable<Uint8Array | string>;

/** One line of the transcript. Secret-bearing lines are already redacted. */
export interface TranscriptEntry {
  direction: "C" | "S";
  line: string;
}

export interface SMTPTimeouts {
  /** ms to receive the whole greeting. Default 300 000 (RFC 5321 §4.5.3.2.1: 5 minutes). */
  greeting?: number;
  /**
   * ms for each command's whole reply, each TLS handshake and each SASL exchange.
   * Default 300 000 (RFC 5321 §4.5.3.2.2-3: 5 minutes for MAIL/RCPT).
   */
  command?: number;
  /**
   * ms to write the message and receive the reply to its end.
   * Default 600 000 (RFC 5321 §4.5.3.2.6: 10 minutes for the final reply; go-smtp uses 12 min).
   */
  data?: number;
}

export interface SMTPOptions {
  /** EHLO/HELO name. Default: this host's FQDN if it has one, else the socket's local address literal. */
  clientName?: string;
  /** Speak LMTP (RFC 2033): LHLO, one reply per recipient after the data. */
  lmtp?: boolean;
  /** Allow authenticate() over a clear channel. Default false. */
  allowInsecureAuth?: boolean;
  /** Deadlines in milliseconds. */
  timeouts?: SMTPTimeouts;
  /** Receives the transcript, with secrets redacted. */
  logger?: (entry: TranscriptEntry) => void;
  /** Aborting destroys the socket and rejects what is pending with EABORT. */
  signal?: AbortSignal;
}

export interface SendResult {
  /** Envelope recipients the server took. */
  accepted: string[];
  /** Those it refused, each with the server's reply. */
  rejected: { recipient: string; reply: Reply }[];
  /** The reply to the end of data. */
  reply: Reply;
  /** The Message-ID header that was sent ("<...>"); for sendRaw, the one found in the message or "". */
  messageId: string;
}

export type DSNNotify = "SUCCESS" | "FAILURE" | "DELAY" | "NEVER";

export interface SendOptions {
  /** Extra headers (validated: field-name syntax, no CR/LF, no Bcc, no duplicate of ours). */
  headers?: Record<string, string>;
  /** The Message-ID to send, in msg-id syntax "<left@right>". Default: a random one. */
  messageId?: string;
  /** The Date header. Default: now. */
  date?: Date;
  /** RFC 3461 delivery status notifications; used when the server offers DSN. */
  dsn?: {
    notify?: DSNNotify[];
    ret?: "FULL" | "HDRS";
    envid?: string;
    /** Send ORCPT=rfc822;<addr> with each RCPT. */
    orcpt?: boolean;
  };
  /** RFC 8689 REQUIRETLS: EENVELOPE if the channel is clear or the server does not offer it. */
  requireTLS?: boolean;
}

export type { SMTPStage };

// The nodemailer transport object: nodemailer composes (templates, attachments, DKIM, plugins), smtpkit sends.
// nodemailer is never imported here: the transport meets it through the small structural types below.
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { connect } from "../api/connect.js";
import type { RawSendOptions } from "../client/send.js";
import { inputError, SMTPError } from "../errors.js";
import type { DSNNotify } from "../types.js";
import { type SmtpkitTransportOptions, type TranslatedOptions, translateOptions } from "./options.js";
import { type NodemailerEnvelope, type SmtpkitSentMessageInfo, toInfo, toTransportError } from "./results.js";
import { oneShotSender, pooledSender, type Sender } from "./senders.js";

/** nodemailer's per-message DSN option (`sendMail({ dsn })`). */
export interface NodemailerDsn {
  id?: string;
  return?: "headers" | "full" | string;
  notify?: string | string[] | false;
  recipient?: string;
}

/** What the transport reads from nodemailer's MailMessage (`mail` in `transport.send(mail, callback)`). */
export interface NodemailerMail {
  data: { dsn?: NodemailerDsn | undefined; requireTLSExtensionEnabled?: boolean | undefined; auth?: unknown };
  message: {
    /** The composed message (DKIM-signed when asked), produced as it is read. */
    createReadStream(): NodeJS.ReadableStream;
    /** `envelope` from sendMail() when given, else the addresses of the message. */
    getEnvelope(): NodemailerEnvelope;
    messageId(): string;
  };
}

export type SendCallback = (error: Error | null, info?: SmtpkitSentMessageInfo) => void;

/** The pool's default maxConnections (API.md §6). */
const DEFAULT_POOL_CONNECTIONS = 5;
/**
 * Messages the pool starts at once on each connection (the next envelope rides with the previous end of
 * data, pool.ts DEPTH): isIdle() stays true until every connection has that many.
 */
const POOL_DEPTH = 2;

/** smtpkit's version, read from package.json once (not for every transport). */
let version: string | undefined;

function packageVersion(): string {
  version ??= readPackageVersion();
  return version;
}

function readPackageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * A nodemailer transport (`nodemailer.createTransport(smtpkitTransport(options))`). Events: "idle" when it can
 * take another message without it waiting (nodemailer's pooled `transporter.on("idle")` pattern).
 */
export class SmtpkitTransport extends EventEmitter {
  readonly name = "smtpkit";
  readonly version: string = packageVersion();
  /** Set by nodemailer's Mail. */
  mailer: unknown;
  readonly #options: TranslatedOptions;
  readonly #sender: Sender;
  /** Messages started and not yet finished at which isIdle() turns false. */
  readonly #capacity: number;
  #inFlight = 0;
  #closed = false;

  constructor(options: SmtpkitTransportOptions) {
    super();
    this.#options = translateOptions(options);
    const pool = this.#options.pool;
    if (pool) {
      this.#sender = pooledSender({ ...this.#options.connect, ...pool });
      this.#capacity = (pool.maxConnections ?? DEFAULT_POOL_CONNECTIONS) * POOL_DEPTH;
    } else {
      this.#sender = oneShotSender(this.#options.connect);
      this.#capacity = 1;
    }
    setImmediate(() => {
      if (this.isIdle()) this.emit("idle");
    });
  }

  /** nodemailer calls this for every sendMail(): the message streams from its composer into sendRaw. */
  send(mail: NodemailerMail, callback: SendCallback): void {
    this.#send(mail).then(
      (info) => callback(null, info),
      (error: unknown) => callback(asError(toTransportError(error))),
    );
  }

  async #send(mail: NodemailerMail): Promise<SmtpkitSentMessageInfo> {
    if (this.#closed && this.#options.pool)
      throw new SMTPError("ECONNECTION", "the transport was closed", { temporary: false });
    if (mail.data.auth !== undefined)
      throw inputError("per-message auth is not supported: give auth to smtpkitTransport()");
    const envelope = mail.message.getEnvelope();
    const messageId = mail.message.messageId();
    const options = sendOptions(mail.data);
    this.#inFlight++;
    try {
      const sent = await this.#sender.send(
        { from: envelope.from === false ? "" : envelope.from, recipients: envelope.to },
        composed(mail),
        options,
      );
      return toInfo(sent.result, envelope, messageId, sent.ehlo);
    } finally {
      this.#inFlight--;
      if (this.#inFlight === this.#capacity - 1 && !this.#closed) this.emit("idle");
    }
  }

  /** Connects, secures, authenticates and QUITs: true, or a rejected promise (the callback's error) with the reason. */
  verify(): Promise<true>;
  verify(callback: (error: Error | null, success?: true) => void): void;
  verify(callback?: (error: Error | null, success?: true) => void): Promise<true> | undefined {
    const result = this.#verify();
    if (callback === undefined) return result;
    result.then(
      (ok) => callback(null, ok),
      (error: unknown) => callback(asError(error)),
    );
    return undefined;
  }

  async #verify(): Promise<true> {
    try {
      const smtp = await connect(this.#options.connect);
      await smtp.close().catch(() => undefined);
      return true;
    } catch (error) {
      throw toTransportError(error);
    }
  }

  /** True when another message would start at once (pooled: a connection has room; else: nothing in flight). */
  isIdle(): boolean {
    return !this.#closed && this.#inFlight < this.#capacity;
  }

  /** Stops taking messages (pooled), lets the started ones finish, and closes the connections. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sender.close().then(
      () => this.emit("close"),
      (error: unknown) => this.emit("error", asError(error)),
    );
  }
}

/**
 * The message as content that nodemailer composes only when it is read: nothing is produced (no file opened,
 * no DKIM signature computed) while the message waits for a connection, and a message that is never sent
 * leaves nothing open. Stopping early (a failure) ends the iteration, which destroys nodemailer's stream.
 */
function composed(mail: NodemailerMail): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]: () =>
      (mail.message.createReadStream() as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](),
  };
}

/** nodemailer's per-message DSN and REQUIRETLS as sendRaw's options. */
function sendOptions(data: NodemailerMail["data"]): RawSendOptions {
  const options: RawSendOptions = {};
  if (data.requireTLSExtensionEnabled) options.requireTLS = true;
  const dsn = data.dsn;
  if (dsn) {
    const out: NonNullable<RawSendOptions["dsn"]> = {};
    if (dsn.id !== undefined) out.envid = dsn.id;
    if (dsn.return !== undefined) {
      const ret = String(dsn.return).toLowerCase();
      if (ret === "headers" || ret === "hdrs") out.ret = "HDRS";
      else if (ret === "full") out.ret = "FULL";
      else throw inputError(`dsn.return "${dsn.return}" is not "headers" or "full"`);
    }
    if (dsn.notify) {
      const list = Array.isArray(dsn.notify) ? dsn.notify : String(dsn.notify).split(",");
      out.notify = list.map((n) => n.trim().toUpperCase()) as DSNNotify[]; // checked by sendRaw
    }
    if (dsn.recipient !== undefined) out.orcpt = true;
    options.dsn = out;
  }
  return options;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

import type net from "node:net";
import type tls from "node:tls";
import { createMechanism } from "../auth/create.js";
import {
  AUTH_CRAM_MD5,
  AUTH_DEFAULT,
  AUTH_LOGIN,
  AUTH_OAUTHBEARER,
  AUTH_PLAIN,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_XOAUTH2,
  DEFAULT_CANDIDATES,
  MECHANISM_NAMES,
  STRENGTH_ORDER,
} from "../auth/mechanism.js";
import { passwordForms, secretsIn } from "../auth/redaction.js";
import { runSASL } from "../auth/run.js";
import { describeReply, inputError, replyError, SMTPError, type SMTPStage } from "../errors.js";
import { isMailBody } from "../mime/compose.js";
import type { MailBody, MailOptions } from "../mime/types.js";
import { type Capabilities, NO_CAPABILITIES, parseCapabilities } from "../protocol/capabilities.js";
import * as commands from "../protocol/commands.js";
import { channelBindingOf } from "../transport/channel-binding.js";
import { defaultClientName, isValidClientName } from "../transport/client-name.js";
import { Connection } from "../transport/connection.js";
import type { Content, Reply, SendOptions, SendResult, SMTPOptions } from "../types.js";
import { planComposed, planRaw, type RawSendOptions, type SendPlan } from "./send.js";
import { planMail } from "./send-mail.js";
import type { PreparedTransaction, Session } from "./session.js";

/** RFC 5321 §4.5.3.2 minimums: 5 min for the greeting and each command, 10 min for the end of data. */
const DEFAULT_TIMEOUTS = { greeting: 300_000, command: 300_000, data: 600_000 } as const;

/**
 * The low-level SMTP client of the seed interface (net.mail.SMTP). The caller brings a connected socket;
 * every call runs in order (a call made while another runs waits its turn).
 */
export class SMTP {
  static readonly AUTH_DEFAULT = AUTH_DEFAULT;
  static readonly AUTH_PLAIN = AUTH_PLAIN;
  static readonly AUTH_LOGIN = AUTH_LOGIN;
  static readonly AUTH_CRAM_MD5 = AUTH_CRAM_MD5;
  static readonly AUTH_XOAUTH2 = AUTH_XOAUTH2;
  static readonly AUTH_OAUTHBEARER = AUTH_OAUTHBEARER;
  static readonly AUTH_SCRAM_SHA_1 = AUTH_SCRAM_SHA_1;
  static readonly AUTH_SCRAM_SHA_256 = AUTH_SCRAM_SHA_256;
  static readonly AUTH_SCRAM_SHA_256_PLUS = AUTH_SCRAM_SHA_256_PLUS;

  readonly #options: SMTPOptions;
  readonly #timeouts: { greeting: number; command: number; data: number };
  #connection: Connection | undefined;
  #capabilities: Capabilities = NO_CAPABILITIES;
  #clientName: string | undefined;
  #tlsSocket: tls.TLSSocket | undefined;
  #greeting: Reply | undefined;
  /** The reply that explains a `false` whose session then sent more (the QUIT after a declined greeting). */
  #explanation: Reply | undefined;
  /** Calls waiting their turn; the running one stays at index 0 until it ends. */
  readonly #operations: Operation[] = [];
  /** The session of the last transaction, reused while the connection, capabilities and TLS state hold. */
  #lastSession: Session | undefined;

  constructor(options: SMTPOptions = {}) {
    if (options.clientName !== undefined && !isValidClientName(options.clientName)) {
      throw inputError(`clientName "${options.clientName}" is not a domain name or an address literal`);
    }
    this.#options = { ...options };
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...definedOnly(options.timeouts ?? {}) };
    for (const [name, value] of Object.entries(this.#timeouts)) {
      if (typeof value !== "number" || !(value > 0)) {
        throw inputError(`timeouts.${name} must be a positive number of milliseconds (or Infinity)`);
      }
    }
  }

  /** The last reply the server sent. */
  get lastReply(): Reply | undefined {
    return this.#explanation ?? this.#connection?.lastReply;
  }

  /** The server's greeting (220, or the refusal when connect() resolved false). */
  get greeting(): Reply | undefined {
    return this.#greeting;
  }

  /** True once the channel is TLS. */
  get secure(): boolean {
    return this.#tlsSocket !== undefined;
  }

  /** The TLS socket, for certificate inspection. */
  get tlsSocket(): tls.TLSSocket | undefined {
    return this.#tlsSocket;
  }

  /** Reads the greeting and says EHLO (HELO if EHLO is refused). False when the server declines. */
  connect(socket: net.Socket): Promise<boolean> {
    return this.#serial(() => this.#open(socket, undefined));
  }

  /** The same over implicit TLS (port 465): handshake first, verified by Node's rules. */
  connectTLS(socket: net.Socket, tlsOptions: tls.ConnectionOptions = {}): Promise<boolean> {
    return this.#serial(() => this.#open(socket, tlsOptions));
  }

  /** STARTTLS and EHLO again. False when STARTTLS is not offered or is refused (the session stays in clear). */
  startTLS(tlsOptions: tls.ConnectionOptions = {}): Promise<boolean> {
    return this.#serial(async () => {
      const connection = this.#ready("STARTTLS");
      if (this.secure) throw inputError("the channel is already TLS", "STARTTLS");
      if (!this.#capabilities.starttls) return false;
      const replyPromise = connection.expect("STARTTLS", this.#timeouts.command, { barrier: true });
      connection.writeCommands([commands.starttls()]);
      const reply = await replyPromise;
      if (reply.code !== 220) {
        connection.failIfClosing(reply, "STARTTLS");
        if (reply.code >= 400) return false; // refused: the session goes on in clear
        const error = replyError("EPROTOCOL", "STARTTLS", "unexpected reply to STARTTLS", reply);
        connection.fail(error);
        throw error;
      }
      this.#tlsSocket = await connection.upgrade(tlsOptions, this.#timeouts.command, "STARTTLS");
      // API.md §4.4: any refusal of the EHLO after TLS (4xx, 5xx, even 421) is ETLS
      const hello = await this.#hello(connection, "EHLO", true).catch((error: unknown) => {
        if (error instanceof SMTPError && error.reply !== undefined) return false;
        throw error;
      });
      if (!hello) {
        const refused = connection.lastReply;
        const error = new SMTPError(
          "ETLS",
          `EHLO after STARTTLS refused: ${refused ? describeReply(refused) : ""}`,
          {
            stage: "EHLO",
            reply: refused,
          },
        );
        connection.fail(error);
        throw error;
      }
      return true;
    });
  }

  /** The extension lines of the last EHLO reply, e.g. ["PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN"]. */
  getServerOptions(): string[] {
    return [...this.#capabilities.lines];
  }

  /** AUTH_* constants the server offers and smtpkit implements, strongest first. */
  getAuthTypes(): number[] {
    const offered = this.#capabilities.authMechanisms;
    return STRENGTH_ORDER.filter((type) => {
      const name = MECHANISM_NAMES.get(type);
      if (name === undefined || !offered.has(name)) return false;
      // channel binding needs a TLS channel (RFC 5802 §6)
      return type !== AUTH_SCRAM_SHA_256_PLUS || this.secure;
    });
  }

  /**
   * Authenticates. True on 235; false when the server declines (lastReply says why).
   * EAUTH before anything is sent when the type is not offered or the channel is clear without allowInsecureAuth.
   */
  authenticate(username: string, password: string, authType: number = AUTH_DEFAULT): Promise<boolean> {
    return this.#serial(async () => {
      const connection = this.#ready("AUTH");
      const types = this.getAuthTypes();
      let type = authType;
      if (type === AUTH_DEFAULT) {
        const pick = types.find((t) => DEFAULT_CANDIDATES.has(t));
        if (pick === undefined) {
          throw new SMTPError("EAUTH", "the server offers no password mechanism smtpkit implements", {
            stage: "AUTH",
            temporary: false,
          });
        }
        type = pick;
      } else if (!types.includes(type)) {
        const name = MECHANISM_NAMES.get(type) ?? `#${type}`;
        throw new SMTPError("EAUTH", `the server does not offer ${name} here`, {
          stage: "AUTH",
          temporary: false,
        });
      }
      if (!this.secure && !this.#options.allowInsecureAuth) {
        throw new SMTPError(
          "EAUTH",
          "refusing to send credentials over a clear channel: use TLS, or set allowInsecureAuth",
          { stage: "AUTH", temporary: false },
        );
      }
      const channel = {
        secure: this.secure,
        channelBinding: this.#tlsSocket ? channelBindingOf(this.#tlsSocket) : undefined,
      };
      const client = createMechanism(type, { username, password }, channel);
      const deadline = connection.deadline(this.#timeouts.command, "AUTH", "the SASL exchange");
      connection.addSecrets(passwordForms(password));
      try {
        const outcome = await runSASL(client, (command) => {
          connection.addSecrets(secretsIn(command));
          return connection.command(command, "AUTH", undefined);
        }).catch((error: unknown) => {
          // A broken exchange (EPROTOCOL), or a 235 from a server that failed mutual authentication
          // (SCRAM), leaves a session in an unknown or untrusted state: end it.
          if (
            error instanceof SMTPError &&
            (error.code === "EPROTOCOL" || (error.code === "EAUTH" && error.reply?.code === 235))
          ) {
            connection.fail(error);
          }
          throw error;
        });
        const reply = outcome.reply;
        if (reply.code === 235) return true;
        connection.failIfClosing(reply, "AUTH");
        return false;
      } finally {
        deadline.clear();
      }
    });
  }

  /** Builds a message and runs one mail transaction (API.md §1). */
  send(
    fromAddr: string,
    to: string[],
    cc: string[],
    bcc: string[],
    subject: string,
    content: Content | MailBody,
    options: SendOptions = {},
  ): Promise<SendResult> {
    if (isMailBody(content)) {
      const { headers, messageId, date, ...envelopeOptions } = options ?? {};
      return this.sendMail({
        from: fromAddr,
        to,
        cc,
        bcc,
        subject,
        ...content,
        headers,
        messageId,
        date,
        options: envelopeOptions,
      });
    }
    const plan = planComposed({ from: fromAddr, to, cc, bcc, subject, content, options });
    return this.#serial(() => plan.run(this.#session("MAIL")), plan);
  }

  /** A composed mail (API.md §5: text, html, attachments, calendar, DKIM) as one transaction. */
  sendMail(mail: MailOptions): Promise<SendResult> {
    const plan = planMail(mail);
    return this.#serial(() => plan.run(this.#session("MAIL")), plan);
  }

  /** One transaction with a message the caller built completely; only line ends and wire rules are applied. */
  sendRaw(
    fromAddr: string,
    recipients: string[],
    message: Content,
    options: RawSendOptions = {},
  ): Promise<SendResult> {
    const plan = planRaw(fromAddr, recipients, message, options);
    return this.#serial(() => plan.run(this.#session("MAIL")), plan);
  }

  /** NOOP. */
  noop(): Promise<Reply> {
    return this.#serial(() => this.#simple(commands.noop(), "NOOP"));
  }

  /** RSET: abandons any transaction. */
  reset(): Promise<Reply> {
    return this.#serial(() => this.#simple(commands.rset(), "RSET"));
  }

  /** QUIT, wait for 221 (bounded by the command timeout), end the socket. Safe twice and after a failure. */
  close(): Promise<void> {
    return this.#serial(async () => {
      const connection = this.#connection;
      if (connection === undefined) return;
      if (connection.isOpen) {
        try {
          await connection.command(commands.quit(), "QUIT", this.#timeouts.command);
        } catch {
          // the server went away or stalled: the socket is destroyed either way
        }
      }
      await connection.end(1000); // a second close() finds the socket destroyed and returns
    });
  }

  // ---- internals ----

  /** Runs calls one at a time, in the order they were made. */
  #serial<T>(step: () => Promise<T>, plan?: SendPlan): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#operations.push({ step, resolve, reject, plan } as Operation);
      if (this.#operations.length === 1) this.#start();
    });
  }

  /** Starts the call at the head of the queue; when it ends, the next one. */
  #start(): void {
    const operation = this.#operations[0]!;
    let running: Promise<unknown>;
    try {
      running = operation.step();
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => {
        operation.resolve(value);
        this.#next();
      },
      (error: unknown) => {
        operation.reject(error);
        this.#next();
      },
    );
  }

  #next(): void {
    this.#operations.shift();
    if (this.#operations.length > 0) this.#start();
  }

  /** The send queued right behind the running call, prepared; undefined when the next call is not a send. */
  #nextQueued(session: Session): PreparedTransaction | undefined {
    const plan = this.#operations[1]?.plan;
    if (plan === undefined) return undefined;
    try {
      return plan.prepare(session).transaction;
    } catch {
      return undefined; // it fails with its own error when its turn comes
    }
  }

  #session(stage: SMTPStage): Session {
    const connection = this.#ready(stage);
    const last = this.#lastSession;
    if (
      last !== undefined &&
      last.connection === connection &&
      last.capabilities === this.#capabilities &&
      last.secure === this.secure
    ) {
      return last;
    }
    const session: Session = {
      connection,
      capabilities: this.#capabilities,
      lmtp: this.#options.lmtp ?? false,
      secure: this.secure,
      timeouts: this.#timeouts,
      clientName: this.#clientName ?? "localhost",
    };
    session.nextQueued = () => this.#nextQueued(session);
    this.#lastSession = session;
    return session;
  }

  #ready(stage: SMTPStage): Connection {
    const connection = this.#connection;
    if (connection === undefined) {
      throw new SMTPError("ECONNECTION", "not connected: call connect() or connectTLS() first", {
        stage,
        temporary: false,
      });
    }
    if (connection.failure) {
      const failure = connection.failure;
      // An abort, or a protocol violation no call has reported yet (a reply nobody asked for, between
      // calls: no stage), is the cause the caller needs to see; anything else reads as "the connection is
      // closed", with the reported failure as its cause.
      const keep = failure.code === "EABORT" || (failure.code === "EPROTOCOL" && failure.stage === undefined);
      throw new SMTPError(
        keep ? failure.code : "ECONNECTION",
        keep
          ? `${failure.message} (the connection is closed)`
          : `the connection is closed (${failure.message})`,
        {
          stage,
          cause: failure,
          temporary: failure.temporary,
        },
      );
    }
    return connection;
  }

  async #simple(command: commands.Command, stage: SMTPStage): Promise<Reply> {
    const connection = this.#ready(stage);
    const reply = await connection.command(command, stage, this.#timeouts.command);
    connection.failIfClosing(reply, stage);
    if (reply.code >= 400) throw replyError("EPROTOCOL", stage, `${stage} refused`, reply);
    return reply;
  }

  async #open(socket: net.Socket, tlsOptions: tls.ConnectionOptions | undefined): Promise<boolean> {
    if (this.#connection !== undefined) {
      throw inputError("this SMTP object is already connected; use a new one per connection", "CONNECT");
    }
    const connection = new Connection(socket, { logger: this.#options.logger, signal: this.#options.signal });
    this.#connection = connection;
    if (tlsOptions !== undefined) {
      this.#tlsSocket = await connection.upgrade(tlsOptions, this.#timeouts.command, "CONNECT");
    }
    this.#clientName = this.#options.clientName ?? defaultClientName(connection.socket.localAddress);
    const greeting = await connection.expect("GREETING", this.#timeouts.greeting);
    this.#greeting = greeting;
    if (greeting.code !== 220) {
      connection.failIfClosing(greeting, "GREETING");
      if (greeting.code >= 500) {
        // RFC 5321 §3.1: after a 554 greeting the client should send QUIT and wait for the reply; the
        // greeting stays lastReply, since it is what explains the false.
        this.#explanation = greeting;
        await connection.command(commands.quit(), "QUIT", this.#timeouts.command).catch(() => undefined);
        await connection.end(1000);
        return false;
      }
      const error = replyError("EPROTOCOL", "GREETING", "unexpected greeting", greeting);
      connection.fail(error);
      throw error;
    }
    return this.#hello(connection, "EHLO", false);
  }

  /** EHLO (LHLO for LMTP), falling back to HELO on a 5xx. Replaces the capabilities. */
  async #hello(connection: Connection, stage: SMTPStage, afterTls: boolean): Promise<boolean> {
    const name = this.#clientName ?? "localhost";
    const lmtp = this.#options.lmtp ?? false;
    const reply = await connection.command(
      lmtp ? commands.lhlo(name) : commands.ehlo(name),
      stage,
      this.#timeouts.command,
    );
    if (reply.code === 250) {
      this.#capabilities = parseCapabilities(reply);
      return true;
    }
    connection.failIfClosing(reply, stage);
    if (reply.code < 500) throw replyError("ECONNECTION", stage, "the server refused the hello", reply);
    if (lmtp || afterTls) return false;
    const helo = await connection.command(commands.helo(name), stage, this.#timeouts.command);
    if (helo.code === 250) {
      this.#capabilities = NO_CAPABILITIES;
      return true;
    }
    connection.failIfClosing(helo, stage);
    if (helo.code < 500) throw replyError("ECONNECTION", stage, "the server refused HELO", helo);
    return false;
  }
}

/** A call waiting its turn (or running, at the head of the queue). */
interface Operation {
  step(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** The send it runs, so the running send can prepare it early (pipelining). */
  plan: SendPlan | undefined;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

import type net from "node:net";
import type tls from "node:tls";
import { abortError, atStage, describeReply, replyError, SMTPError, type SMTPStage } from "../errors.js";
import type { Command } from "../protocol/commands.js";
import { replyWireLines } from "../protocol/reply.js";
import { ReplyParser, ReplySyntaxError } from "../protocol/reply-parser.js";
import type { Reply, TranscriptEntry } from "../types.js";
import { handshake } from "./tls.js";

export interface ConnectionOptions {
  logger?: ((entry: TranscriptEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Waits for the replies to one command, or to a pipelined group of them (one waiter, one promise for the
 * group: a transaction's envelope costs one allocation, not one per command).
 */
interface Waiter {
  /** The stage of each reply awaited, in order. */
  stages: readonly SMTPStage[];
  /** The replies received so far. */
  replies: Reply[];
  /** STARTTLS: after this reply nothing more is read until the TLS handshake is done. */
  barrier: boolean;
  /** When the next reply must have arrived whole (ms, performance.now()), or Infinity. */
  deadline: number;
  timeoutMs: number | undefined;
  /**
   * Settles the waiter once every reply is in or the connection fails first: `expect()`'s waiter
   * resolves with its one reply or rejects (`reject` set); `expectReplies()`'s resolves with a ReplyBatch.
   */
  resolve(value: Reply | ReplyBatch): void;
  reject: ((error: SMTPError) => void) | undefined;
}

/**
 * The replies to a pipelined group, in order. When the connection failed before every reply arrived,
 * `failure` is set (tagged with the stage of the first missing reply) and `replies` holds those that did
 * arrive: a 421 that explains the failure is read from there.
 */
export interface ReplyBatch {
  replies: Reply[];
  failure: SMTPError | undefined;
}

/** A running deadline; clear() it when the step is done. */
export interface Deadline {
  clear(): void;
}

/**
 * Owns the socket: bytes in go through one ReplyParser and each complete reply goes to the oldest waiter
 * in a FIFO (so pipelined commands are matched in order). Writes are corked per group and respect
 * backpressure. Any timeout, malformed reply, unsolicited reply, abort or lost socket fails the connection:
 * every waiter is rejected, the socket destroyed, and every later call rejects with the same error.
 */
export class Connection {
  #socket: net.Socket;
  readonly #parser = new ReplyParser();
  readonly #waiters: Waiter[] = [];
  readonly #drainWaiters = new Set<(error: SMTPError | undefined) => void>();
  readonly #logger: ((entry: TranscriptEntry) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  #failure: SMTPError | undefined;
  #discarding = false;
  #lastReply: Reply | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #failureListeners = new Set<(error: SMTPError) => void>();
  /** What we sent in an AUTH exchange (and the password): never shown in a reply we hand on. */
  #secrets: string[] = [];

  constructor(socket: net.Socket, options: ConnectionOptions = {}) {
    this.#socket = socket;
    this.#logger = options.logger;
    this.#signal = options.signal;
    if (socket.destroyed || socket.readyState === "closed") {
      // its 'close' event has already been emitted: nothing would ever settle a waiter
      this.#markClosed(
        new SMTPError("ECONNECTION", "the socket given to smtpkit is already closed", {
          stage: "CONNECT",
          temporary: true,
        }),
      );
      return;
    }
    socket.setNoDelay(true); // pipelined groups must not wait for a delayed ACK (Nagle)
    this.#attach(socket);
    if (this.#signal) {
      if (this.#signal.aborted) this.#onAbort();
      else this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** The socket in use (the TLS socket after an upgrade). */
  get socket(): net.Socket {
    return this.#socket;
  }

  /** Why the connection ended, once it has. */
  get failure(): SMTPError | undefined {
    return this.#failure;
  }

  get isOpen(): boolean {
    return this.#failure === undefined;
  }

  /** The last reply received. */
  get lastReply(): Reply | undefined {
    return this.#lastReply;
  }

  /** Calls `listener` once when the connection fails or closes (at once if it already has); returns an unsubscribe. */
  onFailure(listener: (error: SMTPError) => void): () => void {
    if (this.#failure) {
      listener(this.#failure);
      return noop;
    }
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  /**
   * From now on, every reply (but a 334 challenge, which goes to the SASL mechanism as sent) has these
   * strings replaced by "<redacted>" before it is logged, kept as lastReply or handed to a caller: a
   * server that echoes the AUTH argument or the password must not put it in a transcript or an error.
   */
  addSecrets(secrets: readonly string[]): void {
    for (const secret of secrets) {
      if (secret.length > 0 && !this.#secrets.includes(secret)) this.#secrets.push(secret);
    }
    // the longest first, so that a secret inside another is not left half-redacted
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  /** Writes a transcript line. */
  log(direction: "C" | "S", line: string): void {
    if (this.#logger === undefined) return;
    try {
      this.#logger({ direction, line });
    } catch {
      // a throwing logger must not break the protocol
    }
  }

  /**
   * Registers a waiter for the next reply not yet claimed. Call it before writing the command, so that a
   * reply can never arrive "unsolicited" by a race. `timeoutMs` is a deadline for the whole reply.
   */
  expect(stage: SMTPStage, timeoutMs: number | undefined, options?: { barrier?: boolean }): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    const reply = new Promise<Reply>((resolve, reject) => {
      this.#enqueue(
        [stage],
        timeoutMs,
        options?.barrier ?? false,
        resolve as (value: Reply | ReplyBatch) => void,
        reject,
      );
    });
    // A pipelined reply may never be awaited when an earlier one already failed the step; the failure is
    // reported through that one, so this rejection must not surface as an unhandled rejection.
    reply.catch(noop);
    return reply;
  }

  /**
   * Registers one waiter for the replies to a pipelined group of commands, one per stage in `stages`, in
   * order (call it before writing them). Never rejects: a lost connection resolves the batch with the
   * replies that did arrive and the failure, tagged with the stage of the first missing reply. Each reply
   * has `timeoutMs` from the arrival of the one before it (or from now, for the first).
   */
  expectReplies(stages: readonly SMTPStage[], timeoutMs: number | undefined): Promise<ReplyBatch> {
    if (this.#failure) return Promise.resolve({ replies: [], failure: atStage(this.#failure, stages[0]!) });
    return new Promise<ReplyBatch>((resolve) => {
      this.#enqueue(stages, timeoutMs, false, resolve as (value: Reply | ReplyBatch) => void, undefined);
    });
  }

  #enqueue(
    stages: readonly SMTPStage[],
    timeoutMs: number | undefined,
    barrier: boolean,
    resolve: (value: Reply | ReplyBatch) => void,
    reject: ((error: SMTPError) => void) | undefined,
  ): void {
    // Only the oldest waiter's deadline runs; one behind it gets its own when it becomes the oldest.
    const deadline =
      timeoutMs === undefined || !Number.isFinite(timeoutMs)
        ? Number.POSITIVE_INFINITY
        : this.#waiters.length === 0
          ? now() + timeoutMs
          : Number.NEGATIVE_INFINITY;
    this.#waiters.push({ stages, replies: [], barrier, deadline, timeoutMs, resolve, reject });
    if (this.#waiters.length === 1) this.#armTimer(deadline); // later ones are armed when they lead
  }

  /** Settles a waiter: all its replies are in (`failure` undefined), or the connection failed first. */
  #settle(waiter: Waiter, failure: SMTPError | undefined): void {
    const { replies, stages } = waiter;
    if (waiter.reject !== undefined) {
      if (failure === undefined) waiter.resolve(replies[0]!);
      else waiter.reject(atStage(failure, stages[0]!));
      return;
    }
    waiter.resolve({
      replies,
      failure: failure === undefined ? undefined : atStage(failure, stages[replies.length] ?? stages[0]!),
    });
  }

  /**
   * One timer serves every waiter: it is armed for the oldest waiter's deadline and, when it fires, fails
   * the connection if that deadline has passed, else re-arms (setTimeout per pipelined command would
   * cost a timer per RCPT).
   */
  #armTimer(at: number): void {
    if (at >= this.#timerAt || this.#failure) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    // setTimeout takes at most 2^31-1 ms; a longer deadline is reached by re-arming when this one fires
    this.#timer = setTimeout(this.#onTimer, Math.min(MAX_TIMER, Math.max(0, at - now())));
    // The open socket keeps the process alive while a reply is awaited; an idle session must not be.
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    // Only the oldest waiter can be late: the replies behind it cannot start before it is answered, and
    // each one's deadline is moved to "now + its timeout" when it becomes the oldest.
    const head = this.#waiters[0];
    if (head === undefined) return;
    if (head.deadline <= now()) {
      const stage = head.stages[head.replies.length]!;
      this.fail(
        new SMTPError("ETIMEDOUT", `no complete ${stage} reply within ${head.timeoutMs} ms`, {
          stage,
          temporary: true,
        }),
      );
      return;
    }
    this.#armTimer(head.deadline);
  };

  /** Writes commands as one group (one write) and logs them. Throws the failure if the connection is gone. */
  writeCommands(commands: readonly Command[]): void {
    if (this.#failure) throw this.#failure;
    this.#socket.write(this.commandWire(commands));
  }

  /** Logs commands and returns their wire form, joined, for a caller that writes them with other bytes. */
  commandWire(commands: readonly Command[]): string {
    let wire = "";
    for (const command of commands) {
      this.log("C", command.log);
      wire += command.wire;
    }
    return wire;
  }

  /** Sends one command and waits for its reply within `timeoutMs`. */
  command(command: Command, stage: SMTPStage, timeoutMs: number | undefined): Promise<Reply> {
    const reply = this.expect(stage, timeoutMs);
    try {
      this.writeCommands([command]);
    } catch {
      // the failure also rejects `reply`
    }
    return reply;
  }

  /**
   * Writes message bytes. Returns undefined when the socket can take more at once, else a promise that
   * settles on 'drain' (or rejects when the connection fails): await it before the next write.
   */
  write(bytes: Uint8Array | string): Promise<void> | undefined {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#socket.write(bytes)) return undefined;
    const drained = new Promise<void>((resolve, reject) => {
      const settle = (error: SMTPError | undefined): void => {
        this.#drainWaiters.delete(settle);
        this.#socket.off("drain", onDrain);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => settle(undefined);
      this.#drainWaiters.add(settle);
      this.#socket.once("drain", onDrain);
    });
    drained.catch(noop); // a caller that stops writing early reports the failure another way
    return drained;
  }

  /**
   * Starts a deadline for a whole step (message data, a SASL exchange). On expiry the connection fails.
   * `since` (a performance.now() time) backdates it to when the step began.
   */
  deadline(timeoutMs: number, stage: SMTPStage, what: string, since?: number): Deadline {
    if (!Number.isFinite(timeoutMs)) return { clear: noop };
    const at = (since ?? now()) + timeoutMs;
    let timer: NodeJS.Timeout;
    const check = (): void => {
      const left = at - now();
      if (left > 0) {
        timer = setTimeout(check, Math.min(MAX_TIMER, left));
        return;
      }
      this.fail(
        new SMTPError("ETIMEDOUT", `${what} not done within ${timeoutMs} ms`, { stage, temporary: true }),
      );
    };
    timer = setTimeout(check, Math.min(MAX_TIMER, Math.max(0, at - now())));
    return { clear: () => clearTimeout(timer) };
  }

  /**
   * Upgrades to TLS over the same socket (STARTTLS, or implicit TLS before the greeting). Whatever the
   * server sent after the last reply was already discarded (the barrier); the parser starts empty.
   */
  async upgrade(options: tls.ConnectionOptions, timeoutMs: number, stage: SMTPStage): Promise<tls.TLSSocket> {
    if (this.#failure) throw this.#failure;
    const plain = this.#socket;
    this.#detach(plain);
    this.#parser.reset();
    // From now on errors surface through the handshake and then the TLS socket; the plain socket keeps a
    // listener for good, or an error it reports itself (a reset) would be an uncaught exception.
    plain.on("error", noop);
    if (options.rejectUnauthorized === false) {
      this.log("C", "(TLS certificate verification disabled by the caller: rejectUnauthorized false)");
    }
    let secure: tls.TLSSocket;
    try {
      secure = await handshake(plain, options, timeoutMs, stage);
    } catch (error) {
      // aborted or failed while the handshake ran: that is the cause, not the handshake's own complaint
      if (this.#failure) throw atStage(this.#failure, stage);
      this.fail(error as SMTPError);
      throw error;
    }
    if (this.#failure) {
      secure.destroy();
      throw this.#failure;
    }
    this.#socket = secure;
    this.#discarding = false;
    this.#attach(secure);
    this.log("C", `(TLS established: ${secure.getProtocol() ?? "?"} ${secure.getCipher()?.name ?? ""})`);
    return secure;
  }

  /** Ends the connection gracefully: half-close, wait up to `timeoutMs` for the server to close, destroy. */
  async end(timeoutMs: number): Promise<void> {
    if (!this.#failure) {
      this.#markClosed(new SMTPError("ECONNECTION", "the connection was closed", { temporary: false }));
    }
    const socket = this.#socket;
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
      }, timeoutMs);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  /**
   * A 421 reply means the server is closing the channel (RFC 5321 §3.8), whatever command it answers:
   * the session is over. Fails the connection and throws ECONNECTION with the reply; otherwise returns.
   */
  failIfClosing(reply: Reply, stage: SMTPStage): void {
    if (reply.code !== 421) return;
    const error = replyError("ECONNECTION", stage, "the server is closing the connection", reply);
    this.fail(error);
    throw error;
  }

  /** Fails the connection: rejects every waiter with `error` (tagged with its own stage), destroys the socket. */
  fail(error: SMTPError): void {
    if (this.#failure) return;
    this.#markClosed(error);
    this.#socket.destroy();
  }

  #markClosed(error: SMTPError): void {
    this.#failure = error;
    for (const listener of [...this.#failureListeners]) listener(error);
    this.#failureListeners.clear();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiters = this.#waiters.splice(0);
    for (const waiter of waiters) this.#settle(waiter, error);
    for (const settle of [...this.#drainWaiters]) settle(error);
  }

  #attach(socket: net.Socket): void {
    socket.on("data", this.#onData);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #detach(socket: net.Socket): void {
    socket.off("data", this.#onData);
    socket.off("error", this.#onError);
    socket.off("close", this.#onClose);
  }

  readonly #onAbort = (): void => {
    this.fail(abortError(this.#signal));
  };

  readonly #onError = (cause: Error): void => {
    this.fail(new SMTPError("ECONNECTION", `connection error: ${cause.message}`, { cause, temporary: true }));
  };

  readonly #onClose = (): void => {
    this.fail(new SMTPError("ECONNECTION", "the server closed the connection", { temporary: true }));
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#failure) return;
    if (this.#discarding) {
      this.log("S", `(${chunk.length} bytes received after STARTTLS's 220 discarded)`);
      return;
    }
    if (this.#waiters.length === 0) {
      if (!this.#closingWhileIdle(chunk)) this.#unsolicited(chunk.length);
      return;
    }
    try {
      const rest = this.#parser.each(chunk, this.#onReply);
      if (this.#unsolicitedReply) {
        this.#unsolicitedReply = false;
        this.#unsolicited(chunk.length);
        return;
      }
      if (this.#discarding) {
        this.#parser.reset();
        if (rest && rest.length > 0) {
          this.log("S", `(${rest.length} bytes received after STARTTLS's 220 discarded)`);
        }
        return;
      }
      if (this.#waiters.length === 0 && this.#parser.pendingOctets > 0) this.#unsolicited(chunk.length);
    } catch (error) {
      if (!(error instanceof ReplySyntaxError)) throw error;
      const head = this.#waiters[0];
      const stage = head?.stages[head.replies.length];
      this.fail(new SMTPError("EPROTOCOL", `malformed reply: ${error.message}`, { stage, cause: error }));
    }
  };

  /** Set by #onReply when a reply came with no waiter: the chunk is then judged unsolicited. */
  #unsolicitedReply = false;

  /** Each complete reply, in order: to the oldest waiter. True stops decoding (unsolicited, STARTTLS). */
  readonly #onReply = (received: Reply): boolean => {
    const waiter = this.#waiters[0];
    if (waiter === undefined) {
      this.#unsolicitedReply = true;
      return true;
    }
    const reply = this.#deliver(received);
    waiter.replies.push(reply);
    const complete = waiter.replies.length === waiter.stages.length;
    if (complete) this.#waiters.shift();
    // The next reply starts only now: its whole-reply deadline counts from here at the earliest, so a
    // long pipelined group is not failed for replies that were each quick.
    const head = this.#waiters[0];
    if (head?.timeoutMs !== undefined && Number.isFinite(head.timeoutMs)) {
      head.deadline = Math.max(head.deadline, now() + head.timeoutMs);
      this.#armTimer(head.deadline);
    }
    if (complete) this.#settle(waiter, undefined);
    // STARTTLS: after its 220 nothing more is read in clear. A refusal is an ordinary reply, and
    // anything after it is judged as usual (an extra reply is unsolicited).
    const barrier = waiter.barrier && reply.code === 220;
    if (barrier) this.#discarding = true;
    return barrier;
  };

  /** The reply as handed on (secrets redacted), logged and kept as lastReply. */
  #deliver(received: Reply): Reply {
    const reply =
      this.#secrets.length > 0 && received.code !== 334 ? redactReply(received, this.#secrets) : received;
    this.#lastReply = reply;
    if (this.#logger) for (const line of replyWireLines(reply)) this.log("S", redactServerLine(line));
    return reply;
  }

  /**
   * A 421 while nothing is pending is the server closing the channel (RFC 5321 §3.8: an idle timeout, a
   * shutdown), not a protocol violation: the connection fails with ECONNECTION, and the line is logged.
   * True when `chunk` is such a reply.
   */
  #closingWhileIdle(chunk: Buffer): boolean {
    let first: Reply | undefined;
    try {
      new ReplyParser().each(chunk, (reply) => {
        first = reply;
        return true;
      });
    } catch {
      return false;
    }
    if (first?.code !== 421) return false;
    const reply = first;
    if (this.#logger) for (const line of replyWireLines(reply)) this.log("S", line);
    this.fail(
      new SMTPError("ECONNECTION", `the server closed the idle connection: ${describeReply(reply)}`, {
        temporary: true,
      }),
    );
    return true;
  }

  #unsolicited(octets: number): void {
    this.fail(
      new SMTPError("EPROTOCOL", `the server sent ${octets} bytes when no reply was expected`, {
        temporary: false,
      }),
    );
  }
}

function noop(): void {}

/** A monotonic clock in ms: deadlines must not move when the wall clock is stepped (NTP, suspend). */
function now(): number {
  return performance.now();
}

/** The longest delay setTimeout accepts (2^31-1 ms); longer ones would fire after 1 ms. */
const MAX_TIMER = 2_147_483_647;

/** The reply with every secret in its text replaced by "<redacted>" (the same object when none occurs). */
function redactReply(reply: Reply, secrets: readonly string[]): Reply {
  if (!secrets.some((secret) => reply.text.includes(secret))) return reply;
  const scrub = (text: string): string =>
    secrets.reduce((out, secret) => out.replaceAll(secret, "<redacted>"), text);
  return { ...reply, lines: reply.lines.map(scrub), text: scrub(reply.text) };
}

/** SASL challenges (334) can help an offline password guess; the transcript shows only that one came. */
function redactServerLine(line: string): string {
  return line.startsWith("334") ? "334 <challenge redacted>" : line;
}

// createPool(): reused connections to one server, several messages in flight on each, a shared rate limit,
// AIMD back-off when the server throttles, and retries only where a duplicate is impossible (API.md §6).
import { performance } from "node:perf_hooks";
import { type ConnectOptions, connect } from "../api/connect.js";
import type { RawSendOptions } from "../client/send.js";
import type { SMTP } from "../client/smtp.js";
import { SMTPError } from "../errors.js";
import type { Content, Reply, SendResult } from "../types.js";
import { Backlog, type Waiting } from "./backlog.js";
import { poolSettings } from "./options.js";
import type { RateLimiter } from "./rate-limiter.js";
import { Reconnect } from "./reconnect.js";
import { checkMail, checkRaw, mailSender, type PoolMail, rawSender, type Sender } from "./send-mail-on.js";
import { Throttle } from "./throttle.js";
import type { Pool, PoolOptions, PoolStats } from "./types.js";
import { endsConnection, isThrottleReply, throttlesAfterData, type Verdict, verdictFor } from "./verdict.js";

/**
 * Messages handed to one connection at once: the one being sent and the next, whose envelope rides in
 * the same write as the previous end of data (RFC 2920 §3.1) — one round trip per message. More would
 * only hold messages on a connection that may die, away from the others.
 */
const DEPTH = 2;
/** The fewest messages a session must have carried before its closing at MAIL is read as a per-session limit. */
const SESSION_LIMIT_MIN = 10;

interface Job extends Sender, Waiting {
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: unknown) => void;
  /** The one retry is used. */
  retried: boolean;
}

/** One pooled connection. */
interface Slot {
  smtp: SMTP | undefined;
  readonly openedAt: number;
  inFlight: number;
  started: number;
  completed: number;
  /** Takes no new messages; QUIT once the last in flight ends. */
  retiring: boolean;
  /** How its first failure was judged: the messages behind it on the same connection follow it. */
  incident: Verdict | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

/** Creates a pool. Connections are opened when messages need them, with connect()'s security defaults. */
export function createPool(options: PoolOptions): Pool {
  return new SMTPPool(options);
}

class SMTPPool implements Pool {
  readonly #connectOptions: ConnectOptions;
  /** maxMessagesPerConnection, or less once a server showed a smaller per-session limit. */
  #perConnection: number;
  readonly #idleTimeout: number;
  readonly #maxQueued: number;
  readonly #limiter: RateLimiter | undefined;
  /**
   * Messages in flight per connection: DEPTH, or 1 under a rate limit — then a message's envelope is
   * written the moment it starts (never held behind another message's data), so the server counts the
   * starts the limiter counted.
   */
  readonly #depth: number;
  readonly #throttle: Throttle;
  readonly #abort = new AbortController();
  readonly #queue: Backlog<Job>;
  readonly #slots = new Set<Slot>();
  readonly #closing = new Set<Promise<void>>();
  readonly #counts = { sent: 0, failed: 0, throttled: 0 };
  #seq = 0;
  #wake: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  readonly #reconnect: Reconnect;
  #state: "open" | "closing" | "destroyed" = "open";
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.destroy();
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  constructor(options: PoolOptions) {
    const settings = poolSettings(options, performance.now());
    this.#perConnection = settings.maxMessagesPerConnection;
    this.#idleTimeout = settings.idleTimeout;
    this.#queue = new Backlog<Job>(settings.throttleTimeout);
    this.#maxQueued = settings.maxQueued;
    this.#limiter = settings.limiter;
    this.#reconnect = new Reconnect(settings.connectTimeout);
    this.#throttle = new Throttle(settings.maxConnections);
    this.#depth = this.#limiter === undefined ? DEPTH : 1;
    const signal = options.signal;
    if (signal?.aborted) this.#abort.abort(signal.reason);
    // the caller's signal destroys the pool; the listener goes when the pool is done
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#signal = signal;
    this.#connectOptions = {
      ...settings.connectOptions,
      signal: signal ? AbortSignal.any([signal, this.#abort.signal]) : this.#abort.signal,
    };
  }

  get stats(): PoolStats {
    let busy = 0;
    for (const slot of this.#slots) if (slot.inFlight > 0) busy++;
    return { open: this.#slots.size, busy, queued: this.#queue.length, ...this.#counts };
  }

  sendMail(mail: PoolMail): Promise<SendResult> {
    return this.#submit(
      () => checkMail(mail),
      () => mailSender(mail),
    );
  }

  sendRaw(
    fromAddr: string,
    recipients: string[],
    message: Content,
    options?: RawSendOptions,
  ): Promise<SendResult> {
    return this.#submit(
      () => checkRaw(fromAddr, recipients, message),
      () => rawSender(fromAddr, recipients, message, options),
    );
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    if (this.#state === "open") this.#state = "closing";
    this.#schedule();
    return this.#closed;
  }

  destroy(): void {
    if (this.#state === "destroyed") return;
    this.#state = "destroyed";
    this.#clearWake();
    const error = new SMTPError("EABORT", "the pool was destroyed before this message was sent", {
      temporary: false,
    });
    for (const job of this.#queue.drain()) this.#fail(job, error);
    for (const slot of this.#slots) clearTimeout(slot.idleTimer);
    this.#slots.clear();
    // every socket goes; messages in flight reject with their own outcome (EABORT at their stage)
    this.#abort.abort(error);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#resolveClosed?.();
  }

  // ---- submission ----

  #submit(check: () => void, prepare: () => Sender): Promise<SendResult> {
    if (this.#state !== "open") {
      return Promise.reject(
        new SMTPError("EABORT", `the pool is ${this.#state === "closing" ? "closing" : "destroyed"}`, {
          temporary: false,
        }),
      );
    }
    try {
      check();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(
        new SMTPError(
          "EQUEUEFULL",
          `${this.#queue.length} messages are already waiting (maxQueued): try again later`,
          {
            temporary: true,
          },
        ),
      );
    }
    return new Promise<SendResult>((resolve, reject) => {
      this.#queue.push({ seq: this.#seq++, ...prepare(), resolve, reject, retried: false });
      this.#schedule();
    });
  }

  // ---- scheduling ----

  /** Starts what may start now, opens connections that are needed, and sets the timer for the rest. */
  #schedule(): void {
    if (this.#state === "destroyed") return;
    const now = performance.now();
    // throttled messages still unsent after throttleTimeout fail with the reply that throttled them
    for (const job of this.#queue.removeTimedOut(now)) this.#fail(job, job.throttleError);
    this.#fitToCap();
    let wakeIn = Number.POSITIVE_INFINITY;
    while (this.#queue.length > 0) {
      const paused = this.#throttle.pausedFor(now);
      if (paused > 0) {
        wakeIn = paused;
        break;
      }
      const slot = this.#pickSlot();
      if (slot === undefined) break;
      if (this.#limiter && !this.#limiter.take(now)) {
        wakeIn = Math.max(1, this.#limiter.wait(now));
        break;
      }
      this.#start(this.#queue.shift()!, slot);
    }
    if (this.#throttle.pausedFor(now) === 0) wakeIn = Math.min(wakeIn, this.#openAsNeeded(now));
    wakeIn = Math.min(wakeIn, this.#queue.nextTimeout(now));
    this.#setWake(wakeIn);
    if (this.#state === "closing") this.#finishClosing();
  }

  /** The usable connection with the fewest messages in flight (the oldest among equals). */
  #pickSlot(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.smtp === undefined || slot.retiring || slot.inFlight >= this.#depth) continue;
      if (best === undefined || slot.inFlight < best.inFlight) best = slot;
    }
    return best;
  }

  /** Opens connections while the queue needs more room than the open ones have. Returns ms until a retry may open one. */
  #openAsNeeded(now: number): number {
    let room = 0;
    for (const slot of this.#slots) if (!slot.retiring) room += this.#depth - slot.inFlight;
    let missing = this.#queue.length - room;
    while (missing > 0 && this.#slots.size < this.#throttle.cap) {
      if (this.#reconnect.failing) {
        // the server did not answer last time: one attempt at a time, spaced
        for (const slot of this.#slots) if (slot.smtp === undefined) return Number.POSITIVE_INFINITY;
        const wait = this.#reconnect.wait(now);
        if (wait > 0) return wait;
        this.#open(now);
        return Number.POSITIVE_INFINITY;
      }
      this.#open(now);
      missing -= this.#depth;
    }
    return Number.POSITIVE_INFINITY;
  }

  #open(now: number): void {
    const slot: Slot = {
      smtp: undefined,
      openedAt: now,
      inFlight: 0,
      started: 0,
      completed: 0,
      retiring: false,
      incident: undefined,
      idleTimer: undefined,
    };
    this.#slots.add(slot);
    connect(this.#connectOptions).then(
      (smtp) => {
        if (this.#state === "destroyed" || !this.#slots.has(slot)) {
          this.#quit(smtp);
          return;
        }
        slot.smtp = smtp;
        this.#reconnect.succeeded();
        this.#schedule();
        if (slot.inFlight === 0) this.#afterMessage(slot);
      },
      (error: unknown) => {
        this.#slots.delete(slot);
        if (this.#state !== "destroyed") this.#connectFailed(slot, error);
        this.#schedule();
      },
    );
  }

  /**
   * A connection attempt failed. A throttling reply (421 "too many connections") pauses like any throttle.
   * Otherwise the queue waits for the next (spaced) attempt; once the server has been unreachable for
   * connectTimeout, or the failure is one that retrying cannot fix (credentials, TLS), every queued message
   * rejects with this error — unless another connection is still open or opening.
   */
  #connectFailed(slot: Slot, error: unknown): void {
    const now = performance.now();
    if (error instanceof SMTPError && isThrottleReply(error.reply)) {
      this.#counts.throttled++;
      this.#throttle.throttled(now);
      // the waiting messages now wait for the server: they fail after throttleTimeout like throttled ones
      this.#queue.throttleAll(now, error);
      return;
    }
    this.#reconnect.failed(slot.openedAt, now);
    if (this.#slots.size > 0) return;
    const permanent = !(error instanceof SMTPError) || !error.temporary;
    if (permanent || this.#reconnect.expired(now)) {
      for (const job of this.#queue.drain()) this.#fail(job, error);
    }
  }

  #start(job: Job, slot: Slot): void {
    const idleBefore = slot.inFlight === 0 && slot.completed > 0;
    slot.inFlight++;
    slot.started++;
    if (slot.started >= this.#perConnection) slot.retiring = true;
    clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    let sending: Promise<SendResult>;
    try {
      sending = job.send(slot.smtp!);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending.then(
      (result) => {
        slot.inFlight--;
        slot.completed++;
        this.#counts.sent++;
        this.#throttle.succeeded();
        job.resolve(result);
        this.#afterMessage(slot);
        this.#schedule();
      },
      (error: unknown) => {
        slot.inFlight--;
        this.#failed(job, slot, error, idleBefore);
        this.#afterMessage(slot);
        this.#schedule();
      },
    );
  }

  #failed(job: Job, slot: Slot, error: unknown, idleBefore: boolean): void {
    if (this.#state === "destroyed") {
      this.#fail(job, error);
      return;
    }
    const lastReply = slot.smtp?.lastReply;
    let verdict = verdictFor(error, idleBefore, lastReply);
    if (endsConnection(error)) {
      if (slot.incident === undefined) {
        slot.incident = verdict;
        this.#retire(slot);
        if (verdict === "throttled") this.#learnSessionLimit(slot, error, lastReply);
      } else if (verdict !== "report" && !(error instanceof SMTPError && error.reply)) {
        // lost with the connection an earlier message already reported on: that event is the cause
        verdict = slot.incident === "throttled" || slot.incident === "requeue" ? "requeue" : "retry";
      }
    }
    const now = performance.now();
    if (verdict === "throttled" || throttlesAfterData(error)) {
      this.#counts.throttled++;
      this.#throttle.throttled(now);
    }
    // a stream already read cannot be sent again whole: its failure is reported
    if (verdict !== "report" && !job.replayable()) verdict = "report";
    switch (verdict) {
      case "throttled":
        job.throttledAt ??= now;
        job.throttleError = error;
        if (this.#queue.timedOut(job, now)) break;
        this.#queue.putBack(job);
        return;
      case "requeue":
        this.#queue.putBack(job);
        return;
      case "retry":
        if (job.retried) break;
        job.retried = true;
        this.#queue.putBack(job);
        return;
      case "report":
        break;
    }
    this.#fail(job, error);
  }

  /**
   * A server that closes a session at MAIL after a number of messages (421 "too many messages in this
   * session") does it again on every connection: after SESSION_LIMIT_MIN or more, the pool takes that as
   * the session's limit and QUITs its connections before it, instead of meeting the 421 each time.
   */
  #learnSessionLimit(slot: Slot, error: unknown, lastReply: Reply | undefined): void {
    if (!(error instanceof SMTPError) || error.stage === "DATA") return;
    const closing = (error.reply ?? (lastReply?.code === 421 ? lastReply : undefined))?.code ?? 421;
    if (closing === 421 && slot.completed >= SESSION_LIMIT_MIN && slot.completed < this.#perConnection) {
      this.#perConnection = slot.completed;
    }
  }

  #fail(job: Job, error: unknown): void {
    this.#counts.failed++;
    job.reject(error);
  }

  // ---- connection lifetime ----

  /** After the cap was lowered: idle connections beyond it QUIT, busy ones take no new messages. */
  #fitToCap(): void {
    let usable = 0;
    for (const slot of this.#slots) if (!slot.retiring) usable++;
    if (usable <= this.#throttle.cap) return;
    for (const slot of [...this.#slots].reverse()) {
      if (usable <= this.#throttle.cap) break;
      if (slot.retiring || slot.smtp === undefined) continue;
      slot.retiring = true;
      usable--;
      if (slot.inFlight === 0) this.#retire(slot);
    }
  }

  #afterMessage(slot: Slot): void {
    if (!this.#slots.has(slot) || slot.inFlight > 0) return;
    if (slot.retiring || (this.#state === "closing" && this.#queue.length === 0)) {
      this.#retire(slot);
      return;
    }
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      if (slot.inFlight > 0) return;
      this.#retire(slot);
      this.#schedule();
    }, this.#idleTimeout);
    slot.idleTimer.unref();
  }

  /**
   * Takes a connection out of the pool and closes it: QUIT when it is healthy; a failed one's socket is
   * already closed or closing, and close() only waits for that.
   */
  #retire(slot: Slot): void {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.idleTimer);
    if (slot.smtp) this.#quit(slot.smtp);
  }

  #quit(smtp: SMTP): void {
    const closing = smtp.close().catch(() => undefined);
    this.#closing.add(closing);
    void closing.then(() => this.#closing.delete(closing));
  }

  #finishClosing(): void {
    if (this.#queue.length > 0) return;
    for (const slot of this.#slots) {
      // still sending, or still opening (then it retires itself when it is ready)
      if (slot.inFlight > 0 || slot.smtp === undefined) return;
    }
    for (const slot of [...this.#slots]) this.#retire(slot);
    this.#clearWake();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const resolve = this.#resolveClosed;
    this.#resolveClosed = undefined;
    if (resolve) void Promise.all([...this.#closing]).then(() => resolve());
  }

  // ---- the timer ----

  #setWake(inMs: number): void {
    if (!Number.isFinite(inMs)) return;
    const at = performance.now() + inMs;
    if (this.#wake !== undefined && this.#wakeAt <= at) return;
    this.#clearWake();
    this.#wakeAt = at;
    this.#wake = setTimeout(() => {
      this.#wake = undefined;
      this.#wakeAt = Number.POSITIVE_INFINITY;
      this.#schedule();
    }, Math.ceil(inMs));
  }

  #clearWake(): void {
    if (this.#wake !== undefined) clearTimeout(this.#wake);
    this.#wake = undefined;
    this.#wakeAt = Number.POSITIVE_INFINITY;
  }
}

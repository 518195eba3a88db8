// createOutbox(): producers enqueue into a BullMQ queue on Redis; work() runs a worker in this process.
import { EventEmitter } from "node:events";
import type { Job, Queue } from "bullmq";
import type { Redis as RedisClient } from "ioredis";
import { inputError, type RecipientRefusal, SMTPError } from "../errors.js";
import { JOB_NAME, type JobData, type JobProgress, type JobResult, jobOptions, progressOf } from "./jobs.js";
import { bullmq } from "./load-bullmq.js";
import { producerConnection, type RedisTarget, whenReady, workerConnection } from "./redis.js";
import { createRelaySender, type RelayOptions } from "./sender.js";
import { type OutboxMail, storeMail } from "./stored-mail.js";
import { type OutboxEvent, type OutboxEventName, startWorker } from "./worker.js";

export interface OutboxOptions {
  /** A redis:// (or rediss://) URL, or host and port. */
  redis: RedisTarget;
  /** The queue's name; one queue per relay. Default "smtpkit". */
  queue?: string;
  /** The relay workers send through; needed by workers only. */
  relay?: RelayOptions;
  /** ms between attempts on temporary failures (jittered ±20 %); attempts = delays.length + 1. */
  retry?: { delays?: number[] };
  /** After a connection lost after the end of data: "retry" (default; same Message-ID) or "fail". */
  onDeliveryUnknown?: "retry" | "fail";
  /** Queue-wide pause after a throttling reply: minDelay doubling to maxDelay (default 1 s to 60 s). */
  throttle?: { minDelay?: number; maxDelay?: number };
  /**
   * Crash recovery: a worker's job lock lasts lockDuration ms (renewed while it works); a job whose lock
   * lapsed (its worker died) is found within stalledInterval ms and made available again, at most
   * maxStalledCount times (then it fails). Defaults 30 000, 15 000, 10.
   */
  stalled?: { lockDuration?: number; stalledInterval?: number; maxStalledCount?: number };
  /** ms enqueue() waits for Redis (connection and reply) before it rejects. Default 5 000. */
  enqueueTimeout?: number;
}

export interface OutboxStatus {
  state: "queued" | "sending" | "sent" | "retrying" | "failed";
  attempts: number;
  accepted: string[];
  rejected: RecipientRefusal[];
  lastError?: string;
}

export interface OutboxWorker {
  /** Graceful: takes no new message, finishes those in flight, closes the relay connections. */
  close(): Promise<void>;
}

export interface EnqueueOptions {
  /** Idempotency key and job id: a second enqueue with the same id (for 24 h after the message ends) adds nothing. */
  id?: string;
  /** ms before the message may be sent. */
  delay?: number;
}

export interface Enqueued {
  id: string;
  messageId: string;
}

export interface Outbox {
  enqueue(mail: OutboxMail, opts?: EnqueueOptions): Promise<Enqueued>;
  /** Several messages, added in batches (one Redis round trip per batch). */
  enqueueMany(items: { mail: OutboxMail; opts?: EnqueueOptions }[]): Promise<Enqueued[]>;
  work(opts?: { concurrency?: number }): OutboxWorker;
  status(id: string): Promise<OutboxStatus | undefined>;
  close(): Promise<void>;
  /** Events from workers started by this outbox (this process). */
  on(event: OutboxEventName, listener: (event: OutboxEvent) => void): this;
  off(event: OutboxEventName, listener: (event: OutboxEvent) => void): this;
}

/** Retry schedule of API.md §7: 1 min, 5 min, 15 min, 1 h, 4 h, 24 h. */
export const DEFAULT_RETRY_DELAYS = [60e3, 5 * 60e3, 15 * 60e3, 3600e3, 4 * 3600e3, 24 * 3600e3];
const DEFAULT_QUEUE = "smtpkit";
const DEFAULT_ENQUEUE_TIMEOUT = 5_000;
/** Jobs per addBulk call: one round trip each, small enough not to block Redis for long. */
const BATCH = 500;

class OutboxImpl extends EventEmitter implements Outbox {
  readonly #options: OutboxOptions;
  readonly #name: string;
  readonly #delays: number[];
  readonly #timeout: number;
  readonly #connection: RedisClient;
  readonly #queue: Queue<JobData, JobResult>;
  readonly #workers = new Set<OutboxWorker>();
  #closed = false;
  /** One wait for the producer connection, shared by every call made while it is not ready. */
  #readyWait: Promise<void> | undefined;

  constructor(options: OutboxOptions) {
    super();
    this.#options = options;
    this.#name = options.queue ?? DEFAULT_QUEUE;
    this.#delays = options.retry?.delays ?? DEFAULT_RETRY_DELAYS;
    if (!this.#delays.every((d) => Number.isFinite(d) && d >= 0)) {
      throw inputError("retry.delays must be non-negative numbers of milliseconds");
    }
    this.#timeout = options.enqueueTimeout ?? DEFAULT_ENQUEUE_TIMEOUT;
    this.#connection = producerConnection(options.redis, this.#timeout);
    this.#queue = new bullmq.Queue<JobData, JobResult>(this.#name, { connection: this.#connection });
    this.#queue.on("error", () => undefined);
  }

  async enqueue(mail: OutboxMail, opts: EnqueueOptions = {}): Promise<Enqueued> {
    const [result] = await this.enqueueMany([{ mail, opts }]);
    return result!;
  }

  async enqueueMany(items: { mail: OutboxMail; opts?: EnqueueOptions }[]): Promise<Enqueued[]> {
    this.#checkOpen();
    const now = new Date();
    const jobs = items.map(({ mail, opts = {} }) => {
      if (opts.delay !== undefined && !(Number.isFinite(opts.delay) && opts.delay >= 0)) {
        throw inputError("delay must be a non-negative number of milliseconds");
      }
      if (opts.id !== undefined && (typeof opts.id !== "string" || opts.id === "" || /^\d+$/.test(opts.id))) {
        // BullMQ keeps integer ids for its own counter
        throw inputError("id must be a non-empty string that is not only digits");
      }
      return {
        name: JOB_NAME,
        data: { mail: storeMail(mail, now) },
        opts: jobOptions(this.#delays.length + 1, opts.id, opts.delay),
      };
    });
    const out: Enqueued[] = [];
    for (let i = 0; i < jobs.length; i += BATCH) {
      const batch = jobs.slice(i, i + BATCH);
      const added = await this.#redis("enqueue", () => this.#queue.addBulk(batch));
      out.push(...(await this.#firstResults(batch, added)));
    }
    return out;
  }

  /** For ids given by the caller, the stored message's Message-ID: a repeated enqueue returns the first. */
  async #firstResults(
    batch: { opts: { jobId?: string } }[],
    added: Job<JobData, JobResult>[],
  ): Promise<Enqueued[]> {
    return Promise.all(
      added.map(async (job, k) => {
        const id = job.id ?? "";
        if (batch[k]!.opts.jobId === undefined) return { id, messageId: job.data.mail.messageId };
        const stored = await this.#redis("enqueue", () => this.#queue.getJob(id));
        return { id, messageId: (stored ?? job).data.mail.messageId };
      }),
    );
  }

  work(opts: { concurrency?: number } = {}): OutboxWorker {
    this.#checkOpen();
    const relay = this.#options.relay;
    if (relay === undefined) throw inputError("work() needs the relay option: where to send");
    const concurrency = opts.concurrency ?? 10;
    if (!(Number.isInteger(concurrency) && concurrency > 0))
      throw inputError("concurrency must be a positive integer");
    const minDelay = this.#options.throttle?.minDelay ?? 1_000;
    const sender = createRelaySender(relay, minDelay);
    const connection = workerConnection(this.#options.redis);
    const stalled = this.#options.stalled ?? {};
    const lockDuration = stalled.lockDuration ?? 30_000;
    const worker = startWorker({
      queue: this.#queue,
      queueName: this.#name,
      connection,
      sender,
      concurrency,
      delays: this.#delays,
      onDeliveryUnknown: this.#options.onDeliveryUnknown ?? "retry",
      throttle: {
        minDelay,
        maxDelay: this.#options.throttle?.maxDelay ?? 60_000,
      },
      lockDuration,
      stalledInterval: stalled.stalledInterval ?? lockDuration / 2,
      maxStalledCount: stalled.maxStalledCount ?? 10,
      emit: (name, event) => {
        this.emit(name, event);
      },
    });
    let closing: Promise<void> | undefined;
    const handle: OutboxWorker = {
      close: () => {
        closing ??= (async () => {
          try {
            await worker.close();
          } finally {
            this.#workers.delete(handle);
            await sender.close();
            connection.disconnect();
          }
        })();
        return closing;
      },
    };
    this.#workers.add(handle);
    return handle;
  }

  async status(id: string): Promise<OutboxStatus | undefined> {
    const job = await this.#redis("status", () => this.#queue.getJob(id));
    if (job === undefined || job === null) return undefined;
    const state = await this.#redis("status", () => job.getState());
    const attempts = job.attemptsMade;
    const known: JobProgress | undefined =
      state === "completed" && job.returnvalue ? job.returnvalue : progressOf(job.progress);
    const status: OutboxStatus = {
      state: outboxState(state, attempts),
      attempts,
      accepted: known?.accepted ?? [],
      rejected: known?.rejected ?? [],
    };
    if (job.failedReason) status.lastError = job.failedReason;
    return status;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#workers].map((w) => w.close()));
    await this.#queue.close().catch(() => undefined);
    this.#connection.disconnect();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SMTPError("EABORT", "the outbox is closed", { temporary: false });
  }

  /** A Redis call with a deadline; Redis unreachable is ECONNECTION (temporary), never a buffered command. */
  async #redis<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.#connection.status !== "ready") {
      this.#readyWait ??= whenReady(this.#connection, this.#timeout).finally(() => {
        this.#readyWait = undefined;
      });
      await this.#readyWait;
    }
    try {
      return await call();
    } catch (error) {
      throw new SMTPError("ECONNECTION", `${what}: Redis failed: ${(error as Error).message}`, {
        temporary: true,
        cause: error,
      });
    }
  }
}

/** A BullMQ job state in the outbox's words; a waiting or delayed job that was tried before is retrying. */
function outboxState(state: string, attempts: number): OutboxStatus["state"] {
  switch (state) {
    case "completed":
      return "sent";
    case "failed":
      return "failed";
    case "active":
      return "sending";
    default:
      return attempts > 0 ? "retrying" : "queued";
  }
}

/** An outbox on Redis (API.md §7). Producers need only `redis`; workers also `relay`. */
export function createOutbox(options: OutboxOptions): Outbox {
  return new OutboxImpl(options);
}

// The worker: takes messages from the queue and sends them through a RelaySender, turning each outcome into
// BullMQ's terms (API.md §7): 5xx -> UnrecoverableError (failed, no retry loop); 4xx or a connection lost
// before the end of data -> an error BullMQ retries on our schedule; a throttling reply -> the whole queue is
// rate-limited and the job goes back to wait without being charged an attempt; delivery unknown -> per
// onDeliveryUnknown. Partial acceptance is a success; recipients refused with 4xx get a follow-up job.
import type { Job, Queue, Worker } from "bullmq";
import type { Redis as RedisClient } from "ioredis";
import { describeReply } from "../errors.js";
import type { SendResult } from "../types.js";
import {
  BACKOFF_TYPE,
  JOB_NAME,
  type JobData,
  type JobProgress,
  type JobResult,
  jobOptions,
  progressOf,
} from "./jobs.js";
import { bullmq } from "./load-bullmq.js";
import { classify, isTemporaryReply } from "./outcome.js";
import type { RelaySender } from "./sender.js";
import { forRecipients, readMail } from "./stored-mail.js";

/** What a worker reports; `attempts` counts attempts charged (throttling is not charged). */
export interface OutboxEvent {
  id: string;
  messageId: string;
  attempts: number;
  accepted: string[];
  rejected: JobProgress["rejected"];
  error?: string;
}

export type OutboxEventName = "sent" | "retrying" | "failed" | "deliveryUnknown";

export interface WorkerSettings {
  queue: Queue<JobData, JobResult>;
  queueName: string;
  connection: RedisClient;
  sender: RelaySender;
  concurrency: number;
  delays: readonly number[];
  onDeliveryUnknown: "retry" | "fail";
  throttle: { minDelay: number; maxDelay: number };
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
  emit(name: OutboxEventName, event: OutboxEvent): void;
}

/** How many times one message may be sent back by throttling before it fails. */
const MAX_THROTTLED_STARTS = 200;

/** A delay with ±20 % jitter, so retries from many workers do not arrive together. */
export function jittered(ms: number): number {
  return Math.round(ms * (0.8 + 0.4 * Math.random()));
}

/** The schedule's delay before attempt `attemptsMade + 1` (the last delay repeats). */
export function retryDelay(delays: readonly number[], attemptsMade: number): number {
  if (delays.length === 0) return 0;
  return jittered(delays[Math.min(Math.max(attemptsMade - 1, 0), delays.length - 1)]!);
}

function eventOf(
  job: Job<JobData, JobResult>,
  progress: JobProgress | undefined,
  error?: string,
): OutboxEvent {
  const event: OutboxEvent = {
    id: job.id ?? "",
    messageId: job.data.mail.messageId,
    attempts: job.attemptsMade,
    accepted: progress?.accepted ?? [],
    rejected: progress?.rejected ?? [],
  };
  if (error !== undefined) event.error = error;
  return event;
}

export function startWorker(settings: WorkerSettings): Worker<JobData, JobResult> {
  const { sender, queue, delays, throttle } = settings;
  let throttleDelay = throttle.minDelay;

  const followUp = async (job: Job<JobData, JobResult>, result: SendResult): Promise<void> => {
    const later = result.rejected.filter((r) => isTemporaryReply(r.reply)).map((r) => r.recipient);
    if (later.length === 0) return;
    const n = (job.data.followUp ?? 0) + 1;
    // a deterministic id: the follow-up is added once even if this job runs again after a crash
    await queue.add(
      JOB_NAME,
      { mail: forRecipients(job.data.mail, later), followUp: n },
      jobOptions(delays.length + 1, `${job.id}.followup-${n}`, retryDelay(delays, 1)),
    );
  };

  const sendJob = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    let result: SendResult;
    try {
      result = await sender.sendMail(readMail(job.data.mail));
    } catch (error) {
      const verdict = classify(error);
      const rejected = (error as { rejected?: JobProgress["rejected"] }).rejected;
      if (rejected !== undefined && verdict.kind !== "throttle") {
        await job.updateProgress({ accepted: [], rejected } satisfies JobProgress);
      }
      switch (verdict.kind) {
        case "throttle": {
          // every worker on every machine pauses; this message goes back to the front, not charged
          const pause = jittered(throttleDelay);
          throttleDelay = Math.min(throttleDelay * 2, throttle.maxDelay);
          await queue.rateLimit(pause);
          throw bullmq.Worker.RateLimitError();
        }
        case "permanent":
          throw new bullmq.UnrecoverableError(verdict.reason);
        case "unknown":
          settings.emit("deliveryUnknown", eventOf(job, progressOf(job.progress), verdict.reason));
          if (settings.onDeliveryUnknown === "fail") throw new bullmq.UnrecoverableError(verdict.reason);
          throw new Error(verdict.reason);
        case "temporary":
          if (verdict.recipients !== undefined) {
            await job.updateData({ ...job.data, mail: forRecipients(job.data.mail, verdict.recipients) });
          }
          throw new Error(verdict.reason);
      }
    }
    throttleDelay = throttle.minDelay;
    await followUp(job, result);
    return {
      accepted: result.accepted,
      rejected: result.rejected,
      messageId: job.data.mail.messageId,
      response: describeReply(result.reply),
    };
  };

  const worker = new bullmq.Worker<JobData, JobResult>(settings.queueName, sendJob, {
    connection: settings.connection,
    concurrency: settings.concurrency,
    lockDuration: settings.lockDuration,
    stalledInterval: settings.stalledInterval,
    maxStalledCount: settings.maxStalledCount,
    // throttling does not charge attempts; this bounds a message a server keeps throttling forever
    maxStartedAttempts: delays.length + 1 + settings.maxStalledCount + MAX_THROTTLED_STARTS,
    // manual rate limiting (queue.rateLimit) only pauses workers that have a limiter; this one never binds
    limiter: { max: 2 ** 31, duration: 1000 },
    maximumRateLimitDelay: throttle.maxDelay,
    settings: {
      backoffStrategy: (attemptsMade, type) => (type === BACKOFF_TYPE ? retryDelay(delays, attemptsMade) : 0),
    },
  });
  worker.on("error", () => undefined); // Redis connection errors: BullMQ reconnects and carries on
  worker.on("completed", (job, result) => {
    settings.emit("sent", eventOf(job, result));
  });
  worker.on("failed", (job, error) => {
    if (job === undefined) return;
    const final = error.name === "UnrecoverableError" || job.attemptsMade >= (job.opts.attempts ?? 1);
    settings.emit(final ? "failed" : "retrying", eventOf(job, progressOf(job.progress), error.message));
  });
  return worker;
}

// The shape of an outbox job in BullMQ, and the job options every enqueue uses.
import type { JobsOptions } from "bullmq";
import type { RecipientRefusal } from "../errors.js";
import type { StoredMail } from "./stored-mail.js";

/** The job name; one queue per relay. */
export const JOB_NAME = "mail";

/** How long a finished message (sent or failed) stays, and so how long enqueue is idempotent on its id. */
export const KEEP_FINISHED_SECONDS = 24 * 3600;

/** The backoff type our workers compute (BullMQ calls the worker's backoffStrategy with it). */
export const BACKOFF_TYPE = "smtpkit-outbox";

export interface JobData {
  mail: StoredMail;
  /** How many follow-up transactions came before this job (0 for the message itself). */
  followUp?: number;
}

/** What a sent job keeps as its return value. */
export interface JobResult {
  accepted: string[];
  rejected: RecipientRefusal[];
  messageId: string;
  /** The reply to the end of data: "250 2.0.0 Ok: queued as ...". */
  response: string;
}

/** Progress a failing job records, for status(). */
export interface JobProgress {
  accepted: string[];
  rejected: RecipientRefusal[];
}

/** A job's progress as we record it, or undefined (BullMQ's default progress is a number). */
export function progressOf(value: unknown): JobProgress | undefined {
  return value !== null && typeof value === "object" && "accepted" in value
    ? (value as JobProgress)
    : undefined;
}

export function jobOptions(attempts: number, id: string | undefined, delay: number | undefined): JobsOptions {
  const options: JobsOptions = {
    attempts,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { age: KEEP_FINISHED_SECONDS },
    removeOnFail: { age: KEEP_FINISHED_SECONDS },
  };
  if (id !== undefined) options.jobId = id;
  if (delay !== undefined && delay > 0) options.delay = delay;
  return options;
}

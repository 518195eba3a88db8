// smtpkit/outbox: a durable outbox on Redis with BullMQ (API.md §7). Loading this module loads bullmq and
// ioredis (optional peer dependencies); `import "smtpkit"` never does.
export type {
  Enqueued,
  EnqueueOptions,
  Outbox,
  OutboxOptions,
  OutboxStatus,
  OutboxWorker,
} from "./outbox.js";
export { createOutbox, DEFAULT_RETRY_DELAYS } from "./outbox.js";
export type { RedisTarget } from "./redis.js";
export type { RelayOptions } from "./sender.js";
export type { OutboxAttachment, OutboxMail } from "./stored-mail.js";
export type { OutboxEvent, OutboxEventName } from "./worker.js";

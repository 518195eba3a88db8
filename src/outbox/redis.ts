// Redis connections for producers and workers. Producers never buffer: ioredis's offline queue is off and
// every command has a deadline, so enqueue() rejects while Redis is unreachable. Workers keep the offline
// queue (BullMQ's blocking reads need it) and reconnect by themselves.
import type { Redis as RedisClient, RedisOptions } from "ioredis";
import { SMTPError } from "../errors.js";
import { Redis } from "./load-bullmq.js";

/** Where Redis is: a redis:// or rediss:// URL, or host/port options. */
export type RedisTarget = string | { host: string; port: number; password?: string; tls?: object };

/** Reconnect back-off: 100 ms doubling to 5 s, forever (a worker waits for Redis to come back). */
function reconnectDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 6), 5_000);
}

function baseOptions(target: RedisTarget): { url?: string; options: RedisOptions } {
  const options: RedisOptions = { retryStrategy: reconnectDelay, connectTimeout: 5_000 };
  if (typeof target === "string") return { url: target, options };
  return {
    options: {
      ...options,
      host: target.host,
      port: target.port,
      password: target.password,
      tls: target.tls as RedisOptions["tls"],
    },
  };
}

function create(target: RedisTarget, extra: RedisOptions): RedisClient {
  const { url, options } = baseOptions(target);
  const client =
    url === undefined ? new Redis({ ...options, ...extra }) : new Redis(url, { ...options, ...extra });
  // errors are reported through the calls that fail; an 'error' event without a listener would crash
  client.on("error", () => undefined);
  return client;
}

/**
 * A producer connection: no offline queue (a command while disconnected fails at once), one retry per
 * command, and a per-command deadline.
 */
export function producerConnection(target: RedisTarget, commandTimeout: number): RedisClient {
  return create(target, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout });
}

/** A worker connection: BullMQ needs maxRetriesPerRequest null for its blocking reads. */
export function workerConnection(target: RedisTarget): RedisClient {
  return create(target, { maxRetriesPerRequest: null });
}

/** Resolves when the client is ready; rejects with ECONNECTION after `timeoutMs`. */
export async function whenReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(
        new SMTPError(
          "ECONNECTION",
          `Redis is unreachable (no connection within ${timeoutMs} ms); nothing was enqueued`,
          {
            temporary: true,
          },
        ),
      );
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}

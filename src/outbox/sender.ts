// How a worker sends: through a pool (API.md §6), behind the narrow interface the worker needs. A stored
// mail, read back, is a MailOptions: the pool composes it (API.md §5) on the session it gets.
import { createPool } from "../pool/pool.js";
import type { PoolOptions } from "../pool/types.js";
import type { SendResult } from "../types.js";
import type { ReadyMail } from "./stored-mail.js";

export interface RelaySender {
  sendMail(mail: ReadyMail): Promise<SendResult>;
  close(): Promise<void>;
}

/** The relay a worker sends through: the pool's options (API.md §6). */
export type RelayOptions = PoolOptions;

/**
 * The pool rides out a short throttling burst itself; a message still throttled after `throttleTimeout`
 * comes back to the outbox, which pauses the whole queue (every worker, every machine). Default here: the
 * outbox's first pause, so that a throttling server is soon seen by every worker.
 */
export function createRelaySender(options: RelayOptions, throttleTimeout: number): RelaySender {
  const pool = createPool({ throttleTimeout, ...options });
  return {
    sendMail: (mail) => pool.sendMail(mail),
    close: () => pool.close(),
  };
}

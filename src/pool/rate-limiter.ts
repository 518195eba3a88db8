// The pool's rate limit: one bucket shared by every connection, consulted before a message starts.
import { inputError } from "../errors.js";
import type { RateLimit } from "./types.js";

/**
 * Slack: a start is not the moment the server sees the message — a busy machine (a GC pause, the process
 * not scheduled) delays some envelopes by tens of ms more than others — so both rules below count windows
 * 10% longer (at most 100 ms longer) than perMs. Measured here on a shared 2-CPU machine (load average
 * 17): start-to-server delays of up to 56 ms.
 */
const SLACK_FRACTION = 0.1;
const SLACK_MAX_MS = 100;
/** How far the schedule may fall behind real time and be caught up (a late timer loses no starts). */
const CATCH_UP_FRACTION = 0.1;
const CATCH_UP_MAX_MS = 100;

/**
 * Two rules, both checked before a message starts:
 * - the schedule (a token bucket in its GCRA form): one start per interval, interval = (perMs + slack) /
 *   messages, `burst` starts allowed ahead of it, and a schedule that fell behind (a late timer, a busy
 *   event loop) caught up by at most 10% of the window;
 * - the hard limit: at most `messages + burst` starts in any window of perMs + slack (the times of the
 *   last messages + burst starts are kept), so never more than that in any window of `perMs`.
 * The first 1 + burst messages start at once; after that they are spaced one interval apart.
 */
export class RateLimiter {
  readonly #interval: number;
  /** How far ahead of the schedule a start may be: burst intervals. */
  readonly #ahead: number;
  /** How far behind real time the schedule may lag. */
  readonly #lag: number;
  /** The hard window, and the last `messages + burst` start times (a ring). */
  readonly #window: number;
  readonly #recent: Float64Array;
  #oldest = 0;
  /** When the next start is due on the schedule. */
  #due: number;

  constructor(limit: RateLimit, now: number) {
    const { messages, perMs, burst = 0 } = limit;
    if (!(Number.isInteger(messages) && messages > 0))
      throw inputError("rateLimit.messages must be a positive integer");
    if (!(Number.isFinite(perMs) && perMs > 0))
      throw inputError("rateLimit.perMs must be a positive number of ms");
    if (!(Number.isInteger(burst) && burst >= 0))
      throw inputError("rateLimit.burst must be a whole number ≥ 0");
    const slack = Math.min(perMs * SLACK_FRACTION, SLACK_MAX_MS);
    this.#interval = (perMs + slack) / messages;
    this.#ahead = burst * this.#interval;
    this.#lag = Math.min(perMs * CATCH_UP_FRACTION, CATCH_UP_MAX_MS);
    this.#window = perMs + slack;
    this.#recent = new Float64Array(messages + burst).fill(Number.NEGATIVE_INFINITY);
    this.#due = now;
  }

  /** True (and the start is counted) when a message may start now. */
  take(now: number): boolean {
    if (this.wait(now) > 0) return false;
    this.#due = Math.max(this.#due, now - this.#lag) + this.#interval;
    this.#recent[this.#oldest] = now;
    this.#oldest = (this.#oldest + 1) % this.#recent.length;
    return true;
  }

  /** ms until a message may start (0: now). */
  wait(now: number): number {
    const scheduled = this.#due - this.#ahead - now;
    const windowed = this.#recent[this.#oldest]! + this.#window - now;
    return Math.max(0, scheduled, windowed);
  }
}

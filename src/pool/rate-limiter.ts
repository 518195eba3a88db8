// The pool's rate limit: one bucket shared by every connection, consulted before a message starts.
import { inputError } from "../errors.js";
import type { RateLimit } from "./types.js";

/**
 * Slack in the window: a start is not the moment the server sees the message (the envelope may wait for
 * the previous message's end of data on that connection, and delays vary), so starts are spaced as if the
 * window were 2% longer (at most 50 ms). Half of it absorbs a late timer (a start due at t that happens at
 * t + δ does not push every later start back by δ); the other half is left for the server's view.
 */
const SLACK_FRACTION = 0.02;
const SLACK_MAX_MS = 50;

/**
 * A token bucket in its GCRA form (the ATM cell-rate algorithm): starts are spaced one interval apart,
 * interval = (perMs + slack) / messages, with `burst` extra starts allowed ahead of that schedule. The first
 * 1 + burst messages may start at once, then one per interval. In any window of `perMs` at most
 * `messages + burst` start: m starts in a window need (m - 1 - burst) intervals minus the late-timer
 * allowance, which is less than the slack.
 */
export class RateLimiter {
  readonly #interval: number;
  /** How far ahead of the schedule a start may be: burst intervals. */
  readonly #ahead: number;
  /** How far behind real time the schedule may lag (a late timer's start is not lost). */
  readonly #lag: number;
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
    this.#lag = slack / 2;
    this.#due = now;
  }

  /** True (and the start is counted) when a message may start now. */
  take(now: number): boolean {
    if (now < this.#due - this.#ahead) return false;
    this.#due = Math.max(this.#due, now - this.#lag) + this.#interval;
    return true;
  }

  /** ms until a message may start (0: now). */
  wait(now: number): number {
    return Math.max(0, this.#due - this.#ahead - now);
  }
}

// The pool's rate limit: a token bucket shared by every connection, consulted before a message starts.
import { inputError } from "../errors.js";
import type { RateLimit } from "./types.js";

/**
 * Slack in the window: a start is not the moment the server sees the message (the envelope may wait for
 * the previous message's end of data on that connection, and the network's delay varies), so starts are
 * spaced as if the window were 2% longer (at most 50 ms longer). A server counting in its own windows then
 * still sees at most `messages + burst`.
 */
const SLACK_FRACTION = 0.02;
const SLACK_MAX_MS = 50;

/**
 * A token bucket holding at most 1 + `burst` tokens, refilled one token per interval, where the interval
 * is (perMs + slack) / messages. Starting a message takes a token. Hence in any window of `perMs` at most
 * `messages + burst` messages start: the tokens held at its beginning (≤ 1 + burst) plus fewer than
 * `messages` refilled within it. The first 1 + burst messages start at once; after that they are evenly
 * spaced (burst 0: never two at the same moment).
 */
export class RateLimiter {
  readonly #capacity: number;
  readonly #interval: number;
  #tokens: number;
  #at: number;

  constructor(limit: RateLimit, now: number) {
    const { messages, perMs, burst = 0 } = limit;
    if (!(Number.isInteger(messages) && messages > 0))
      throw inputError("rateLimit.messages must be a positive integer");
    if (!(Number.isFinite(perMs) && perMs > 0))
      throw inputError("rateLimit.perMs must be a positive number of ms");
    if (!(Number.isInteger(burst) && burst >= 0))
      throw inputError("rateLimit.burst must be a whole number ≥ 0");
    this.#capacity = 1 + burst;
    this.#interval = (perMs + Math.min(perMs * SLACK_FRACTION, SLACK_MAX_MS)) / messages;
    this.#tokens = this.#capacity;
    this.#at = now;
  }

  /** Takes a token if one is there; true when the message may start now. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** ms until the next token (0 when one is there). */
  wait(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * this.#interval);
  }

  #refill(now: number): void {
    if (now <= this.#at) return;
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) / this.#interval);
    this.#at = now;
  }
}

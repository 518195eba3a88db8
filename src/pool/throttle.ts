// AIMD for a server that pushes back: a throttling event halves the connection cap (not below 1) and
// pauses new messages (1 s, doubling to 60 s); each run of successes raises the cap by one again.

const FIRST_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 60_000;
/** Successes in a row (since the last change of the cap) that raise the cap by one. */
export const SUCCESS_RUN = 10;

export class Throttle {
  readonly #max: number;
  #cap: number;
  #pauseMs = FIRST_PAUSE_MS;
  #pausedUntil = 0;
  #successes = 0;

  constructor(maxConnections: number) {
    this.#max = maxConnections;
    this.#cap = maxConnections;
  }

  /** Connections the pool may use now. */
  get cap(): number {
    return this.#cap;
  }

  /** ms from `now` until new messages may start again (0: not paused). */
  pausedFor(now: number): number {
    return Math.max(0, this.#pausedUntil - now);
  }

  /**
   * A throttling event. Events while a pause is running belong to the same push-back (every connection
   * meets it at once): they do not halve again.
   */
  throttled(now: number): void {
    this.#successes = 0;
    if (now < this.#pausedUntil) return;
    this.#cap = Math.max(1, Math.floor(this.#cap / 2));
    this.#pausedUntil = now + this.#pauseMs;
    this.#pauseMs = Math.min(MAX_PAUSE_MS, this.#pauseMs * 2);
  }

  /** A message accepted. A run of them raises the cap; back at the maximum, the next pause is short again. */
  succeeded(): void {
    if (this.#cap >= this.#max) {
      this.#pauseMs = FIRST_PAUSE_MS;
      return;
    }
    if (++this.#successes < SUCCESS_RUN) return;
    this.#successes = 0;
    this.#cap += 1;
  }
}

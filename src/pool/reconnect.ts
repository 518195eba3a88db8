// When a server does not answer: connection attempts spaced (250 ms, doubling, at most 5 s and never past
// the deadline), and the deadline (connectTimeout after the first failed attempt) after which the queue
// is told.

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;

export class Reconnect {
  readonly #timeout: number;
  /** When the first attempt of the current run of failures started (undefined: the server answers). */
  #since: number | undefined;
  #at = 0;
  #delay = FIRST_DELAY_MS;

  constructor(connectTimeout: number) {
    this.#timeout = connectTimeout;
  }

  /** True while attempts are failing: then one attempt at a time, spaced. */
  get failing(): boolean {
    return this.#since !== undefined;
  }

  /** An attempt started at `startedAt` failed at `now`. */
  failed(startedAt: number, now: number): void {
    this.#since ??= startedAt;
    // the last attempt before the deadline is at the deadline, so the queue learns in time
    const deadline = this.#since + this.#timeout;
    this.#at = deadline > now ? Math.min(now + this.#delay, deadline) : now + this.#delay;
    this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS, this.#timeout);
  }

  /** A connection was made: the next failure starts a new run. */
  succeeded(): void {
    this.#since = undefined;
    this.#delay = FIRST_DELAY_MS;
  }

  /** ms until the next attempt may start. */
  wait(now: number): number {
    return Math.max(0, this.#at - now);
  }

  /** The server has failed for connectTimeout: waiting messages should be told. */
  expired(now: number): boolean {
    return this.#since !== undefined && now - this.#since >= this.#timeout;
  }
}

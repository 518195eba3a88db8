// The pool's waiting messages: a JobQueue (submission order) that also keeps count of the throttled ones
// among them, which fail after throttleTimeout from the first throttling reply that refused them (API.md §6).
import { JobQueue, type Queued } from "./job-queue.js";

export interface Waiting extends Queued {
  /** When a throttling reply (or a refused connection) first held it back; unset: never throttled. */
  throttledAt?: number;
  /** What it fails with once throttleTimeout has passed. */
  throttleError?: unknown;
}

export class Backlog<T extends Waiting> {
  readonly #queue = new JobQueue<T>();
  readonly #throttleTimeout: number;
  /** Waiting jobs with throttledAt: the queue is scanned for expiry only while there are some. */
  #throttled = 0;

  constructor(throttleTimeout: number) {
    this.#throttleTimeout = throttleTimeout;
  }

  get length(): number {
    return this.#queue.length;
  }

  push(job: T): void {
    this.#queue.push(job);
  }

  shift(): T | undefined {
    const job = this.#queue.shift();
    if (job?.throttledAt !== undefined) this.#throttled--;
    return job;
  }

  /** Back to its place by submission number (a retry, a throttled or requeued message). */
  putBack(job: T): void {
    if (job.throttledAt !== undefined) this.#throttled++;
    this.#queue.putBack(job);
  }

  /** Removes and returns every waiting job. */
  drain(): T[] {
    this.#throttled = 0;
    return this.#queue.drain();
  }

  /** Every waiting job not throttled yet now waits for the server: it fails after throttleTimeout from `now`. */
  throttleAll(now: number, error: unknown): void {
    this.#queue.forEach((job) => {
      if (job.throttledAt !== undefined) return;
      job.throttledAt = now;
      job.throttleError = error;
      this.#throttled++;
    });
  }

  /** The job was first throttled throttleTimeout or more before `now`. */
  timedOut(job: T, now: number): boolean {
    return job.throttledAt !== undefined && now - job.throttledAt >= this.#throttleTimeout;
  }

  /** Removes and returns the throttled jobs that timed out. */
  removeTimedOut(now: number): T[] {
    if (this.#throttled === 0 || this.nextTimeout(now) > 0) return [];
    const expired = this.#queue.removeWhere((job) => this.timedOut(job, now));
    this.#throttled -= expired.length;
    return expired;
  }

  /** ms from `now` until the next throttled job times out (0: one has; infinite: none is throttled). */
  nextTimeout(now: number): number {
    if (this.#throttled === 0) return Number.POSITIVE_INFINITY;
    let first = Number.POSITIVE_INFINITY;
    this.#queue.forEach((job) => {
      if (job.throttledAt !== undefined) first = Math.min(first, job.throttledAt + this.#throttleTimeout);
    });
    return Math.max(0, first - now);
  }
}

// Messages waiting to start, in submission order. A message put back (retry, throttle) goes back to its
// place by submission number, which is at or near the front.

export interface Queued {
  /** Submission number: the order messages start in. */
  readonly seq: number;
}

/** A FIFO with O(1) push and shift (no Array.shift on a long queue) and an ordered put-back. */
export class JobQueue<T extends Queued> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Puts an item back where its submission number belongs. */
  putBack(item: T): void {
    const first = this.#items[this.#head];
    if (first === undefined || item.seq < first.seq) {
      if (this.#head > 0) this.#items[--this.#head] = item;
      else this.#items.unshift(item);
      return;
    }
    let i = this.#head;
    while (i < this.#items.length && this.#items[i]!.seq < item.seq) i++;
    this.#items.splice(i, 0, item);
  }

  forEach(visit: (item: T) => void): void {
    for (let i = this.#head; i < this.#items.length; i++) visit(this.#items[i]!);
  }

  /** Removes and returns every item. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }

  /** Removes the items `remove` says yes to, keeping the order of the rest. */
  removeWhere(remove: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this.drain()) (remove(item) ? removed : kept).push(item);
    this.#items = kept;
    return removed;
  }
}

// A TCP relay on 127.0.0.1 between a client and a server that
//  - counts round trips as the client sees them: one each time the client sends bytes after bytes from the
//    server reached it (a write that follows a wait for a reply), per connection; and
//  - optionally holds every chunk `delayMs` in each direction (a user-space delay link: 10 ms each way makes a
//    20 ms round trip). Chunks leave in the order they arrived: one FIFO per direction, each entry stamped with
//    the time it may leave, drained by one timer — never a timer per chunk.
import { createServer, connect as netConnect } from "node:net";
import { performance } from "node:perf_hooks";

const HIGH_WATER = 4 * 1024 * 1024;

/** One direction of one connection: a FIFO of chunks, each released at its due time. */
class DelayedPipe {
  #queue = [];
  #head = 0;
  #timer;
  #queued = 0;
  #ended = false;

  /** @param {import("node:net").Socket} from @param {import("node:net").Socket} to */
  constructor(from, to, delayMs, onDeliver) {
    this.from = from;
    this.to = to;
    this.delayMs = delayMs;
    this.onDeliver = onDeliver;
    to.on("drain", () => this.#maybeResume());
  }

  push(chunk) {
    if (this.delayMs <= 0) {
      this.onDeliver();
      if (!this.to.write(chunk)) this.from.pause();
      return;
    }
    this.#queue.push({ due: performance.now() + this.delayMs, chunk });
    this.#queued += chunk.length;
    if (this.#queued > HIGH_WATER) this.from.pause();
    this.#schedule();
  }

  end() {
    this.#ended = true;
    if (this.#head >= this.#queue.length) this.to.end();
  }

  #schedule() {
    if (this.#timer !== undefined || this.#head >= this.#queue.length) return;
    const wait = Math.max(0, this.#queue[this.#head].due - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush() {
    const now = performance.now();
    let delivered = false;
    this.to.cork();
    while (this.#head < this.#queue.length && this.#queue[this.#head].due <= now + 0.5) {
      const { chunk } = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      this.#queued -= chunk.length;
      this.to.write(chunk);
      delivered = true;
    }
    this.to.uncork();
    if (delivered) this.onDeliver();
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head >= this.#queue.length && this.#ended) this.to.end();
    this.#maybeResume();
    this.#schedule();
  }

  #maybeResume() {
    if (this.from.isPaused() && this.#queued <= HIGH_WATER && this.to.writableLength < HIGH_WATER) {
      this.from.resume();
    }
  }
}

export class Relay {
  /** Round trips counted over every connection so far. */
  roundTrips = 0;
  /** Connections accepted so far. */
  connections = 0;
  #server;
  #sockets = new Set();

  constructor(target, delayMs = 0) {
    this.target = target;
    this.delayMs = delayMs;
  }

  /** Listens on 127.0.0.1, port chosen by the system; resolves with the port. */
  listen() {
    this.#server = createServer({ noDelay: true }, (client) => this.#accept(client));
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ port: 0, host: "127.0.0.1" }, () => resolve(this.#server.address().port));
    });
  }

  #accept(client) {
    this.connections++;
    const server = netConnect({ host: this.target.host, port: this.target.port, noDelay: true });
    client.setNoDelay(true);
    this.#sockets.add(client);
    this.#sockets.add(server);
    // what the client saw last: "s" once server bytes were delivered to it, "c" once it sent bytes
    let last = "c";
    const up = new DelayedPipe(client, server, this.delayMs, () => {});
    const down = new DelayedPipe(server, client, this.delayMs, () => {
      last = "s";
    });
    client.on("data", (chunk) => {
      if (last === "s") this.roundTrips++;
      last = "c";
      up.push(chunk);
    });
    server.on("data", (chunk) => down.push(chunk));
    client.on("end", () => up.end());
    server.on("end", () => down.end());
    const kill = () => {
      client.destroy();
      server.destroy();
    };
    client.on("error", kill);
    server.on("error", kill);
    client.on("close", () => {
      this.#sockets.delete(client);
      if (!server.destroyed && server.writableFinished) server.destroy();
    });
    server.on("close", () => {
      this.#sockets.delete(server);
      if (!client.destroyed && client.writableFinished) client.destroy();
    });
  }

  close() {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

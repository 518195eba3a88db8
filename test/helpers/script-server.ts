// A scripted SMTP server on loopback (port 0): it plays server lines, checks the client's exact bytes,
// and records everything the client sent. Optional STARTTLS / implicit TLS with the fixture certificates.
import { readFileSync } from "node:fs";
import net from "node:net";
import { after, afterEach } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import tls from "node:tls";

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
export const CA = fixture("ca.pem");
export const CERTS = {
  localhost: { key: fixture("localhost.key"), cert: fixture("localhost.pem") },
  "other.example": { key: fixture("other.example.key"), cert: fixture("other.example.pem") },
} as const;

export type Step =
  /** Send raw bytes (write the CRLFs yourself). */
  | { send: string | Uint8Array }
  /** Read one client line (without CRLF) and compare it; then send `reply` if given. */
  | { expect: string | RegExp; reply?: string }
  /** Read one client line and answer with whatever `respond` computes from it (e.g. a SASL server). */
  | { respond: (line: string) => string }
  /** Read a DATA section up to and including CRLF.CRLF; record it; then send `reply`. */
  | { data: true; reply?: string }
  /** Read "BDAT n [LAST]" and n octets; record the chunk; then send `reply`. */
  | { bdat: true; reply?: string }
  /** Send `text` one byte every `intervalMs`. */
  | { trickle: string; intervalMs: number }
  /**
   * Server side of a TLS handshake on this connection (after a 220 to STARTTLS, or first for implicit TLS).
   * With `clientRefuses`, the client must abandon the handshake (e.g. it does not trust the certificate).
   */
  | { tls: keyof typeof CERTS; clientRefuses?: true }
  /** Wait (for timing tests only: to order events, use `hold`). */
  | { wait: number }
  /** Stop here until the test calls `server.release(name)`; `server.reached(name)` resolves on arrival. */
  | { hold: string }
  /** Wait until the client has sent something (e.g. its TLS ClientHello), and discard what it sent. */
  | { awaitBytes: true }
  /** Stop reading from the client (its writes back up until its send buffer is full). */
  | { stopReading: true }
  /** Wait until the client closes the connection (EOF). */
  | { expectClose: true }
  /** Close the connection now (FIN) / destroy it (RST). */
  | { close: true }
  | { destroy: true };

export interface ScriptServer {
  port: number;
  /** Everything the client sent, decrypted, in order. */
  received(): string;
  /** DATA sections and BDAT chunks the client sent, as raw strings. */
  readonly messages: string[];
  /** Resolves when the script ran to its end; rejects on the first mismatch (with what was expected). */
  done: Promise<void>;
  /** Resolves when the script arrives at `{ hold: name }`. */
  reached(name: string): Promise<void>;
  /** Lets the script go on past `{ hold: name }` (before or after it arrives there). */
  release(name: string): void;
  close(): Promise<void>;
}

/** One scripted server's run, as the per-test check sees it. */
interface ScriptRun {
  port: number;
  /** The first mismatch, once there is one (a script ended by close() is no mismatch). */
  failure: Error | undefined;
  /** Settles when the script ended, either way. */
  settled: Promise<unknown>;
  /** True once the client closed its side: the script is about to settle. */
  peerClosed: boolean;
}

/**
 * Servers started since the last per-test check. A mismatch (the client sent other bytes than the script
 * expects, or closed before the script's end) fails the test that started the server, whether or not it
 * awaits `server.done`: `scriptedServers()` and `testServers()` check after each test, and once more
 * after the file for servers started outside a test.
 */
const started: ScriptRun[] = [];
const running: ScriptRun[] = [];

/** How long a check waits for a script whose client has closed to notice it. */
const SETTLE_GRACE_MS = 500;

/** Throws the first mismatch of the servers started since the last check. */
export async function checkScripts(): Promise<void> {
  const runs = started.splice(0);
  // a client that just closed: let its FIN or RST reach the server's side first
  await delay(10);
  const closing = runs.filter((r) => r.peerClosed);
  if (closing.length > 0) {
    const grace = new AbortController();
    const timeout = delay(SETTLE_GRACE_MS, undefined, { signal: grace.signal }).catch(() => undefined);
    await Promise.race([Promise.all(closing.map((r) => r.settled)), timeout]);
    grace.abort();
  }
  const failures = runs.filter((r) => r.failure !== undefined);
  if (failures.length > 0) {
    const what = failures.map((r) => `port ${r.port}: ${r.failure?.message}`).join("; ");
    throw new Error(`scripted server: the script did not run as written (${what})`);
  }
}

/** After the file: a mismatch any server saw that no per-test check reported. */
async function checkAllScripts(): Promise<void> {
  started.splice(0);
  const late = running.filter((r) => r.failure !== undefined && !reported.has(r));
  if (late.length > 0) {
    const what = late.map((r) => `port ${r.port}: ${r.failure?.message}`).join("; ");
    throw new Error(`scripted server: a script did not run as written (${what})`);
  }
}
const reported = new WeakSet<ScriptRun>();

/** Registers the per-test check of scripted servers (once per file). */
let checking = false;
export function checkScriptsAfterEachTest(): void {
  if (checking) return;
  checking = true;
  afterEach(async () => {
    const runs = [...started];
    try {
      await checkScripts();
    } finally {
      for (const r of runs) if (r.failure) reported.add(r);
    }
  });
  after(checkAllScripts);
}

/** Starts a server that serves one connection with `script`. */
export async function startScriptServer(script: Step[]): Promise<ScriptServer> {
  const chunks: Buffer[] = [];
  const messages: string[] = [];
  let resolveDone!: () => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);
  const sockets = new Set<net.Socket>();
  const stopped = new AbortController();
  const holds = new Holds();
  const state: ScriptRun = {
    port: 0,
    failure: undefined,
    settled: done.catch(() => undefined),
    peerClosed: false,
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("end", () => {
      state.peerClosed = true;
    });
    socket.once("close", () => {
      state.peerClosed = true;
    });
    run(socket, script, { record: chunks, messages, holds, signal: stopped.signal }).then(
      resolveDone,
      (error: Error) => {
        // closing the server ends the script where it is: that is no mismatch
        if (!stopped.signal.aborted) state.failure = error;
        rejectDone(error);
        socket.destroy();
      },
    );
  });
  server.maxConnections = 1;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  state.port = port;
  started.push(state);
  running.push(state);
  return {
    port,
    received: () => Buffer.concat(chunks).toString("utf8"),
    messages,
    done,
    reached: (name) => holds.get(name).reached.promise,
    release: (name) => holds.get(name).released.resolve(),
    close: async () => {
      stopped.abort();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class Reader {
  #buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  #ended = false;
  readonly #onData = (chunk: Buffer): void => {
    this.record.push(chunk);
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#waiter?.();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#waiter?.();
  };
  constructor(
    readonly socket: net.Socket,
    readonly record: Buffer[],
  ) {
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
  }
  get buffered(): number {
    return this.#buffer.length;
  }
  detach(): void {
    this.socket.off("data", this.#onData);
    this.socket.off("end", this.#onEnd);
    this.socket.off("close", this.#onEnd);
  }
  async #more(): Promise<void> {
    if (this.#ended) throw new Error("client closed the connection");
    await new Promise<void>((resolve) => {
      this.#waiter = resolve;
    });
    this.#waiter = undefined;
  }
  async until(marker: string): Promise<string> {
    for (;;) {
      const at = this.#buffer.indexOf(marker);
      if (at !== -1) {
        const out = this.#buffer.subarray(0, at + marker.length).toString("utf8");
        this.#buffer = this.#buffer.subarray(at + marker.length);
        return out;
      }
      await this.#more();
    }
  }
  async some(): Promise<void> {
    while (this.#buffer.length === 0) await this.#more();
    this.#buffer = Buffer.alloc(0);
  }
  async bytes(n: number): Promise<string> {
    while (this.#buffer.length < n) await this.#more();
    const out = this.#buffer.subarray(0, n).toString("utf8");
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }
  async eof(): Promise<void> {
    while (!this.#ended) {
      if (this.#buffer.length > 0)
        throw new Error(`expected close, got ${JSON.stringify(this.#buffer.toString())}`);
      await this.#more();
    }
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The `hold` points of one script: reached by the server, released by the test. */
class Holds {
  readonly #byName = new Map<string, { reached: Deferred; released: Deferred }>();
  get(name: string): { reached: Deferred; released: Deferred } {
    let hold = this.#byName.get(name);
    if (hold === undefined) {
      hold = { reached: deferred(), released: deferred() };
      this.#byName.set(name, hold);
    }
    return hold;
  }
}

interface RunContext {
  record: Buffer[];
  messages: string[];
  holds: Holds;
  /** Aborted when the server is closed: waits end at once. */
  signal: AbortSignal;
}

async function run(socket: net.Socket, script: Step[], context: RunContext): Promise<void> {
  const { record, messages, holds, signal } = context;
  const sleep = (ms: number): Promise<void> => delay(ms, undefined, { signal });
  let reader = new Reader(socket, record);
  let current: net.Socket = socket;
  for (const step of script) {
    if ("send" in step) {
      current.write(step.send);
    } else if ("expect" in step) {
      const line = (await reader.until("\r\n")).slice(0, -2);
      const ok = typeof step.expect === "string" ? line === step.expect : step.expect.test(line);
      if (!ok) throw new Error(`expected ${String(step.expect)}, got ${JSON.stringify(line)}`);
      if (step.reply !== undefined) current.write(step.reply);
    } else if ("respond" in step) {
      const line = (await reader.until("\r\n")).slice(0, -2);
      current.write(step.respond(line));
    } else if ("data" in step) {
      messages.push(await reader.until("\r\n.\r\n"));
      if (step.reply !== undefined) current.write(step.reply);
    } else if ("bdat" in step) {
      const line = (await reader.until("\r\n")).slice(0, -2);
      const match = /^BDAT (\d+)( LAST)?$/.exec(line);
      if (!match) throw new Error(`expected BDAT, got ${JSON.stringify(line)}`);
      messages.push(await reader.bytes(Number(match[1])));
      if (step.reply !== undefined) current.write(step.reply);
    } else if ("trickle" in step) {
      for (const ch of step.trickle) {
        if (current.destroyed) return;
        current.write(ch);
        await sleep(step.intervalMs);
      }
    } else if ("tls" in step) {
      if (reader.buffered > 0) throw new Error("client sent bytes before the TLS handshake");
      reader.detach();
      const secure = new tls.TLSSocket(current, { isServer: true, ...CERTS[step.tls] });
      secure.on("error", () => undefined);
      const handshake = new Promise<void>((resolve, reject) => {
        secure.once("secure", resolve);
        secure.once("error", reject);
        secure.once("close", () => reject(new Error("closed during handshake")));
      });
      if (step.clientRefuses) {
        const completed = await handshake.then(
          () => true,
          () => false,
        );
        if (completed) throw new Error("the client completed a TLS handshake it should have refused");
        return;
      }
      await handshake;
      current = secure;
      reader = new Reader(secure, record);
    } else if ("awaitBytes" in step) {
      await reader.some();
    } else if ("stopReading" in step) {
      current.pause();
    } else if ("wait" in step) {
      await sleep(step.wait);
    } else if ("hold" in step) {
      const hold = holds.get(step.hold);
      hold.reached.resolve();
      const limit = new AbortController();
      try {
        const timeout = delay(HOLD_LIMIT_MS, undefined, { signal: AbortSignal.any([signal, limit.signal]) });
        await Promise.race([hold.released.promise, timeout]);
      } finally {
        limit.abort();
      }
    } else if ("expectClose" in step) {
      await reader.eof();
    } else if ("close" in step) {
      current.end();
    } else if ("destroy" in step) {
      current.destroy();
    }
  }
}

/** A hold never released ends after this long (the test has failed or forgot to release it). */
const HOLD_LIMIT_MS = 30_000;

/** Connects a plain socket to the server, as a caller of SMTP.connect() would. */
export function connectTo(port: number, host = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host }, () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** The usual greeting + EHLO exchange, for scripts that test something later. */
export function greetAndEhlo(
  extensions: string[] = ["PIPELINING", "8BITMIME"],
  name = "[127.0.0.1]",
): Step[] {
  const lines = ["250-test.example greets you", ...extensions.map((e) => `250-${e}`)];
  lines[lines.length - 1] = lines[lines.length - 1]!.replace(/^250-/, "250 ");
  return [
    { send: "220 test.example ESMTP ready\r\n" },
    { expect: `EHLO ${name}`, reply: `${lines.join("\r\n")}\r\n` },
  ];
}

/** For one test file: a `start(script)` whose servers are all closed when the file's tests are done. */
export function scriptedServers(): (script: Step[]) => Promise<ScriptServer> {
  const servers: ScriptServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });
  checkScriptsAfterEachTest(); // its after-the-file check runs once the servers are closed
  return async (script) => {
    const server = await startScriptServer(script);
    servers.push(server);
    return server;
  };
}

// A scripted SMTP server on loopback (port 0): it plays server lines, checks the client's exact bytes,
// and records everything the client sent. Optional STARTTLS / implicit TLS with the fixture certificates.
import { readFileSync } from "node:fs";
import net from "node:net";
import { after } from "node:test";
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
  /** Server side of a TLS handshake on this connection (after a 220 to STARTTLS, or first for implicit TLS). */
  | { tls: keyof typeof CERTS }
  /** Wait. */
  | { wait: number }
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
  close(): Promise<void>;
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
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    run(socket, script, chunks, messages).then(resolveDone, (error: Error) => {
      rejectDone(error);
      socket.destroy();
    });
  });
  server.maxConnections = 1;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received: () => Buffer.concat(chunks).toString("utf8"),
    messages,
    done,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class Reader {
  #buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  #ended = false;
  constructor(
    readonly socket: net.Socket,
    readonly record: Buffer[],
  ) {
    socket.on("data", (chunk: Buffer) => {
      record.push(chunk);
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiter?.();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#waiter?.();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#waiter?.();
    });
  }
  get buffered(): number {
    return this.#buffer.length;
  }
  detach(): void {
    this.socket.removeAllListeners("data");
    this.socket.removeAllListeners("end");
    this.socket.removeAllListeners("close");
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

async function run(socket: net.Socket, script: Step[], record: Buffer[], messages: string[]): Promise<void> {
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
      await new Promise<void>((resolve, reject) => {
        secure.once("secure", resolve);
        secure.once("error", reject);
        secure.once("close", () => reject(new Error("closed during handshake")));
      });
      current = secure;
      reader = new Reader(secure, record);
    } else if ("stopReading" in step) {
      current.pause();
    } else if ("wait" in step) {
      await sleep(step.wait);
    } else if ("expectClose" in step) {
      await reader.eof();
    } else if ("close" in step) {
      current.end();
    } else if ("destroy" in step) {
      current.destroy();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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
  return async (script) => {
    const server = await startScriptServer(script);
    servers.push(server);
    return server;
  };
}

// A small SMTP front whose AUTH is done by GNU SASL's server (`gsasl --server`, Debian `gsasl`): the one
// real server-side SCRAM-SHA-256-PLUS / SCRAM-SHA-1-PLUS we can run. This file only frames the SMTP
// dialogue (greeting, EHLO, STARTTLS, AUTH's 334 loop, and a minimal MAIL/RCPT/DATA that accepts
// everything); every SASL computation and verification is gsasl's (libgsasl 2.2).
//
// gsasl's SCRAM server supports the channel-binding types "tls-unique" and "tls-exporter" (RFC 9266), not
// "tls-server-end-point". It asks the application for the binding data; this front answers with the data of
// its own side of the TLS connection: exportKeyingMaterial(32, "EXPORTER-Channel-Binding") for tls-exporter,
// the first Finished message for tls-unique (TLS 1.2 only).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { certPaths, fixtureCa, killQuietly, LOOPBACK, onExitCleanup, type TlsCertChoice } from "./common.js";

const GSASL = "/usr/bin/gsasl";

export const GSASL_MECHANISMS = [
  "SCRAM-SHA-256-PLUS",
  "SCRAM-SHA-256",
  "SCRAM-SHA-1-PLUS",
  "SCRAM-SHA-1",
  "CRAM-MD5",
  "PLAIN",
  "LOGIN",
] as const;
export type GsaslMechanism = (typeof GSASL_MECHANISMS)[number];

/** How many client messages each mechanism takes before gsasl's server step returns OK. */
const CLIENT_MESSAGES: Record<GsaslMechanism, number> = {
  "SCRAM-SHA-256-PLUS": 2,
  "SCRAM-SHA-256": 2,
  "SCRAM-SHA-1-PLUS": 2,
  "SCRAM-SHA-1": 2,
  "CRAM-MD5": 1,
  PLAIN: 1,
  LOGIN: 2,
};

export interface GsaslServerOptions {
  /** user name -> password. */
  users: Record<string, string>;
  /** Mechanisms advertised, in this order (default: all of GSASL_MECHANISMS). */
  mechanisms?: GsaslMechanism[];
  /** TLS from the first byte; otherwise STARTTLS is offered. */
  implicitTls?: boolean;
  /** Offer AUTH before TLS (default false). */
  allowInsecureAuth?: boolean;
  tlsCert?: TlsCertChoice;
  /** Highest TLS version ("TLSv1.2" makes tls-unique the binding gsasl can check). */
  tlsMaxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Give gsasl wrong channel-binding data (a correct client must then fail to authenticate). */
  corruptChannelBinding?: boolean;
}

export interface GsaslAttempt {
  mechanism: string;
  /** The user name the client sent (parsed from its first message), or null. */
  user: string | null;
  success: boolean;
  /** The channel-binding type gsasl asked for (from the client's gs2 header), or null. */
  channelBinding: "tls-exporter" | "tls-unique" | null;
  /** TLS version of the connection, or null in clear. */
  tlsVersion: string | null;
  /** gsasl's own output (prompts, warnings, errors), for diagnostics. Contains no passwords. */
  transcript: string;
}

export interface GsaslServer {
  host: typeof LOOPBACK;
  port: number;
  secure: boolean;
  ca: Buffer;
  mechanisms: GsaslMechanism[];
  attempts(): GsaslAttempt[];
  /** Resolves when `n` AUTH exchanges have finished. */
  waitForAttempts(n: number, timeoutMs?: number): Promise<GsaslAttempt[]>;
  stop(): Promise<void>;
}

export function gsaslUnavailableReason(): string | undefined {
  return existsSync(GSASL) ? undefined : `${GSASL} missing: apt-get install gsasl`;
}

/** Line reader over a socket that can be swapped for its TLS wrapper. */
class LineChannel {
  private buf = "";
  private waiters: Array<(line: string | null) => void> = [];
  private closed = false;
  private readonly onData = (d: Buffer): void => {
    this.buf += d.toString("latin1");
    this.flush();
  };
  private readonly onEnd = (): void => {
    this.closed = true;
    this.flush();
  };
  constructor(public socket: Socket) {
    this.attach(socket);
  }
  private attach(socket: Socket): void {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onEnd);
  }
  private flush(): void {
    while (this.waiters.length > 0) {
      const nl = this.buf.indexOf("\n");
      if (nl < 0) {
        if (this.closed) this.waiters.shift()?.(null);
        else return;
        continue;
      }
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      this.waiters.shift()?.(line);
    }
  }
  readLine(): Promise<string | null> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.flush();
    });
  }
  write(line: string): void {
    if (!this.socket.destroyed) this.socket.write(`${line}\r\n`, "latin1");
  }
  /** Replace the socket (after STARTTLS), discarding anything buffered in clear text (RFC 3207). */
  upgrade(socket: Socket): void {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onEnd);
    this.buf = "";
    this.socket = socket;
    this.attach(socket);
  }
}

/** Parses gsasl's interleaved stdout+stderr (merged with 2>&1) into events. */
type GsaslEvent =
  | { kind: "output"; data: string }
  | { kind: "input" }
  | { kind: "password" }
  | { kind: "cb"; type: "tls-exporter" | "tls-unique" }
  | { kind: "success" }
  | { kind: "error"; text: string }
  | { kind: "exit"; code: number | null };

class GsaslProcess {
  private buf = "";
  private expectOutput = false;
  private events: GsaslEvent[] = [];
  private waiter: ((e: GsaslEvent) => void) | undefined;
  transcript = "";
  readonly child: ChildProcess;

  constructor(mechanism: string) {
    this.child = spawn("/bin/sh", ["-c", `exec ${GSASL} --server -m "$0" 2>&1`, mechanism], {
      stdio: ["pipe", "pipe", "ignore"],
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
    });
    this.child.stdin?.on("error", () => {});
    this.child.stdout?.setEncoding("utf8");
    this.child.stdout?.on("data", (d: string) => this.parse(d));
    this.child.once("exit", (code) => this.push({ kind: "exit", code }));
    this.child.once("error", (err) => this.push({ kind: "error", text: err.message }));
  }

  private push(e: GsaslEvent): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(e);
    } else this.events.push(e);
  }

  private parse(d: string): void {
    this.transcript += d;
    this.buf += d;
    for (;;) {
      // prompts end without a newline
      const cb = /^Enter base64 encoded (tls-exporter|tls-unique) channel binding: /.exec(this.buf);
      if (cb) {
        this.buf = this.buf.slice(cb[0].length);
        this.push({ kind: "cb", type: cb[1] as "tls-exporter" | "tls-unique" });
        continue;
      }
      if (this.buf.startsWith("Enter password: ")) {
        this.buf = this.buf.slice("Enter password: ".length);
        this.push({ kind: "password" });
        continue;
      }
      const nl = this.buf.indexOf("\n");
      if (nl < 0) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (this.expectOutput) {
        this.expectOutput = false;
        this.push({ kind: "output", data: line });
      } else if (line === "Output from server:") {
        this.expectOutput = true;
      } else if (line.startsWith("Enter base64 authentication data from client")) {
        this.push({ kind: "input" });
      } else if (line.startsWith("Server authentication finished")) {
        this.push({ kind: "success" });
      } else if (line.startsWith("gsasl: ")) {
        this.push({ kind: "error", text: line });
      }
      // "Using mechanism:", the mechanism name, warnings, "Enter application data": ignored
    }
  }

  next(): Promise<GsaslEvent> {
    const e = this.events.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  send(line: string): void {
    if (this.child.stdin && !this.child.stdin.destroyed) this.child.stdin.write(`${line}\n`);
  }

  kill(): void {
    this.child.stdin?.destroy();
    killQuietly(this.child.pid, "SIGKILL");
  }
}

function userFromFirstMessage(mechanism: string, b64: string): string | null {
  const msg = Buffer.from(b64, "base64").toString("utf8");
  if (mechanism === "PLAIN") return msg.split("\0")[1] ?? null;
  if (mechanism === "LOGIN") return msg;
  if (mechanism === "CRAM-MD5") {
    const sp = msg.lastIndexOf(" ");
    return sp < 0 ? null : msg.slice(0, sp);
  }
  if (mechanism.startsWith("SCRAM-")) {
    // gs2-cbind-flag "," [authzid] "," n=user "," r=nonce
    const m = /^[^,]*,[^,]*,n=([^,]*),/.exec(msg);
    return m?.[1] ? m[1].replace(/=2C/g, ",").replace(/=3D/g, "=") : null;
  }
  return null;
}

function channelBindingData(socket: Socket, type: "tls-exporter" | "tls-unique"): Buffer | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  if (type === "tls-exporter")
    return socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0));
  // tls-unique: the first Finished message of the handshake (the client's, unless the session was resumed)
  return (socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished()) ?? undefined;
}

/** Starts the gsasl-backed SMTP front on 127.0.0.1 (kernel-chosen port). */
export async function startGsaslServer(options: GsaslServerOptions): Promise<GsaslServer> {
  const reason = gsaslUnavailableReason();
  if (reason) throw new Error(reason);
  const mechanisms = options.mechanisms ?? [...GSASL_MECHANISMS];
  const { cert, key } = certPaths(options.tlsCert);
  const secureContext: SecureContext = createSecureContext({
    cert: readFileSync(cert),
    key: readFileSync(key),
    ...(options.tlsMaxVersion ? { maxVersion: options.tlsMaxVersion } : {}),
  });
  const attempts: GsaslAttempt[] = [];
  const running = new Set<GsaslProcess>();
  const sockets = new Set<Socket>();
  const attemptWaiters: Array<() => void> = [];
  const unregister = onExitCleanup(() => {
    for (const p of running) killQuietly(p.child.pid, "SIGKILL");
  });

  const users = (name: string): string | undefined =>
    Object.hasOwn(options.users, name) ? options.users[name] : undefined;

  const wrapTls = (socket: Socket): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext });
      tlsSocket.once("secure", () => resolve(tlsSocket));
      tlsSocket.once("error", reject);
    });

  const authenticate = async (
    chan: LineChannel,
    mechanism: GsaslMechanism,
    initial: string | undefined,
  ): Promise<{ reply: string; attempt: GsaslAttempt }> => {
    const socket = chan.socket;
    const attempt: GsaslAttempt = {
      mechanism,
      user: null,
      success: false,
      channelBinding: null,
      tlsVersion: socket instanceof TLSSocket ? socket.getProtocol() : null,
      transcript: "",
    };
    const proc = new GsaslProcess(mechanism);
    running.add(proc);
    const clientMessages: string[] = [];
    let lastOutput = "";
    let reply = "535 5.7.8 Authentication credentials invalid";
    try {
      for (;;) {
        const ev = await proc.next();
        if (ev.kind === "output") {
          lastOutput = ev.data;
        } else if (ev.kind === "cb") {
          attempt.channelBinding = ev.type;
          let data = channelBindingData(socket, ev.type) ?? Buffer.alloc(0);
          if (options.corruptChannelBinding && data.length > 0) data = Buffer.from(data.map((b) => b ^ 0xff));
          proc.send(data.toString("base64"));
        } else if (ev.kind === "password") {
          const user =
            clientMessages[0] !== undefined ? userFromFirstMessage(mechanism, clientMessages[0]) : null;
          attempt.user = user;
          const password = user !== null ? users(user) : undefined;
          proc.send(password ?? randomBytes(16).toString("hex"));
        } else if (ev.kind === "input") {
          if (clientMessages.length === 0 && initial !== undefined) {
            // the initial response of the AUTH command answers the (empty) first challenge
            clientMessages.push(initial);
            proc.send(initial);
            continue;
          }
          const finished = clientMessages.length >= CLIENT_MESSAGES[mechanism];
          if (finished && lastOutput === "") {
            // gsasl's loop reads one more line after success; nothing to tell the client
            proc.send("");
            continue;
          }
          // a challenge (or, when finished, the server's final data: RFC 4954 sends it as a 334 too)
          chan.write(`334 ${lastOutput}`);
          const line = await chan.readLine();
          if (line === null) {
            reply = "";
            break;
          }
          if (line.trim() === "*") {
            reply = "501 5.7.0 Authentication cancelled";
            break;
          }
          if (!finished) clientMessages.push(line.trim());
          proc.send(line.trim());
        } else if (ev.kind === "success") {
          attempt.success = true;
          reply = "235 2.7.0 Authentication successful";
          break;
        } else if (ev.kind === "error") {
          break;
        } else if (ev.kind === "exit") {
          break;
        }
      }
    } finally {
      if (attempt.user === null && clientMessages[0] !== undefined) {
        attempt.user = userFromFirstMessage(mechanism, clientMessages[0]);
      }
      proc.kill();
      running.delete(proc);
      attempt.transcript = proc.transcript;
    }
    return { reply, attempt };
  };

  const session = async (raw: Socket): Promise<void> => {
    let socket: Socket = raw;
    if (options.implicitTls) socket = await wrapTls(raw);
    sockets.add(socket);
    const chan = new LineChannel(socket);
    let authenticated = false;
    let inTransaction = false;
    chan.write("220 localhost ESMTP gsasl harness (SASL by GNU SASL)");
    for (;;) {
      const line = await chan.readLine();
      if (line === null) break;
      const [verbRaw = "", ...rest] = line.split(" ");
      const verb = verbRaw.toUpperCase();
      const arg = rest.join(" ");
      const tls = chan.socket instanceof TLSSocket;
      if (verb === "EHLO" || verb === "HELO") {
        authenticated = false;
        inTransaction = false;
        if (verb === "HELO") {
          chan.write("250 localhost");
          continue;
        }
        // STARTTLS and AUTH not last: the gsasl client only recognises them on "250-" lines
        const lines = ["localhost"];
        if (!tls) lines.push("STARTTLS");
        if (tls || options.allowInsecureAuth) lines.push(`AUTH ${mechanisms.join(" ")}`);
        lines.push("8BITMIME", "ENHANCEDSTATUSCODES");
        lines.forEach((l, i) => {
          chan.write(`250${i === lines.length - 1 ? " " : "-"}${l}`);
        });
      } else if (verb === "STARTTLS" && !tls) {
        chan.write("220 2.0.0 Ready to start TLS");
        try {
          const tlsSocket = await wrapTls(chan.socket);
          sockets.add(tlsSocket);
          chan.upgrade(tlsSocket);
          authenticated = false;
        } catch {
          break;
        }
      } else if (verb === "AUTH") {
        const [mechRaw = "", initialRaw] = arg.split(" ");
        const mech = mechRaw.toUpperCase() as GsaslMechanism;
        if (!tls && !options.allowInsecureAuth) chan.write("538 5.7.11 Encryption required");
        else if (authenticated) chan.write("503 5.5.1 Already authenticated");
        else if (!mechanisms.includes(mech)) chan.write("504 5.5.4 Unrecognized authentication type");
        else {
          const initial = initialRaw === undefined ? undefined : initialRaw === "=" ? "" : initialRaw;
          const { reply, attempt } = await authenticate(chan, mech, initial);
          attempts.push(attempt);
          for (const w of attemptWaiters.splice(0)) w();
          if (reply === "") break;
          authenticated = attempt.success;
          chan.write(reply);
        }
      } else if (verb === "MAIL") {
        inTransaction = true;
        chan.write("250 2.1.0 OK");
      } else if (verb === "RCPT") {
        chan.write(inTransaction ? "250 2.1.5 OK" : "503 5.5.1 MAIL first");
      } else if (verb === "DATA") {
        if (!inTransaction) {
          chan.write("503 5.5.1 MAIL first");
          continue;
        }
        chan.write("354 End data with <CR><LF>.<CR><LF>");
        for (;;) {
          const l = await chan.readLine();
          if (l === null || l === ".") break;
        }
        inTransaction = false;
        chan.write("250 2.0.0 OK: accepted (and discarded)");
      } else if (verb === "RSET") {
        inTransaction = false;
        chan.write("250 2.0.0 OK");
      } else if (verb === "NOOP") {
        chan.write("250 2.0.0 OK");
      } else if (verb === "QUIT") {
        chan.write("221 2.0.0 Bye");
        chan.socket.end();
        break;
      } else {
        chan.write("502 5.5.2 Command not implemented");
      }
    }
    sockets.delete(socket);
    sockets.delete(chan.socket);
  };

  const server: Server = createServer((raw) => {
    sockets.add(raw);
    raw.on("error", () => {});
    session(raw)
      .catch(() => {})
      .finally(() => {
        sockets.delete(raw);
        raw.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  server.unref();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  let stopped: Promise<void> | undefined;
  return {
    host: LOOPBACK,
    port,
    secure: options.implicitTls ?? false,
    ca: fixtureCa(),
    mechanisms,
    attempts: () => [...attempts],
    waitForAttempts: async (n, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (attempts.length < n) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`timed out waiting for ${n} AUTH attempt(s) (have ${attempts.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 100));
          attemptWaiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return [...attempts];
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        unregister();
        for (const p of running) p.kill();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return stopped;
    },
  };
}

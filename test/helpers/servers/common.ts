// Shared plumbing for the real-server test harnesses: fixture paths, free ports, waiting, and cleanup
// that also runs when the test process exits without calling stop().
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The loopback address every harness listens on. */
export const LOOPBACK = "127.0.0.1" as const;

/** Names of the certificate/key pairs in test/helpers/fixtures (all signed by ca.pem). */
export type FixtureCert = "localhost" | "localhost-rsa" | "other.example";

/** A certificate choice: a fixture name, or explicit PEM file paths. */
export type TlsCertChoice = FixtureCert | { cert: string; key: string };

/**
 * Absolute path of a file in test/helpers/fixtures. Resolved relative to this module, so it works both
 * from test/ (tsx) and from build-test/ (compiled; `npm run build:test` copies the fixtures there).
 */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** The test CA certificate (PEM) that signs every fixture certificate; pass it as `ca` to a client. */
export function fixtureCa(): Buffer {
  return readFileSync(fixturePath("ca.pem"));
}

/** Certificate and key file paths for a certificate choice (default: the ECDSA `localhost` pair). */
export function certPaths(choice: TlsCertChoice = "localhost"): { cert: string; key: string } {
  if (typeof choice === "string") {
    return { cert: fixturePath(`${choice}.pem`), key: fixturePath(`${choice}.key`) };
  }
  return choice;
}

/**
 * A TCP port that was free a moment ago on `host`: bind port 0, read the port, close. Only for servers that
 * cannot listen on port 0 themselves (Postfix); the small race with another process is accepted.
 */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/** Several distinct free ports. */
export async function freePorts(count: number, host: string = LOOPBACK): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or rejects at the deadline. */
export async function waitUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Resolves once a TCP connection to host:port succeeds; with `expectGreeting`, once the server also sent a
 * line starting with "220" (then the probe sends QUIT and closes).
 */
export async function waitForListening(
  port: number,
  timeoutMs: number,
  opts: { host?: string; expectGreeting?: boolean } = {},
): Promise<void> {
  const host = opts.host ?? LOOPBACK;
  const attempt = (): Promise<boolean> =>
    new Promise((resolve) => {
      const sock = netConnect({ host, port });
      let buf = "";
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 2000);
      sock.once("error", () => done(false));
      sock.once("close", () => done(false));
      sock.once("connect", () => {
        if (!opts.expectGreeting) done(true);
      });
      sock.on("data", (d: Buffer) => {
        buf += d.toString("latin1");
        if (buf.includes("\n")) {
          if (buf.startsWith("220")) sock.write("QUIT\r\n");
          done(buf.startsWith("220"));
        }
      });
    });
  await waitUntil(async () => ((await attempt()) ? true : undefined), timeoutMs, `${host}:${port}`, 25);
}

// ---- cleanup on exit --------------------------------------------------------------------------------------

type SyncCleanup = () => void;
const exitCleanups = new Set<SyncCleanup>();
let hooksInstalled = false;

function runExitCleanups(): void {
  for (const fn of [...exitCleanups]) {
    exitCleanups.delete(fn);
    try {
      fn();
    } catch {
      // best effort: the process is going away
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runExitCleanups();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("SIGHUP", onSignal);
  // re-raise so the default disposition (exit with the signal) still applies
  process.kill(process.pid, signal);
}

/**
 * Registers a synchronous cleanup (kill processes, remove directories) to run when the process exits or is
 * interrupted before stop() was called. Returns a function that unregisters it.
 */
export function onExitCleanup(fn: SyncCleanup): () => void {
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on("exit", runExitCleanups);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    process.on("SIGHUP", onSignal);
  }
  exitCleanups.add(fn);
  return () => {
    exitCleanups.delete(fn);
  };
}

/** Sends a signal to a process (or, with a negative pid, a process group), ignoring "no such process". */
export function killQuietly(pid: number | undefined, signal: NodeJS.Signals = "SIGTERM"): void {
  if (pid === undefined || pid === 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function removeDirQuietly(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort
  }
}

/**
 * Starts a detached watchdog shell that, when this Node process dies for any reason (even SIGKILL) and its
 * stdin pipe closes, sends SIGTERM to the given process groups, then SIGKILL, then removes `dir`.
 * Call `disarm()` on a clean stop.
 */
export function startWatchdog(processGroups: number[], dir: string | undefined): { disarm(): void } {
  const script = [
    "read _",
    'for g in $GROUPS_TO_KILL; do kill -TERM "-$g" 2>/dev/null; done',
    "sleep 1",
    'for g in $GROUPS_TO_KILL; do kill -KILL "-$g" 2>/dev/null; done',
    'if [ -n "$DIR_TO_REMOVE" ]; then rm -rf -- "$DIR_TO_REMOVE"; fi',
  ].join("\n");
  const child: ChildProcess = spawn("/bin/sh", ["-c", script], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      GROUPS_TO_KILL: processGroups.join(" "),
      DIR_TO_REMOVE: dir ?? "",
    },
  });
  child.on("error", () => {});
  child.stdin?.on("error", () => {});
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    disarm() {
      killQuietly(child.pid, "SIGKILL");
      child.stdin?.destroy();
    },
  };
}

/** Keeps the last `limit` characters of a stream of text, for diagnostics. */
export class TailBuffer {
  private text = "";
  constructor(private readonly limit = 256 * 1024) {}
  push(chunk: Buffer | string): void {
    this.text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (this.text.length > this.limit) this.text = this.text.slice(this.text.length - this.limit);
  }
  toString(): string {
    return this.text;
  }
}

/** The conventions every harness follows, so tests can provoke refusals with any server. */
export const HARNESS_CONVENTIONS = {
  /** RCPT with this local part is refused permanently (550 5.1.1). */
  rejectLocalPart: "reject",
  /** RCPT with this local part is refused temporarily (452 4.2.2). */
  tempfailLocalPart: "tempfail",
  /** LMTP only: accepted at RCPT, refused for that recipient after the data (550 5.1.1). */
  faildataLocalPart: "faildata",
  /** A message whose header block contains this field is refused after the data (5xx). */
  rejectHeader: "X-Harness-Reject",
} as const;

/** The local part of an address (before the last "@"), lower-cased. */
export function localPartOf(address: string): string {
  const at = address.lastIndexOf("@");
  return (at < 0 ? address : address.slice(0, at)).toLowerCase();
}

/** True when the header block of a raw message (CRLF or LF) contains the harness reject header. */
export function hasRejectHeader(raw: Buffer): boolean {
  let end = raw.indexOf("\r\n\r\n");
  if (end < 0) end = raw.indexOf("\n\n");
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString("latin1");
  return /^x-harness-reject:/im.test(head);
}

// ---- system users and directories (root-only harnesses) ---------------------------------------------

/** A numeric user or group id from /etc/passwd or /etc/group, or undefined. */
export function lookupId(file: string, name: string): number | undefined {
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields[0] === name && fields[2] !== undefined) return Number(fields[2]);
    }
  } catch {
    // fall through
  }
  return undefined;
}

export function requireId(file: string, name: string): number {
  const id = lookupId(file, name);
  if (id === undefined) throw new Error(`${name} not found in ${file}`);
  return id;
}

/** mkdir -p, then chown and chmod (as root). */
export function mkdirOwned(path: string, uid: number, gid: number, mode: number): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
}

// ---- delivered messages ------------------------------------------------------------------------------

/**
 * Splits a delivered message (LF or CRLF) into the trace fields the delivering server put on top
 * (Return-Path, Delivered-To, X-Original-To, and its own first Received field, recognised by
 * `isOwnReceived`) and the message as the client sent it.
 */
export function splitTraceHeaders(
  raw: Buffer,
  isOwnReceived: (value: string) => boolean,
): {
  recipient: string | null;
  returnPath: string | null;
  message: Buffer;
} {
  let offset = 0;
  let recipient: string | null = null;
  let returnPath: string | null = null;
  let sawReceived = false;
  for (;;) {
    // one header field: a line plus its continuation lines
    let end = offset;
    for (;;) {
      const nl = raw.indexOf(0x0a, end);
      if (nl < 0) return { recipient, returnPath, message: raw.subarray(offset) };
      end = nl + 1;
      const next = raw[end];
      if (next !== 0x20 && next !== 0x09) break;
    }
    const field = raw.subarray(offset, end).toString("utf8");
    const name = field.slice(0, field.indexOf(":")).toLowerCase();
    const value = field
      .slice(field.indexOf(":") + 1)
      .replace(/\r?\n/g, "")
      .trim();
    if (name === "return-path" && returnPath === null) {
      returnPath = value.replace(/^<|>$/g, "");
    } else if (name === "delivered-to" && recipient === null) {
      recipient = value;
    } else if (name === "x-original-to") {
      // added with enable_original_recipient; part of the trace
    } else if (name === "received" && !sawReceived && isOwnReceived(value)) {
      sawReceived = true;
    } else {
      return { recipient, returnPath, message: raw.subarray(offset) };
    }
    offset = end;
  }
}

/**
 * Runs `start` up to `attempts` times while it fails with an error whose message contains `retryOn`
 * (a port probed free was taken by another process before the server bound it); other errors, and the
 * last attempt's, propagate.
 */
export async function retryStart<T>(start: () => Promise<T>, retryOn: string, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !String((err as Error).message).includes(retryOn)) throw err;
    }
  }
}

/**
 * A new private directory for one harness instance (mode 0755, so dropped-privilege daemons can reach
 * it). `keepDir`: SMTPKIT_HARNESS_KEEP=1 keeps it (config, logs, mail) after stop() for debugging.
 */
export function makeHarnessDir(prefix: string): { dir: string; keepDir: boolean } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return { dir, keepDir: process.env.SMTPKIT_HARNESS_KEEP === "1" };
}

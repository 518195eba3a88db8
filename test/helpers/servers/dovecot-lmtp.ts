// Dovecot's LMTP server (Debian `dovecot-lmtpd`) as a private instance on 127.0.0.1: a real LMTP server
// none of us wrote, with PIPELINING, CHUNKING, 8BITMIME, ENHANCEDSTATUSCODES and one reply per recipient
// after the data. Messages are stored in one Maildir per recipient under a temporary directory.
//
// Harness conventions (see common.ts): RCPT to reject@... is refused (550 5.1.1 User doesn't exist);
// faildata@... is accepted at RCPT and refused after the data by a 1-byte quota (552 5.2.2 Quota exceeded).
//
// Needs root (Dovecot's master process must start as root).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  certPaths,
  fixtureCa,
  freePort,
  killQuietly,
  LOOPBACK,
  lookupId,
  makeHarnessDir,
  mkdirOwned,
  onExitCleanup,
  removeDirQuietly,
  retryStart,
  sleep,
  splitTraceHeaders,
  startWatchdog,
  TailBuffer,
  type TlsCertChoice,
  waitForListening,
  waitUntil,
} from "./common.js";

const DOVECOT = "/usr/sbin/dovecot";
const LMTP_BINARY = "/usr/lib/dovecot/lmtp";

export interface DovecotLmtpOptions {
  /**
   * Only these addresses exist; RCPT to any other gets 550 5.1.1. Default: every address exists except the
   * local part "reject".
   */
  recipients?: string[];
  /** Offer STARTTLS with the fixture certificate. */
  starttls?: boolean;
  tlsCert?: TlsCertChoice;
  /** Start timeout in ms (default 15000). */
  startTimeoutMs?: number;
}

export interface LmtpDelivered {
  path: string;
  /** The file as Dovecot stored it (LF line ends, Return-Path/Delivered-To/Received on top). */
  raw: Buffer;
  /** The recipient (Delivered-To, else the Maildir's name). */
  recipient: string | null;
  returnPath: string | null;
  /** `raw` without the trace fields Dovecot added. */
  message: Buffer;
}

export interface DovecotLmtpServer {
  host: typeof LOOPBACK;
  port: number;
  ca: Buffer;
  dir: string;
  pids: { dovecot: number };
  /** Every stored message (one per accepted recipient), oldest first. */
  delivered(): Promise<LmtpDelivered[]>;
  waitForDelivery(n: number, timeoutMs?: number): Promise<LmtpDelivered[]>;
  clearDelivered(): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export function dovecotLmtpUnavailableReason(): string | undefined {
  if (process.platform !== "linux") return "the Dovecot LMTP harness needs Linux";
  if (process.getuid?.() !== 0) return "the Dovecot LMTP harness must run as root";
  if (!existsSync(DOVECOT)) return `${DOVECOT} missing: apt-get install dovecot-core`;
  if (!existsSync(LMTP_BINARY)) return `${LMTP_BINARY} missing: apt-get install dovecot-lmtpd`;
  return undefined;
}

function checkAddress(address: string): void {
  if (address === "" || /[:/\x00-\x1f\x7f]/.test(address)) {
    throw new Error(`Dovecot LMTP harness: ${JSON.stringify(address)} cannot go in a passwd-file`);
  }
}

/** Starts a private Dovecot LMTP server on 127.0.0.1. Must run as root. */
export async function startDovecotLmtp(options: DovecotLmtpOptions = {}): Promise<DovecotLmtpServer> {
  const reason = dovecotLmtpUnavailableReason();
  if (reason) throw new Error(reason);
  // another process took the probed port before Dovecot bound it
  return retryStart(() => startOnce(options), "Address already in use");
}

async function startOnce(options: DovecotLmtpOptions): Promise<DovecotLmtpServer> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  const uid = lookupId("/etc/passwd", "nobody") ?? 65534;
  const gid = lookupId("/etc/group", "nogroup") ?? 65534;
  const id = randomBytes(4).toString("hex");
  const { dir, keepDir } = makeHarnessDir("smtpkit-lmtp-");
  const mail = join(dir, "mail");
  const log = new TailBuffer();
  let child: ChildProcess | undefined;
  let watchdog: { disarm(): void } | undefined;
  const unregister = onExitCleanup(() => {
    if (child?.pid) killQuietly(-child.pid, "SIGKILL");
    if (!keepDir) removeDirQuietly(dir);
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      watchdog?.disarm();
      const c = child;
      if (c?.pid) {
        c.ref(); // unref'd at start: without this an otherwise idle event loop would end during the wait
        const exited =
          c.exitCode !== null || c.signalCode !== null
            ? Promise.resolve()
            : new Promise<void>((resolve) => c.once("exit", () => resolve()));
        killQuietly(-c.pid, "SIGKILL");
        await exited;
        killQuietly(-c.pid, "SIGKILL");
      }
      unregister();
      if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  try {
    mkdirOwned(join(dir, "run"), 0, 0, 0o755);
    mkdirOwned(join(dir, "state"), 0, 0, 0o750);
    mkdirOwned(mail, uid, gid, 0o755);
    const port = await freePort();

    // userdbs, in order: reject@ fails the lookup, faildata@ gets a 1-byte quota, then everybody (or the list)
    const users = (options.recipients ?? []).map((r) => {
      checkAddress(r);
      return `${r}::::::\n`;
    });
    writeFileSync(join(dir, "reject-users"), "reject::::::\n");
    writeFileSync(
      join(dir, "users"),
      `faildata@example.test:::::::userdb_quota_rule=*:storage=1B\n${users.join("")}`,
    );
    const { cert, key } = certPaths(options.tlsCert);
    const conf = [
      `base_dir = ${join(dir, "run")}`,
      `state_dir = ${join(dir, "state")}`,
      `instance_name = smtpkit-lmtp-${id}`,
      "protocols = lmtp",
      "listen = 127.0.0.1",
      "hostname = localhost",
      ...(options.starttls ? ["ssl = yes", `ssl_cert = <${cert}`, `ssl_key = <${key}`] : ["ssl = no"]),
      "log_path = /dev/stderr",
      `mail_location = maildir:${mail}/%Lu`,
      `mail_uid = ${uid}`,
      `mail_gid = ${gid}`,
      "first_valid_uid = 1",
      "mail_plugins = quota",
      "plugin {",
      "  quota = count:User quota",
      "  quota_vsizes = yes",
      "}",
      "passdb {",
      "  driver = static",
      "  args = nopassword=y",
      "}",
      "userdb {",
      "  driver = passwd-file",
      `  args = username_format=%Ln ${join(dir, "reject-users")}`,
      "  result_success = return-fail",
      "  result_failure = continue",
      "}",
      "userdb {",
      "  driver = passwd-file",
      `  args = ${join(dir, "users")}`,
      options.recipients ? "  result_failure = return-fail" : "  result_failure = continue",
      "}",
      ...(options.recipients ? [] : ["userdb {", "  driver = static", "  args = allow_all_users=yes", "}"]),
      "service lmtp {",
      "  inet_listener lmtp {",
      "    address = 127.0.0.1",
      `    port = ${port}`,
      "  }",
      "  unix_listener lmtp {",
      "    mode = 0",
      "  }",
      "}",
      "",
    ].join("\n");
    const confPath = join(dir, "dovecot.conf");
    writeFileSync(confPath, conf);
    const past = new Date(Date.now() - 60_000);
    utimesSync(confPath, past, past);

    const c = spawn(DOVECOT, ["-F", "-c", confPath], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      cwd: dir,
    });
    child = c;
    c.stdout?.on("data", (d: Buffer) => log.push(d));
    c.stderr?.on("data", (d: Buffer) => log.push(d));
    c.on("error", (err) => log.push(`spawn failed: ${err.message}\n`));
    c.unref();
    for (const s of [c.stdout, c.stderr]) (s as unknown as { unref?: () => void })?.unref?.();
    watchdog = startWatchdog(c.pid ? [c.pid] : [], keepDir ? undefined : dir);

    const t = Math.max(500, deadline - Date.now());
    await Promise.race([
      waitForListening(port, t, { expectGreeting: true }),
      waitUntil(
        () => {
          if (c.exitCode !== null || c.signalCode !== null) {
            throw new Error(`dovecot exited (code ${c.exitCode}): ${log}`);
          }
          return undefined;
        },
        t + 1000,
        "dovecot",
        25,
      ),
    ]);

    const delivered = async (): Promise<LmtpDelivered[]> => {
      const users = await readdir(mail).catch(() => [] as string[]);
      const entries: Array<{ path: string; user: string; mtime: number; name: string }> = [];
      for (const user of users) {
        const newDir = join(mail, user, "new");
        for (const name of await readdir(newDir).catch(() => [] as string[])) {
          const path = join(newDir, name);
          entries.push({ path, user, name, mtime: (await stat(path)).mtimeMs });
        }
      }
      entries.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name));
      return Promise.all(
        entries.map(async ({ path, user }) => {
          const raw = await readFile(path);
          const trace = splitTraceHeaders(raw, (received) => received.includes("with LMTP"));
          return { path, raw, ...trace, recipient: trace.recipient ?? user };
        }),
      );
    };

    return {
      host: LOOPBACK,
      port,
      ca: fixtureCa(),
      dir,
      pids: { dovecot: c.pid ?? 0 },
      delivered,
      waitForDelivery: async (n, timeoutMs = 10_000) => {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const list = await delivered();
          if (list.length >= n) return list;
          if (Date.now() >= end) {
            throw new Error(`timed out waiting for ${n} stored message(s) (have ${list.length})\n${log}`);
          }
          await sleep(25);
        }
      },
      clearDelivered: async () => {
        for (const user of await readdir(mail).catch(() => [] as string[])) {
          const newDir = join(mail, user, "new");
          for (const name of await readdir(newDir).catch(() => [] as string[])) {
            await rm(join(newDir, name), { force: true });
          }
        }
      },
      log: () => log.toString(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

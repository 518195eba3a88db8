// A private redis-server (Debian `redis-server`) on 127.0.0.1 with a port chosen at run time and its own
// directory: AOF on (appendfsync everysec, as the outbox's durability claim assumes), no RDB snapshots,
// never the system service. kill() and restart() let tests crash it and bring it back on the same port and
// data directory.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  killQuietly,
  LOOPBACK,
  makeHarnessDir,
  onExitCleanup,
  removeDirQuietly,
  retryStart,
  startWatchdog,
  TailBuffer,
  waitForListening,
  waitUntil,
} from "./common.js";

const REDIS_SERVER = "/usr/bin/redis-server";

export interface RedisServer {
  host: typeof LOOPBACK;
  port: number;
  /** redis://127.0.0.1:PORT */
  url: string;
  dir: string;
  pid(): number | undefined;
  /** SIGKILL: no shutdown, no final fsync — what a crash looks like. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (the AOF is replayed). */
  restart(): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

/** Why redis-server cannot run here, or undefined when it can. */
export function redisUnavailableReason(): string | undefined {
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} missing: apt-get install redis-server`;
  return undefined;
}

export async function startRedis(): Promise<RedisServer> {
  const { dir, keepDir } = makeHarnessDir("smtpkit-redis-");
  const log = new TailBuffer(64 * 1024);
  let child: ChildProcess | undefined;
  let watchdog: { disarm(): void } | undefined;
  let port = 0;

  const spawnServer = async (): Promise<void> => {
    const proc = spawn(
      REDIS_SERVER,
      [
        "--port",
        String(port),
        "--bind",
        LOOPBACK,
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
        "--pidfile",
        join(dir, "redis.pid"),
      ],
      { detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    proc.stdout?.on("data", (d: Buffer) => log.push(d));
    proc.stderr?.on("data", (d: Buffer) => log.push(d));
    child = proc;
    watchdog?.disarm();
    watchdog = proc.pid === undefined ? undefined : startWatchdog([proc.pid], keepDir ? undefined : dir);
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`redis-server exited (${code}) during start-up: ${log}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForListening(port, 10_000), exited]);
  };

  await retryStart(async () => {
    port = await freePort();
    await spawnServer();
  }, "during start-up");

  const unregister = onExitCleanup(() => {
    killQuietly(child?.pid, "SIGKILL");
    if (!keepDir) removeDirQuietly(dir);
  });

  const kill = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    killQuietly(proc.pid, "SIGKILL");
    await gone;
  };

  return {
    host: LOOPBACK,
    port,
    url: `redis://${LOOPBACK}:${port}`,
    dir,
    pid: () => child?.pid,
    kill,
    async restart() {
      await kill();
      // the port is ours again once the old process is gone; retry briefly in case the kernel lags
      await waitUntil(
        async () => {
          try {
            await spawnServer();
            return true;
          } catch {
            return undefined;
          }
        },
        15_000,
        "redis-server to restart",
        100,
      );
    },
    log: () => log.toString(),
    async stop() {
      await kill();
      watchdog?.disarm();
      unregister();
      if (!keepDir) removeDirQuietly(dir);
    },
  };
}

// Postfix's smtp-sink (Debian `postfix`): a real server none of us wrote, fast enough for load and memory
// tests. With `dump` it appends every transaction to one file (-D) and prints running counters of ended
// sessions, QUITs and messages (-c), so both what arrived and how many sessions carried it are counted on
// its side; without it, it only accepts (a 200 MiB memory test needs no copy on disk).
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  killQuietly,
  lookupId,
  onExitCleanup,
  removeDirQuietly,
  startWatchdog,
  waitForListening,
} from "./common.js";

const SMTP_SINK = "/usr/sbin/smtp-sink";

export function smtpSinkUnavailableReason(): string | undefined {
  if (!existsSync(SMTP_SINK)) return `${SMTP_SINK} missing: apt-get install postfix`;
  if (process.getuid?.() !== 0) return "smtp-sink is started as root with -u nobody";
  return undefined;
}

export interface SmtpSink {
  port: number;
  pid: number | undefined;
  /** Its directory (the dump), removed by stop(), on exit, and by the watchdog if this process is killed. */
  dir: string;
  /** Ends smtp-sink and removes its directory. */
  stop(): void;
  /** The last counters smtp-sink printed: sessions ended, QUITs, messages. */
  counters(): { sessions: number; quits: number; messages: number };
  /** The Message-ID of every message in the dump, in arrival order. */
  messageIds(): string[];
}

/** Starts smtp-sink on a free loopback port (as root it drops to nobody); the caller stops it. */
export async function startSmtpSink({ dump = true }: { dump?: boolean } = {}): Promise<SmtpSink> {
  const dir = mkdtempSync(join(tmpdir(), "smtpkit-sink-"));
  chownSync(dir, lookupId("/etc/passwd", "nobody") ?? 65534, 0);
  const port = await freePort();
  let output = "";
  const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const recording = dump ? ["-c", "-D", join(dir, "dump")] : [];
  // its own process group, so that the harness's exit cleanup and watchdog can end it (as every server's)
  const sink: ChildProcess = spawn(SMTP_SINK, [...recording, ...asRoot, `127.0.0.1:${port}`, "64"], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  sink.stdout!.setEncoding("latin1").on("data", (d: string) => {
    output = (output + d).slice(-4096);
  });
  const watchdog = sink.pid === undefined ? undefined : startWatchdog([sink.pid], dir);
  const unregister = onExitCleanup(() => {
    killQuietly(sink.pid);
    removeDirQuietly(dir);
  });
  const stop = (): void => {
    sink.kill();
    watchdog?.disarm();
    unregister();
    removeDirQuietly(dir);
  };
  try {
    await waitForListening(port, 5000);
  } catch (error) {
    stop();
    throw error;
  }
  return {
    port,
    pid: sink.pid,
    dir,
    stop,
    counters: () => {
      const last = [...output.matchAll(/sess=(\d+) quit=(\d+) mesg=(\d+)/g)].pop();
      return {
        sessions: Number(last?.[1] ?? 0),
        quits: Number(last?.[2] ?? 0),
        messages: Number(last?.[3] ?? 0),
      };
    },
    messageIds: () => {
      let dump = "";
      try {
        dump = readFileSync(join(dir, "dump"), "latin1");
      } catch {
        // nothing yet
      }
      return [...dump.matchAll(/^Message-ID:[ \t]*(\S+)/gim)].map((m) => m[1]!);
    },
  };
}

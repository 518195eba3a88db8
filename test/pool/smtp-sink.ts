// Postfix's smtp-sink (Debian `postfix`) for the pool's interop test: a real server none of us wrote. It
// appends every transaction to one dump file (-D) and prints running counters of ended sessions, QUITs
// and messages (-c), so both what arrived and how many sessions carried it are counted on its side.
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { freePort, lookupId, waitForListening } from "../helpers/servers/common.js";

const SMTP_SINK = "/usr/sbin/smtp-sink";

export function smtpSinkUnavailableReason(): string | undefined {
  if (!existsSync(SMTP_SINK)) return `${SMTP_SINK} missing: apt-get install postfix`;
  if (process.getuid?.() !== 0) return "smtp-sink is started as root with -u nobody";
  return undefined;
}

export interface SmtpSink {
  port: number;
  /** The last counters smtp-sink printed: sessions ended, QUITs, messages. */
  counters(): { sessions: number; quits: number; messages: number };
  /** The Message-ID of every message in the dump, in arrival order. */
  messageIds(): string[];
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const dir = mkdtempSync(join(tmpdir(), "smtpkit-sink-"));
  chownSync(dir, lookupId("/etc/passwd", "nobody") ?? 65534, 0);
  const port = await freePort();
  let output = "";
  const sink: ChildProcess = spawn(
    SMTP_SINK,
    ["-c", "-u", "nobody", "-D", join(dir, "dump"), `127.0.0.1:${port}`, "64"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  sink.stdout!.setEncoding("latin1").on("data", (d: string) => {
    output = (output + d).slice(-4096);
  });
  after(() => {
    sink.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForListening(port, 5000);
  return {
    port,
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

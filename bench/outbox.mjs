// npm run bench -- outbox [--drain N] [--seconds S] [--rounds R]
//
// smtpkit/outbox against BullMQ + nodemailer's pool, each with one worker process (4 SMTP connections to
// smtp-sink, concurrency 64) on a private redis-server (AOF, appendfsync everysec), 1 KiB messages:
//  - drain: msgs/s to empty a queue of N pre-enqueued messages (first pick-up to last completion);
//  - open loop: a producer process enqueues at 1 000 and 2 500 msg/s for S seconds; latency from each
//    message's scheduled enqueue time to its completion (the worker's 'sent' / BullMQ's 'completed', i.e.
//    after the relay's 250 and BullMQ's acknowledgement), p50 and p99.
import { fork } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  disarmWatchdog,
  REDIS_SERVER,
  serversUnavailableReason,
  startRedis,
  startSmtpSink,
} from "./lib/servers.mjs";

const { values: opts } = parseArgs({
  args: process.argv.slice(3),
  options: {
    drain: { type: "string", default: "20000" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "1" },
  },
});
const DRAIN = Number(opts.drain);
const SECONDS = Number(opts.seconds);
const ROUNDS = Number(opts.rounds);
const CONCURRENCY = 64;
const CLIENT = fileURLToPath(new URL("outbox-client.mjs", import.meta.url));
const CLIENTS = ["smtpkit", "peer"];
const TITLE = { smtpkit: "smtpkit/outbox", peer: "BullMQ + nodemailer pool" };

const unavailable =
  serversUnavailableReason() ?? (existsSync(REDIS_SERVER) ? undefined : `${REDIS_SERVER} missing`);
if (unavailable) {
  console.error(`bench outbox: ${unavailable}`);
  process.exit(2);
}

function child(role, client, env) {
  const proc = fork(CLIENT, [role, client], { env: { ...process.env, OUTBOX_BENCH: JSON.stringify(env) } });
  proc.on("message", (m) => {
    if (m.failed) console.error(`  ${client} ${role}: a message failed: ${m.failed}`);
  });
  return { proc, send: (m) => proc.send(m) };
}

/** The next IPC message from `c` that has `key`, resolved with its value. */
function until(c, key) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (key in m) {
        c.proc.off("message", on);
        resolve(m[key]);
      }
    };
    c.proc.on("message", on);
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let runId = 0;
async function drainRun(redis, sink, client) {
  const env = {
    redis: redis.url,
    queue: `drain-${client}-${++runId}`,
    sinkPort: sink.port,
    concurrency: CONCURRENCY,
  };
  const c = child("worker", client, env);
  await until(c, "ready");
  c.send({ cmd: "fill", count: DRAIN });
  await until(c, "filled");
  c.send({ cmd: "work", expect: DRAIN });
  const finished = await until(c, "finished");
  c.send({ cmd: "close" });
  await until(c, "closed");
  const seconds = (finished.last - finished.first) / 1e6;
  return { msgsPerSec: DRAIN / seconds, cpuUsPerMsg: (finished.cpu.user + finished.cpu.system) / DRAIN };
}

async function openLoopRun(redis, sink, client, rate) {
  const env = {
    redis: redis.url,
    queue: `open-${client}-${rate}-${++runId}`,
    sinkPort: sink.port,
    concurrency: CONCURRENCY,
  };
  const worker = child("worker", client, env);
  const producer = child("producer", client, env);
  await Promise.all([until(worker, "ready"), until(producer, "ready")]);
  const total = rate * SECONDS;
  worker.send({ cmd: "work", expect: total, wantTimes: true });
  await until(worker, "working");
  producer.send({ cmd: "produce", rate, seconds: SECONDS });
  const [produced, finished] = await Promise.all([until(producer, "produced"), until(worker, "finished")]);
  for (const c of [worker, producer]) c.send({ cmd: "close" });
  await Promise.all([until(worker, "closed"), until(producer, "closed")]);
  const doneAt = new Map(finished.times);
  const latencies = produced.map(([id, at]) => (doneAt.get(id) - at) / 1000).sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

const redis = await startRedis();
const sink = await startSmtpSink();
const load0 = os.loadavg()[0];
const started = Date.now();
const results = {
  drain: { smtpkit: [], peer: [] },
  1000: { smtpkit: [], peer: [] },
  2500: { smtpkit: [], peer: [] },
};
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
    for (const client of order) {
      const r = await drainRun(redis, sink, client);
      console.error(
        `drain ${DRAIN} · ${TITLE[client]}: ${fmt(r.msgsPerSec)} msgs/s, ${fmt(r.cpuUsPerMsg)} µs CPU/msg (worker)`,
      );
      results.drain[client].push(r);
    }
    for (const rate of [1000, 2500]) {
      for (const client of order) {
        const r = await openLoopRun(redis, sink, client, rate);
        console.error(
          `open loop ${rate}/s · ${TITLE[client]}: p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, max ${fmt(r.max, 1)} ms`,
        );
        results[rate][client].push(r);
      }
    }
  }
} finally {
  await sink.stop();
  await redis.stop();
  disarmWatchdog();
}

const row = (label, metric, get, digits = 0, ratio = true) => {
  const a = median(results[label === "drain" ? "drain" : label].smtpkit.map(get));
  const b = median(results[label === "drain" ? "drain" : label].peer.map(get));
  return `| ${label === "drain" ? `drain ${fmt(DRAIN)} pre-enqueued` : `open loop ${fmt(Number(label))} msg/s × ${SECONDS} s`} | ${metric} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${ratio ? fmt(a / b, 2) : ""} |`;
};
console.log(`Environment: ${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length} · ${ROUNDS} round(s) · one worker process, 4 SMTP connections to smtp-sink, concurrency ${CONCURRENCY}, 1 KiB messages, redis-server AOF everysec · run took ${Math.round((Date.now() - started) / 1000)} s · load average ${load0.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end (shared machine)
`);
console.log("| Scenario | Metric | smtpkit/outbox | BullMQ + nodemailer pool | smtpkit / peer |");
console.log("| --- | --- | ---: | ---: | ---: |");
console.log(row("drain", "msgs/s", (r) => r.msgsPerSec));
console.log(row("drain", "worker CPU µs/msg (lower is better)", (r) => r.cpuUsPerMsg));
for (const rate of ["1000", "2500"]) {
  console.log(row(rate, "p50 enqueue→sent, ms", (r) => r.p50, 1));
  console.log(row(rate, "p99 enqueue→sent, ms", (r) => r.p99, 1));
}

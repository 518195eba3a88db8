// npm run bench:pool [-- --quick] [-- --rounds N] [-- --update-readme]
//
// Pools side by side against Postfix's smtp-sink: smtpkit's createPool(), nodemailer's pool (pool: true,
// maxConnections: 4, sendMail with raw) and four nodemailer SMTPConnections (one message at a time each).
// 1 KiB, 1 recipient, 4 connections; every message of a run submitted at once. Loopback (direct, and a
// separate pass through a non-delaying relay to count round trips) and 20 ms RTT (bench/lib/relay.mjs).
// Each client runs in its own process; runs alternate between the clients; the table shows medians.
import { execFileSync, fork } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Relay } from "./lib/relay.mjs";
import { disarmWatchdog, serversUnavailableReason, startSmtpSink } from "./lib/servers.mjs";
import { median } from "./lib/stats.mjs";

const WORKER = fileURLToPath(new URL("pool-client.mjs", import.meta.url));
const README = fileURLToPath(new URL("README.md", import.meta.url));
const BIOME = fileURLToPath(new URL("../node_modules/.bin/biome", import.meta.url));
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    "update-readme": { type: "boolean", default: false },
  },
});
const ROUNDS = opts.rounds ? Math.max(1, Number(opts.rounds)) : opts.quick ? 1 : 3;
const LOOPBACK_MESSAGES = opts.quick ? 5000 : 20_000;
const COUNT_MESSAGES = 2000;
const DELAYED_MESSAGES = opts.quick ? 400 : 1000;
const WARMUP = opts.quick ? 2000 : 5000;
const CLIENTS = [
  { key: "pool", title: "smtpkit createPool" },
  { key: "nodemailer-pool", title: "nodemailer pool" },
  { key: "nodemailer-x4", title: "nodemailer SMTPConnection ×4" },
];

/** One run of one client in a fresh process; `relay` (optional) sits between it and the server. */
function runOnce(client, target, spec, relay) {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [client], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let rt0 = 0;
    let rt = 0;
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${client}: run timed out`));
    }, 300_000);
    child.on("message", (m) => {
      if (m.type === "hello") {
        clearTimeout(timer);
        resolve(m);
      } else if (m.type === "ready") {
        rt0 = relay?.roundTrips ?? 0;
        child.send({ type: "go" });
      } else if (m.type === "sent") {
        rt = (relay?.roundTrips ?? 0) - rt0;
        child.send({ type: "go" });
      } else if (m.type === "result") {
        clearTimeout(timer);
        if (m.fatal) reject(new Error(`${client}: ${m.fatal}`));
        else resolve({ ...m, roundTrips: rt });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code) reject(new Error(`${client} exited with ${code}`));
    });
    if (client !== "none")
      child.send({ type: "run", spec: { ...spec, host: target.host, port: target.port } });
  });
}

async function main() {
  const reason = serversUnavailableReason();
  if (reason) {
    console.error(`bench:pool: ${reason}`);
    process.exit(2);
  }
  const started = Date.now();
  const load0 = os.loadavg()[0];
  const sink = await startSmtpSink();
  const rows = [];
  try {
    const bare = [];
    for (let i = 0; i < 3; i++) bare.push((await runOnce("none", sink, {})).maxRSS);
    const bareKiB = median(bare);
    const results = Object.fromEntries(CLIENTS.map((c) => [c.key, { loop: [], count: [], delayed: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = CLIENTS.map((_, i) => CLIENTS[(i + round) % CLIENTS.length]);
      for (const c of order) {
        const r = await runOnce(c.key, sink, { messages: LOOPBACK_MESSAGES, warmup: WARMUP });
        results[c.key].loop.push(r);
        console.error(
          `bench:pool: round ${round + 1} ${c.title}: ${((LOOPBACK_MESSAGES / r.elapsedMs) * 1000).toFixed(0)} msgs/s`,
        );
      }
    }
    for (const c of CLIENTS) {
      const counting = new Relay(sink, 0);
      const port = await counting.listen();
      results[c.key].count.push(
        await runOnce(
          c.key,
          { host: "127.0.0.1", port },
          { messages: COUNT_MESSAGES, warmup: 200 },
          counting,
        ),
      );
      await counting.close();
      const delayed = new Relay(sink, 10);
      const dport = await delayed.listen();
      results[c.key].delayed.push(
        await runOnce(
          c.key,
          { host: "127.0.0.1", port: dport },
          { messages: DELAYED_MESSAGES, warmup: 100 },
          delayed,
        ),
      );
      await delayed.close();
      console.error(`bench:pool: ${c.title}: round trips counted, 20 ms RTT done`);
    }
    for (const c of CLIENTS) {
      const r = results[c.key];
      const rate = median(r.loop.map((x) => (LOOPBACK_MESSAGES / x.elapsedMs) * 1000));
      const cpu = median(r.loop.map((x) => x.cpuUs / LOOPBACK_MESSAGES));
      const rss = median(r.loop.map((x) => (x.maxRSS - bareKiB) / 1024));
      const rtLoop = r.count[0].roundTrips / COUNT_MESSAGES;
      const d = r.delayed[0];
      rows.push({
        title: c.title,
        rate,
        cpu,
        rss,
        rtLoop,
        delayedRate: (DELAYED_MESSAGES / d.elapsedMs) * 1000,
        rtDelayed: d.roundTrips / DELAYED_MESSAGES,
      });
    }
    const peer = rows.find((r) => r.title === "nodemailer pool");
    const lines = [
      `Environment: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} · Node ${process.version} · ${os.cpus().length} CPU · ${ROUNDS} round(s) · ${LOOPBACK_MESSAGES} msgs per loopback run (medians), RT counted over ${COUNT_MESSAGES}, ${DELAYED_MESSAGES} msgs at 20 ms RTT · run took ${Math.round((Date.now() - started) / 1000)} s · load average ${load0.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end (shared machine)`,
      "",
      "| client (smtp-sink, 1 KiB, 1 rcpt, 4 conn, all submitted at once) | loopback msgs/s | / nodemailer pool | RT/msg loopback | CPU µs/msg | peak RSS − bare, MiB | 20 ms RTT msgs/s | RT/msg at 20 ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${r.title} | ${Math.round(r.rate).toLocaleString("en")} | ${(r.rate / peer.rate).toFixed(2)} | ${r.rtLoop.toFixed(2)} | ${Math.round(r.cpu)} | ${r.rss.toFixed(1)} | ${r.delayedRate.toFixed(0)} | ${r.rtDelayed.toFixed(2)} |`,
      ),
      "",
      `Bare node with smtpkit and nodemailer loaded: peak RSS ${(bareKiB / 1024).toFixed(1)} MiB. RT/msg: round trips per message per connection, counted by the relay over the measured phase (each connection's round trips summed, divided by the messages).`,
    ];
    const table = lines.join("\n");
    console.log(table);
    if (opts["update-readme"]) {
      const readme = readFileSync(README, "utf8");
      const start = "<!-- pool-table:start -->";
      const end = "<!-- pool-table:end -->";
      const i = readme.indexOf(start);
      const j = readme.indexOf(end);
      if (i < 0 || j < 0) throw new Error("bench/README.md has no pool-table markers");
      writeFileSync(README, `${readme.slice(0, i + start.length)}\n${table}\n${readme.slice(j)}`);
      // the table as Biome formats markdown (npm run lint checks it)
      execFileSync(BIOME, ["format", "--write", README], { stdio: "ignore" });
    }
  } finally {
    await sink.stop();
    disarmWatchdog();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

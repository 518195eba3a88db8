// npm run bench [-- --quick] [-- --rounds N] [-- --only TEXT] [-- --update-readme]
//
// Runs smtpkit and nodemailer (SMTPConnection, one message at a time per connection) side by side against
// Postfix's smtp-sink (PIPELINING, no CHUNKING) and a private Postfix smtpd (PIPELINING + CHUNKING, STARTTLS,
// discarding), each client run in its own process, alternating A/B/A/B, and prints one markdown table of
// medians, ratios and round trips per message. See bench/README.md for the method.
import { execFileSync, fork } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { composedRows } from "./compose.mjs";
import { Relay } from "./lib/relay.mjs";
import {
  CA_FILE,
  disarmWatchdog,
  LOOPBACK,
  serversUnavailableReason,
  startPostfix,
  startSmtpSink,
} from "./lib/servers.mjs";
import { median } from "./lib/stats.mjs";
import { nodemailerTransportBench, TRANSPORT_LABEL } from "./nodemailer-bench.mjs";

// `npm run bench -- outbox`: the outbox benchmark (bench/outbox.mjs) instead of the client benchmark
if (process.argv[2] === "outbox")
  await import("./outbox.mjs").then(() => process.exit(process.exitCode ?? 0));

const HERE = new URL("./", import.meta.url);
const CLIENT = fileURLToPath(new URL("client.mjs", HERE));
const RESULTS_DIR = fileURLToPath(new URL("results/", HERE));
const README = fileURLToPath(new URL("README.md", HERE));
const DIST = fileURLToPath(new URL("../dist/index.js", HERE));
const BIOME = fileURLToPath(new URL("../node_modules/.bin/biome", HERE));

const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    only: { type: "string" },
    "update-readme": { type: "boolean", default: false },
    "postfix-queue": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opts.help) {
  console.log(`usage: npm run bench [-- options]
  --quick          1 round, 500 messages per loopback run, 100 at 20 ms RTT, fewer delayed scenarios
  --rounds N       rounds per scenario on loopback (default 3; runs alternate A/B/A/B)
  --only TEXT      only the scenarios whose label contains TEXT
  --update-readme  also replace the table in bench/README.md
  --postfix-queue  Postfix queues every message (cleanup, qmgr, discard) instead of passing it to
                   smtp-sink as a before-queue proxy filter (slower server; the client figures compress)`);
  process.exit(0);
}

const QUICK = opts.quick;
const ROUNDS = opts.rounds ? Math.max(1, Number(opts.rounds)) : QUICK ? 1 : 3;
const LOOPBACK_MESSAGES = QUICK ? 500 : 2000;
const COUNT_MESSAGES = QUICK ? 100 : 200; // the round-trip counting pass on loopback
const DELAYED_MESSAGES = QUICK ? 100 : 200;
const WARMUP = QUICK ? 50 : 100; // messages sent on each run's connections before its measured phase
const JIT = QUICK ? 1000 : 3000;
/** [client, mode, server, recipients, messages]: the workers' warm-up before anything is measured */
const WARMUP_RUNS = [
  ["smtpkit", "awaited", "sink", 1, JIT],
  ["nodemailer", "awaited", "sink", 1, JIT],
  ["raw", "awaited", "sink", 1, JIT],
  ["smtpkit", "queued", "sink", 1, JIT],
  ["smtpkit", "awaited", "sink", 20, JIT / 4],
  ["nodemailer", "awaited", "sink", 20, JIT / 4],
  ["smtpkit", "awaited", "postfix", 1, JIT / 3],
  ["nodemailer", "awaited", "postfix", 1, JIT / 3],
  ["smtpkit", "queued", "postfix", 1, JIT / 3],
];
const ONE_WAY_DELAY_MS = 10;
/** The two run lengths whose whole-process CPU difference gives the marginal CPU per message. */
const MARGINAL_RUNS = [2000, 20000];
const RUN_TIMEOUT_MS = 180_000;

const SMTPKIT = { key: "smtpkit", client: "smtpkit", mode: "awaited", title: "smtpkit" };
const QUEUED = { key: "queued", client: "smtpkit", mode: "queued", title: "smtpkit queued (16)" };
const NODEMAILER = { key: "nodemailer", client: "nodemailer", mode: "awaited", title: "nodemailer" };
/** the floor: a minimal hand-written client (DATA only, so smtp-sink only); not in the table's columns */
const RAW = { key: "raw", client: "raw", mode: "awaited", title: "minimal client" };

// ---- scenarios -----------------------------------------------------------------------------------------------

function scenarios() {
  const list = [];
  const serverName = {
    sink: "smtp-sink (PIPELINING)",
    postfix: `Postfix (CHUNKING${opts["postfix-queue"] ? ", queue" : ""})`,
    postfixQueue: "Postfix (CHUNKING, queue)",
    postfixData: "Postfix (no CHUNKING, queue)",
  };
  for (const server of ["sink", "postfix"]) {
    for (const connections of [1, 4]) {
      for (const recipients of [1, 20]) {
        list.push({
          kind: "small",
          server,
          label: `${serverName[server]} · 1 KiB · ${recipients} rcpt · ${connections} conn`,
          body: "1k",
          messages: LOOPBACK_MESSAGES,
          recipients,
          connections,
          delay: 0,
          variants: server === "sink" ? [SMTPKIT, QUEUED, NODEMAILER, RAW] : [SMTPKIT, QUEUED, NODEMAILER],
        });
      }
    }
  }
  const delayed = QUICK
    ? [{ recipients: 1, connections: 1 }]
    : [
        { recipients: 1, connections: 1 },
        // fewer messages: this one only shows that recipients add no round trip, and it is slow
        { recipients: 20, connections: 1, messages: DELAYED_MESSAGES / 2 },
        { recipients: 1, connections: 4 },
      ];
  for (const server of ["sink", "postfix"]) {
    for (const { recipients, connections, messages = DELAYED_MESSAGES } of delayed) {
      list.push({
        kind: "delayed",
        server,
        label: `${serverName[server]} · 1 KiB · ${recipients} rcpt · ${connections} conn · 20 ms RTT, ${messages} msgs`,
        body: "1k",
        messages,
        recipients,
        connections,
        delay: ONE_WAY_DELAY_MS,
        variants: [SMTPKIT, QUEUED, NODEMAILER],
      });
    }
  }
  for (const [server, tls] of [
    ["sink", false],
    ["postfixQueue", false],
    ["postfixQueue", true],
  ]) {
    list.push({
      kind: "big",
      server,
      label: `${serverName[server]} · 50 MiB, dot lines · ${tls ? "STARTTLS" : "clear"}`,
      body: "50m",
      messages: 1,
      recipients: 1,
      connections: 1,
      tls,
      delay: 0,
      variants: [SMTPKIT, NODEMAILER],
    });
  }
  // BDAT's window at 20 ms RTT: the same Postfix and queue, with CHUNKING (BDAT) and without (DATA)
  for (const server of ["postfixQueue", "postfixData"]) {
    list.push({
      kind: "big",
      server,
      label: `${serverName[server]} · 50 MiB, dot lines · clear · 20 ms RTT`,
      body: "50m",
      messages: 1,
      recipients: 1,
      connections: 1,
      tls: false,
      delay: ONE_WAY_DELAY_MS,
      variants: [SMTPKIT, NODEMAILER],
    });
  }
  // marginal CPU per message of the whole process: fresh workers sending 2 000 and 20 000 messages
  list.push({
    kind: "marginal",
    server: "sink",
    label: `${serverName.sink} · 1 KiB · 1 rcpt · 1 conn · marginal CPU, whole process (${MARGINAL_RUNS.join(" vs ")} msgs)`,
    body: "1k",
    messages: MARGINAL_RUNS[1],
    recipients: 1,
    connections: 1,
    delay: 0,
    variants: [SMTPKIT, NODEMAILER],
  });
  return list.filter((s) => !opts.only || s.label.includes(opts.only));
}

// ---- client workers -------------------------------------------------------------------------------------

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A client.mjs process for one client; runs are sent to it one at a time. */
class Worker {
  constructor(client) {
    this.client = client;
    this.child = fork(CLIENT, [client], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.add(this.child);
    this.handler = undefined;
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        children.delete(this.child);
        this.dead = `exited (${signal ?? code})`;
        this.handler?.({ type: "result", fatal: `the ${client} worker ${this.dead}` });
        resolve();
      });
    });
    this.child.on("error", (err) => this.handler?.({ type: "result", fatal: err.message }));
    this.hello = new Promise((resolve) => {
      this.handler = (m) => {
        if (m.type === "hello" || m.fatal) resolve(m);
      };
    });
    this.child.on("message", (m) => this.handler?.(m));
  }

  /** One run; with a relay, the round trips of the measured phase are counted. */
  async run(spec, relay) {
    await this.hello;
    if (this.dead) throw new Error(`the ${this.client} worker ${this.dead}`);
    return new Promise((resolve, reject) => {
      let rt0 = 0;
      let rt1 = 0;
      let extensions;
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`run timed out after ${RUN_TIMEOUT_MS / 1000} s`));
      }, RUN_TIMEOUT_MS);
      this.handler = (m) => {
        if (m.type === "ready") {
          extensions = m.extensions;
          rt0 = relay ? relay.roundTrips : 0;
          this.child.send({ type: "go" });
        } else if (m.type === "sent") {
          rt1 = relay ? relay.roundTrips : 0;
          this.child.send({ type: "go" });
        } else if (m.type === "result") {
          clearTimeout(timer);
          this.handler = undefined;
          if (m.fatal) reject(new Error(m.fatal));
          else resolve({ ...m, extensions, roundTrips: relay ? rt1 - rt0 : undefined });
        }
      };
      this.child.send({ type: "run", spec });
    });
  }

  async exit() {
    if (!this.dead) this.child.send({ type: "exit" });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Long-lived workers (one per client), replaced when one dies. */
const workers = new Map();
function worker(client) {
  let w = workers.get(client);
  if (!w || w.dead) {
    w = new Worker(client);
    workers.set(client, w);
  }
  return w;
}

/** One run in a fresh worker that exits afterwards (for peak RSS). */
async function freshRun(client, spec) {
  const w = new Worker(client);
  try {
    return await w.run(spec);
  } finally {
    await w.exit();
  }
}

/**
 * Marginal CPU per message, whole process (user + system, and user alone): per round and client, a fresh
 * worker sends MARGINAL_RUNS[0] messages and another MARGINAL_RUNS[1], one connection, each send awaited;
 * the difference of their total CPU over the difference of the counts leaves out start-up, module loading,
 * connection set-up and JIT warm-up. Clients alternate, and the first one rotates each round.
 */
async function marginalRuns(sc, base, entry, problems) {
  const [small, large] = MARGINAL_RUNS;
  for (let r = 0; r < ROUNDS; r++) {
    const order = sc.variants.map((_, i) => sc.variants[(i + r) % sc.variants.length]);
    for (const v of order) {
      try {
        const spec = { ...base, mode: v.mode, warmup: 0 };
        const a = await freshRun(v.client, { ...spec, messages: small });
        const b = await freshRun(v.client, { ...spec, messages: large });
        if (a.errors.length > 0 || b.errors.length > 0) {
          problems.push(`${v.title} · ${sc.label}: ${[...a.errors, ...b.errors].join("; ")}`);
          continue;
        }
        const n = large - small;
        entry.runs[v.key].push({
          sent: b.sent,
          marginalUs: (b.processUserUs + b.processSystemUs - a.processUserUs - a.processSystemUs) / n,
          marginalUserUs: (b.processUserUs - a.processUserUs) / n,
          marginalSystemUs: (b.processSystemUs - a.processSystemUs) / n,
          elapsedMs: b.elapsedMs,
          cpuUserUs: b.processUserUs,
          cpuSystemUs: b.processSystemUs,
          maxRSS: b.maxRSS,
          errors: [],
        });
      } catch (err) {
        problems.push(`${v.title} · ${sc.label}: ${err.message}`);
      }
    }
  }
}

// ---- statistics and formatting ---------------------------------------------------------------------------

function fmt(x, digits = 0) {
  if (x === undefined || !Number.isFinite(x)) return "—";
  if (digits === 0 && Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  return x.toFixed(digits);
}

const MiB = 1024 * 1024;

// ---- main ----------------------------------------------------------------------------------------------------

async function main() {
  const reason = serversUnavailableReason();
  if (reason) {
    console.error(`bench: cannot run: ${reason}`);
    process.exit(2);
  }
  if (!existsSync(DIST)) {
    console.error("bench: dist/index.js missing: run `npm run build` first (npm run bench does)");
    process.exit(2);
  }
  const list = scenarios();
  // the nodemailer transport rows (issue #14), also selected by --only
  const transportRows = !opts.only || `nodemailer transport ${TRANSPORT_LABEL}`.includes(opts.only);
  if (list.length === 0 && !transportRows) {
    console.error(`bench: no scenario matches --only ${JSON.stringify(opts.only)}`);
    process.exit(64);
  }
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  if (loadAtStart > os.cpus().length / 2) {
    console.error(
      `bench: warning: load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} CPU(s): other processes are busy, the figures will be noisy`,
    );
  }
  const servers = {};
  const stoppers = [];
  const relays = [];
  const results = [];
  const problems = [];
  try {
    servers.sink = await startSmtpSink();
    stoppers.push(() => servers.sink.stop());
    const postfix = await startPostfix({ proxyTo: servers.sink.port });
    stoppers.push(() => postfix.stop());
    servers.postfixQueue = { name: "postfix", host: LOOPBACK, port: postfix.port };
    servers.postfixData = { name: "postfix", host: LOOPBACK, port: postfix.dataPort };
    servers.postfix = opts["postfix-queue"]
      ? servers.postfixQueue
      : { name: "postfix", host: LOOPBACK, port: postfix.proxyPort };
    console.error(
      `bench: smtp-sink on ${LOOPBACK}:${servers.sink.port}, Postfix on ${LOOPBACK}:${postfix.port} (queue) ` +
        `and :${postfix.proxyPort} (proxy → smtp-sink); ${ROUNDS} round(s)${QUICK ? " (quick)" : ""}`,
    );

    // the RSS baseline: bare node + smtpkit loaded
    const baseRuns = [];
    for (let i = 0; i < 3; i++) {
      const w = new Worker("none");
      baseRuns.push((await w.hello).maxRSS);
      await w.exit();
    }
    const baselineRSS = median(baseRuns) * 1024;
    console.error(`bench: bare node with smtpkit loaded: peak RSS ${fmt(baselineRSS / MiB, 1)} MiB`);

    // JIT warm-up of the long-lived workers, on every code path the runs take (not measured)
    const tw = Date.now();
    const warmupRuns = list.some((sc) => sc.kind !== "big") ? WARMUP_RUNS : [];
    for (const [client, mode, server, recipients, messages] of warmupRuns) {
      try {
        await worker(client).run({
          host: LOOPBACK,
          port: servers[server].port,
          connections: 1,
          messages,
          recipients,
          body: "1k",
          mode,
          window: 16,
          warmup: 0,
        });
      } catch (err) {
        problems.push(`warm-up ${client} ${mode} → ${server}: ${err.message}`);
      }
    }
    console.error(`bench: JIT warm-up: ${((Date.now() - tw) / 1000).toFixed(1)} s`);

    const extensionsSeen = {};
    for (const sc of list) {
      const t0 = Date.now();
      const server = servers[sc.server];
      const base = {
        host: LOOPBACK,
        port: server.port,
        connections: sc.connections,
        messages: sc.messages,
        recipients: sc.recipients,
        body: sc.body,
        tls: !!sc.tls,
        ca: CA_FILE,
        window: 16,
        warmup: sc.kind === "small" ? WARMUP : 0,
      };
      const entry = { scenario: sc, runs: {}, rt: {} };
      for (const v of sc.variants) entry.runs[v.key] = [];
      let relay;
      if (sc.delay > 0) {
        relay = new Relay(server, sc.delay);
        relays.push(relay);
        base.port = await relay.listen();
      }
      if (sc.kind === "marginal") {
        await marginalRuns(sc, base, entry, problems);
        results.push(entry);
        console.error(`bench: ${sc.label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        continue;
      }
      const rounds = sc.kind === "delayed" ? 1 : ROUNDS;
      for (let r = 0; r < rounds; r++) {
        // alternate, and rotate who goes first each round
        const order = sc.variants.map((_, i) => sc.variants[(i + r) % sc.variants.length]);
        for (const v of order) {
          try {
            const spec = { ...base, mode: v.mode };
            const res =
              sc.kind === "big" ? await freshRun(v.client, spec) : await worker(v.client).run(spec, relay);
            if (v !== RAW) extensionsSeen[`${v.client} → ${server.name}`] ??= res.extensions;
            entry.runs[v.key].push(res);
            if (relay) entry.rt[v.key] = res.roundTrips / Math.max(1, res.sent);
            if (res.errors.length > 0) {
              problems.push(
                `${v.title} · ${sc.label}: ${sc.messages - res.sent} of ${sc.messages} failed: ${res.errors.join("; ")}`,
              );
            }
          } catch (err) {
            problems.push(`${v.title} · ${sc.label}: ${err.message}`);
          }
        }
      }
      if (relay) {
        await relay.close();
      } else if (sc.kind === "small") {
        // the round-trip counting pass: the same client through a relay that only counts
        const counter = new Relay(server, 0);
        relays.push(counter);
        const port = await counter.listen();
        for (const v of sc.variants.filter((x) => x !== RAW)) {
          try {
            const res = await worker(v.client).run(
              { ...base, port, messages: COUNT_MESSAGES, warmup: 20, mode: v.mode },
              counter,
            );
            entry.rt[v.key] = res.roundTrips / Math.max(1, res.sent);
            if (res.errors.length > 0)
              problems.push(`${v.title} · ${sc.label} (counting pass): ${res.errors.join("; ")}`);
          } catch (err) {
            problems.push(`${v.title} · ${sc.label} (counting pass): ${err.message}`);
          }
        }
        await counter.close();
      }
      results.push(entry);
      console.error(`bench: ${sc.label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }

    const report = buildReport(results, baselineRSS, extensionsSeen, problems, started, loadAtStart);
    if (transportRows) {
      const transport = await nodemailerTransportBench({
        servers,
        ca: CA_FILE,
        rounds: ROUNDS,
        messages: QUICK ? 200 : 1000,
        warmup: QUICK ? 50 : 200,
        log: (line) => console.error(line),
      });
      problems.push(...transport.problems);
      report.text = list.length > 0 ? `${report.text}\n\n${transport.text}` : transport.text;
    }
    console.log(report.text);
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(`${RESULTS_DIR}latest.md`, `${report.text}\n`);
    // every run's raw figures, for a closer look
    const raw = results.map((e) => ({
      scenario: e.scenario.label,
      roundTripsPerMessage: e.rt,
      runs: Object.fromEntries(
        Object.entries(e.runs).map(([k, runs]) => [
          k,
          runs.map((r) => ({
            sent: r.sent,
            elapsedMs: Math.round(r.elapsedMs * 10) / 10,
            cpuUserUs: r.cpuUserUs,
            cpuSystemUs: r.cpuSystemUs,
            maxRSSKiB: r.maxRSS,
            roundTrips: r.roundTrips,
            errors: r.errors,
          })),
        ]),
      ),
    }));
    writeFileSync(
      `${RESULTS_DIR}latest.json`,
      `${JSON.stringify({ baselineRSS, problems, results: raw }, null, 1)}\n`,
    );
    console.error(
      `bench: written to bench/results/latest.md (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
    if (opts["update-readme"]) updateReadme(report.text);
    if (problems.length > 0) process.exitCode = 1;
    // the composed-mail rows (sendMail() with text, html, a PDF, DKIM; bench/compose.mjs)
    if (!opts.only)
      console.log(`\n${await composedRows({ quick: QUICK, rounds: opts.rounds ? ROUNDS : undefined })}`);
  } finally {
    for (const w of workers.values()) await w.exit().catch(() => undefined);
    for (const relay of relays) await relay.close().catch(() => undefined);
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    disarmWatchdog();
  }
}

// ---- the report ----------------------------------------------------------------------------------------------

function buildReport(results, baselineRSS, extensionsSeen, problems, started, loadAtStart) {
  const rows = [];
  const header =
    "| Scenario | Metric | smtpkit | smtpkit queued | nodemailer | smtpkit / nm | queued / nm | RT/msg smtpkit | RT/msg queued | RT/msg nm | spread |";
  const sep = "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|";
  /** The largest (max − min) / median over the variants' runs of a row: how noisy the row is. */
  const spread = (entry, f) => {
    let worst;
    for (const v of entry.scenario.variants) {
      const xs = (entry.runs[v.key] ?? []).filter((r) => r.sent > 0).map(f);
      if (xs.length < 2) continue;
      const m = median(xs);
      const s = (Math.max(...xs) - Math.min(...xs)) / m;
      if (Number.isFinite(s)) worst = Math.max(worst ?? 0, s);
    }
    return worst === undefined ? "" : `${Math.round(worst * 100)}%`;
  };
  const checks = [];
  const floors = [];
  const med = (entry, key, f) => {
    const runs = (entry.runs[key] ?? []).filter((r) => r.sent > 0);
    return runs.length ? median(runs.map(f)) : undefined;
  };
  const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  /** A check that MiB/s `a` is at least `min` × MiB/s `b`. */
  const mibpsAtLeast = (what, a, b, min) =>
    checks.push({
      what,
      value: ratio(a, b),
      ok: (x) => x >= min,
      show: (x) => `${fmt(x, 2)} × (${fmt(a, 1)} vs ${fmt(b, 1)} MiB/s)`,
    });
  const rtCell = (entry, key) => fmt(entry.rt[key], 2);

  for (const entry of results) {
    const sc = entry.scenario;
    const has = (k) => sc.variants.some((v) => v.key === k);
    if (sc.kind === "marginal") {
      const metrics = [
        ["CPU µs/msg, user + system (sendRaw vs SMTPConnection.send; lower is better)", (r) => r.marginalUs],
        ["CPU µs/msg, user", (r) => r.marginalUserUs],
        ["CPU µs/msg, system", (r) => r.marginalSystemUs],
      ];
      for (const [metric, f] of metrics) {
        const [ours, theirs] = ["smtpkit", "nodemailer"].map((k) => med(entry, k, f));
        rows.push(
          `| ${sc.label} | ${metric} | ${fmt(ours, 1)} | — | ${fmt(theirs, 1)} | ${fmt(ratio(ours, theirs), 2)} | — | | | | ${spread(entry, f)} |`,
        );
      }
      const [a, n] = ["smtpkit", "nodemailer"].map((k) => med(entry, k, (r) => r.marginalUs));
      checks.push({
        what: `marginal CPU/msg (whole process) ≤ 0.8 × nodemailer SMTPConnection · ${sc.label}`,
        value: ratio(a, n),
        ok: (x) => x <= 0.8,
        show: (x) => `${fmt(x, 2)} × (${fmt(a, 1)} vs ${fmt(n, 1)} µs/msg)`,
      });
      continue;
    }
    if (sc.kind === "small" || sc.kind === "delayed") {
      const rate = (r) => (r.sent / r.elapsedMs) * 1000;
      const cpu = (r) => r.cpuUs / r.sent;
      const [a, q, n] = ["smtpkit", "queued", "nodemailer"].map((k) => med(entry, k, rate));
      const rt = `${rtCell(entry, "smtpkit")} | ${rtCell(entry, "queued")} | ${rtCell(entry, "nodemailer")}`;
      rows.push(
        `| ${sc.label} | msgs/s | ${fmt(a)} | ${fmt(q)} | ${fmt(n)} | ${fmt(ratio(a, n), 2)} | ${fmt(ratio(q, n), 2)} | ${rt} | ${spread(entry, rate)} |`,
      );
      const [ca, cq, cn] = ["smtpkit", "queued", "nodemailer"].map((k) => med(entry, k, cpu));
      if (has("raw")) {
        floors.push(
          `- ${sc.label}: ${fmt(med(entry, "raw", rate))} msgs/s, ${fmt(med(entry, "raw", cpu))} µs/msg ` +
            `(0.6 × nodemailer would be ${fmt(cn === undefined ? undefined : 0.6 * cn)} µs/msg)`,
        );
      }
      if (sc.kind === "small") {
        rows.push(
          `| ${sc.label} | CPU µs/msg (lower is better) | ${fmt(ca)} | ${fmt(cq)} | ${fmt(cn)} | ${fmt(ratio(ca, cn), 2)} | ${fmt(ratio(cq, cn), 2)} | | | | ${spread(entry, cpu)} |`,
        );
        checks.push({
          what: `CPU/msg ≤ 0.6 × nodemailer · ${sc.label}`,
          value: ratio(ca, cn),
          ok: (x) => x <= 0.6,
          show: (x) => `${fmt(x, 2)} × (${fmt(ca)} vs ${fmt(cn)} µs)`,
        });
        if (sc.connections === 4) {
          checks.push({
            what: `msgs/s ≥ 1.5 × nodemailer · ${sc.label}`,
            value: ratio(Math.max(a ?? 0, q ?? 0) || undefined, n),
            ok: (x) => x >= 1.5,
            show: (x) => `${fmt(x, 2)} × (best smtpkit ${fmt(Math.max(a ?? 0, q ?? 0))} vs ${fmt(n)} msgs/s)`,
          });
        }
      }
      // round-trip targets
      if (sc.server === "sink") {
        checks.push({
          what: `RT/msg awaited ≤ 2.1 (PIPELINING) · ${sc.label}`,
          value: entry.rt.smtpkit,
          ok: (x) => x <= 2.1,
          show: (x) => fmt(x, 2),
        });
        checks.push({
          what: `RT/msg queued ≤ 1.2 (PIPELINING) · ${sc.label}`,
          value: entry.rt.queued,
          ok: (x) => x <= 1.2,
          show: (x) => fmt(x, 2),
        });
      } else {
        checks.push({
          what: `RT/msg ≤ 1.1 (CHUNKING) · ${sc.label}`,
          value: entry.rt.smtpkit,
          ok: (x) => x <= 1.1,
          show: (x) => fmt(x, 2),
        });
      }
    } else {
      const mbps = (r) => r.bytes / MiB / (r.elapsedMs / 1000);
      const rss = (r) => (r.maxRSS * 1024 - baselineRSS) / MiB;
      const cpu = (r) => r.cpuUs / 1000 / (r.bytes / MiB);
      const [a, n] = ["smtpkit", "nodemailer"].map((k) => (has(k) ? med(entry, k, mbps) : undefined));
      const [ra, rn] = ["smtpkit", "nodemailer"].map((k) => (has(k) ? med(entry, k, rss) : undefined));
      const [ca, cn] = ["smtpkit", "nodemailer"].map((k) => (has(k) ? med(entry, k, cpu) : undefined));
      rows.push(
        `| ${sc.label} | MiB/s | ${fmt(a, 1)} | — | ${fmt(n, 1)} | ${fmt(ratio(a, n), 2)} | — | | | | ${spread(entry, mbps)} |`,
      );
      rows.push(
        `| ${sc.label} | peak RSS − bare node+smtpkit, MiB (lower is better) | ${fmt(ra, 1)} | — | ${fmt(rn, 1)} | | — | | | | |`,
      );
      rows.push(
        `| ${sc.label} | CPU ms/MiB (lower is better) | ${fmt(ca, 2)} | — | ${fmt(cn, 2)} | ${fmt(ratio(ca, cn), 2)} | — | | | | ${spread(entry, cpu)} |`,
      );
      mibpsAtLeast(`MiB/s ≥ 0.95 × nodemailer · ${sc.label}`, a, n, 0.95);
      checks.push({
        what: `peak RSS ≤ bare + 16 MiB · ${sc.label}`,
        value: ra,
        ok: (x) => x <= 16,
        show: (x) => `+${fmt(x, 1)} MiB`,
      });
      entry.mbps = a;
    }
  }
  // BDAT ≥ 0.9 × DATA at 20 ms RTT (smtpkit, the same Postfix with and without CHUNKING)
  const delayedBig = (server) =>
    results.find((e) => e.scenario.kind === "big" && e.scenario.delay > 0 && e.scenario.server === server);
  const bdat = delayedBig("postfixQueue");
  const data = delayedBig("postfixData");
  if (bdat && data) {
    const what = "50 MiB at 20 ms RTT: BDAT ≥ 0.9 × DATA (smtpkit, Postfix queue)";
    mibpsAtLeast(what, bdat.mbps, data.mbps, 0.9);
  }
  // TLS ≥ 0.8 × clear (Postfix)
  const big = results.filter(
    (e) => e.scenario.kind === "big" && e.scenario.server === "postfixQueue" && e.scenario.delay === 0,
  );
  const clear = big.find((e) => !e.scenario.tls);
  const tls = big.find((e) => e.scenario.tls);
  if (clear && tls)
    mibpsAtLeast("50 MiB over STARTTLS ≥ 0.8 × clear (smtpkit, Postfix)", tls.mbps, clear.mbps, 0.8);

  const postfixVersion = (() => {
    try {
      const out = execFileSync("/usr/sbin/postconf", ["-d", "mail_version"], { encoding: "utf8" });
      return `Postfix ${out.split("=")[1]?.trim() ?? "?"}`;
    } catch {
      return "";
    }
  })();
  const env = [
    `${new Date().toISOString().slice(0, 19)}Z`,
    `Node ${process.version}`,
    `${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}`,
    `Linux ${os.release()}`,
    postfixVersion,
    `${ROUNDS} round(s)${QUICK ? " (--quick)" : ""}`,
    `${LOOPBACK_MESSAGES} msgs per loopback run, RT counted over ${COUNT_MESSAGES} on loopback`,
    `run took ${((Date.now() - started) / 1000).toFixed(0)} s`,
    `load average ${loadAtStart.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end`,
  ].filter(Boolean);
  const lines = [
    `Environment: ${env.join(" · ")}`,
    "",
    header,
    sep,
    ...rows,
    "",
    `Bare node with smtpkit loaded: peak RSS ${fmt(baselineRSS / MiB, 1)} MiB. Ratios are smtpkit / nodemailer (msgs/s and MiB/s: higher is better; CPU: lower is better). RT/msg = client round trips per message (sending phase only). Spread = the largest (max − min) / median among the row's clients over the rounds. Delayed (20 ms RTT) rows are one run each.`,
    "",
    "Targets (issue #6):",
    "",
    ...checks.map((c) => {
      const state =
        c.value === undefined || !Number.isFinite(c.value) ? "n/a " : c.ok(c.value) ? "PASS" : "FAIL";
      return `- ${state} ${c.what}: ${c.value === undefined || !Number.isFinite(c.value) ? "—" : c.show(c.value)}`;
    }),
  ];
  if (floors.length > 0) {
    lines.push(
      "",
      "Floor — a minimal hand-written client (one write for MAIL+RCPT+DATA, one for message + terminator, replies only counted; bench/client.mjs `raw`), same runs:",
      "",
      ...floors,
    );
  }
  if (problems.length > 0) {
    lines.push("", "Problems during the run:", "", ...problems.map((p) => `- ${p}`));
  }
  lines.push(
    "",
    "Extensions each client saw (EHLO after STARTTLS where used):",
    "",
    ...Object.entries(extensionsSeen).map(([k, v]) => `- ${k}: ${(v ?? []).join(", ")}`),
  );
  return { text: lines.join("\n") };
}

function updateReadme(text) {
  const start = "<!-- bench-table:start -->";
  const end = "<!-- bench-table:end -->";
  const readme = readFileSync(README, "utf8");
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) {
    console.error("bench: README.md has no table markers; not updated");
    return;
  }
  writeFileSync(README, `${readme.slice(0, i + start.length)}\n${text}\n${readme.slice(j)}`);
  // the project's formatter also formats markdown (it aligns the table): keep `npm run lint` clean
  try {
    execFileSync(BIOME, ["format", "--write", README], { stdio: "ignore" });
  } catch {
    console.error("bench: could not run biome format on bench/README.md");
  }
  console.error("bench: bench/README.md updated");
}

main().catch((err) => {
  console.error(`bench: ${err.stack ?? err}`);
  process.exitCode = 1;
});

// The nodemailer transport rows of `npm run bench`: nodemailer's sendMail() (text + html + 100 KiB attachment,
// pool of 4 connections) with its own SMTP pool vs with smtpkitTransport({ pool }), same invocation, runs
// alternating. The composer (nodemailer's MailComposer, base64 of the attachment) is the same on both sides.
import { execFile } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { median } from "./lib/stats.mjs";

const CLIENT = fileURLToPath(new URL("nodemailer-client.mjs", import.meta.url));
export const TRANSPORT_LABEL = "nodemailer sendMail · text + html + 100 KiB attachment · pool of 4";
const TARGET = 1.3;

function runClient(spec) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLIENT, JSON.stringify(spec)],
      { timeout: 300_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout.trim().split("\n").pop()));
        } catch {
          reject(new Error(`no result from the client: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

const fmt = (x, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/**
 * Runs the scenarios against `servers` ({ sink, postfix } with host/port) and returns the markdown rows,
 * the PASS/FAIL lines and any problems.
 */
export async function nodemailerTransportBench({ servers, ca, rounds, messages, warmup, log }) {
  const scenarios = [
    { label: `smtp-sink (PIPELINING) · clear · ${TRANSPORT_LABEL}`, server: servers.sink, tls: false },
    { label: `Postfix (CHUNKING) · STARTTLS · ${TRANSPORT_LABEL}`, server: servers.postfix, tls: true },
  ];
  const loadAtStart = os.loadavg()[0];
  const rows = [];
  const targets = [];
  const problems = [];
  for (const sc of scenarios) {
    const t0 = Date.now();
    const runs = { nodemailer: [], smtpkit: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ["nodemailer", "smtpkit"] : ["smtpkit", "nodemailer"];
      for (const transport of order) {
        const spec = {
          transport,
          host: sc.server.host,
          port: sc.server.port,
          tls: sc.tls,
          ca,
          connections: 4,
          window: 32,
          messages,
          warmup,
        };
        try {
          const res = await runClient(spec);
          if (res.errors.length > 0) problems.push(`${transport} · ${sc.label}: ${res.errors.join("; ")}`);
          runs[transport].push(res);
        } catch (error) {
          problems.push(`${transport} · ${sc.label}: ${error.message}`);
        }
      }
    }
    const rate = (k) => median(runs[k].map((x) => (x.sent / x.elapsedMs) * 1000));
    const cpu = (k) => median(runs[k].map((x) => x.cpuUs / Math.max(1, x.sent)));
    if (runs.nodemailer.length === 0 || runs.smtpkit.length === 0) continue;
    const [ours, theirs] = [rate("smtpkit"), rate("nodemailer")];
    const [ourCpu, theirCpu] = [cpu("smtpkit"), cpu("nodemailer")];
    rows.push(
      `| ${sc.label} | msgs/s | ${fmt(theirs)} | ${fmt(ours)} | ${fmt(ours / theirs, 2)} |`,
      `| ${sc.label} | CPU µs/msg (lower is better) | ${fmt(theirCpu)} | ${fmt(ourCpu)} | ${fmt(ourCpu / theirCpu, 2)} |`,
    );
    targets.push(
      `- ${ours / theirs >= TARGET ? "PASS" : "FAIL"} msgs/s ≥ ${TARGET} × nodemailer's own transport · ${sc.label}: ` +
        `${fmt(ours / theirs, 2)} × (${fmt(ours)} vs ${fmt(theirs)} msgs/s)`,
    );
    log(`bench: ${sc.label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const table = [
    "| Scenario | Metric | nodemailer's SMTP pool | smtpkitTransport({ pool }) | smtpkit / nm |",
    "| --- | --- | ---: | ---: | ---: |",
    ...rows,
  ];
  const text = [
    `nodemailer transport (issue #14): ${rounds} round(s), ${messages} messages per run after ${warmup} unmeasured, ` +
      "32 sendMail() calls outstanding, 4 connections; medians; each run in a fresh process (CPU = user + system). " +
      `Node ${process.version}, ${os.cpus().length} CPU(s), load average ${loadAtStart.toFixed(1)} at start, ` +
      `${os.loadavg()[0].toFixed(1)} at end.`,
    "",
    ...table,
    "",
    `Targets (issue #14):`,
    "",
    ...targets,
  ].join("\n");
  return { text, problems };
}

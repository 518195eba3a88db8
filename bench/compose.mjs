// Composed-mail rows (issue 10): smtpkit's sendMail() vs nodemailer's transporter.sendMail() (pool: true, one
// connection), same content, against smtp-sink. Each run is a fresh process per client, alternating A/B/A/B;
// medians. Run by bench/run.mjs after its own table, or alone:
//   node bench/compose.mjs [--quick] [--rounds N] [--rows abcd]
import { execFileSync } from "node:child_process";
import { generateKeyPairSync as keyPair, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LOOPBACK, serversUnavailableReason, startSmtpSink } from "./lib/servers.mjs";
import { median } from "./lib/stats.mjs";

const WORKER = fileURLToPath(new URL("compose-client.mjs", import.meta.url));
const MiB = 1024 * 1024;

/** One client run in its own process; its last line of output is the JSON result. */
function run(spec) {
  const out = execFileSync(process.execPath, [WORKER, JSON.stringify(spec)], {
    encoding: "utf8",
    timeout: 300_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return JSON.parse(out.trim().split("\n").pop());
}

/** A plausible 100 KiB PDF: a header, then incompressible bytes (as a PDF's compressed streams are). */
function pdfBytes() {
  const head = Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "latin1");
  return Buffer.concat([head, randomBytes(100 * 1024 - head.length)]);
}

export async function composedRows({ quick = false, rounds, rows: only = "abcd" } = {}) {
  const ROUNDS = rounds ?? (quick ? 1 : 3);
  const MESSAGES = quick ? 200 : 1000;
  const WARMUP = quick ? 100 : 300;
  const dir = mkdtempSync(join(os.tmpdir(), "smtpkit-bench-compose-"));
  const sink = await startSmtpSink();
  try {
    const pdf = join(dir, "invoice.pdf");
    writeFileSync(pdf, pdfBytes());
    const big = join(dir, "big.bin");
    writeFileSync(big, randomBytes(50 * MiB));
    const key = join(dir, "dkim.pem");
    const rsa = keyPair("rsa", { modulusLength: 2048 }).privateKey;
    writeFileSync(key, rsa.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    const base = { host: LOOPBACK, port: sink.port, pdf, big, key };
    const baseline = median([0, 1, 2].map(() => run({ ...base, client: "none" }).maxRSS)) / 1024;
    const rows = [];
    const labels = {
      a: "(a) text + html, 1 KiB each",
      b: "(b) (a) + 100 KiB PDF from disk",
      c: "(c) (b) DKIM-signed, RSA 2048",
      d: "(d) one 50 MiB attachment from disk",
    };
    for (const row of ["a", "b", "c", "d"].filter((r) => only.includes(r))) {
      const results = { smtpkit: [], nodemailer: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? ["smtpkit", "nodemailer"] : ["nodemailer", "smtpkit"];
        for (const client of order) {
          const spec =
            row === "d"
              ? { ...base, client, row, messages: 1, warmup: 0 }
              : { ...base, client, row, messages: MESSAGES, warmup: WARMUP };
          results[client].push(run(spec));
        }
      }
      const m = (client, f) => median(results[client].map(f));
      if (row === "d") {
        const mbs = (c) => m(c, (x) => 50 / (x.elapsedMs / 1000));
        const rss = (c) => m(c, (x) => x.maxRSS / 1024);
        rows.push(
          `| ${labels[row]} | ${mbs("smtpkit").toFixed(0)} MiB/s | ${mbs("nodemailer").toFixed(0)} MiB/s | ` +
            `${(mbs("smtpkit") / mbs("nodemailer")).toFixed(2)} × | peak RSS ${rss("smtpkit").toFixed(0)} vs ` +
            `${rss("nodemailer").toFixed(0)} MiB (bare node + smtpkit: ${baseline.toFixed(0)} MiB) |`,
        );
      } else {
        const cpu = (c) => m(c, (x) => x.cpuUs / x.sent);
        const rate = (c) => m(c, (x) => x.sent / (x.elapsedMs / 1000));
        rows.push(
          `| ${labels[row]} | ${cpu("smtpkit").toFixed(0)} µs · ${rate("smtpkit").toFixed(0)} msgs/s | ` +
            `${cpu("nodemailer").toFixed(0)} µs · ${rate("nodemailer").toFixed(0)} msgs/s | ` +
            `${(cpu("smtpkit") / cpu("nodemailer")).toFixed(2)} × CPU | ${(rate("smtpkit") / rate("nodemailer")).toFixed(2)} × msgs/s |`,
        );
      }
      console.error(`bench: composed ${labels[row]} done`);
    }
    const load = os.loadavg()[0].toFixed(1);
    return [
      `Composed mail against smtp-sink, one connection, one message at a time (${ROUNDS} round(s), ${MESSAGES} messages` +
        ` per run after ${WARMUP} warm-up; load average ${load} on ${os.cpus().length} CPUs):`,
      "",
      "| row | smtpkit sendMail() (CPU/msg · rate) | nodemailer sendMail() pool, 1 conn | smtpkit / nodemailer | |",
      "|---|---|---|---|---|",
      ...rows,
    ].join("\n");
  } finally {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, rounds: { type: "string" }, rows: { type: "string" } },
  });
  const reason = serversUnavailableReason();
  if (reason) {
    console.error(`bench: cannot run: ${reason}`);
    process.exit(2);
  }
  console.log(
    await composedRows({
      quick: values.quick,
      rounds: values.rounds ? Number(values.rounds) : undefined,
      rows: values.rows,
    }),
  );
}

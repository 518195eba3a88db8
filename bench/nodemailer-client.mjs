// One measured run of nodemailer's sendMail() (text + html + a 100 KiB attachment) through a pooled transport:
// nodemailer's own SMTP pool, or smtpkitTransport({ pool }). Run as a child process by nodemailer-bench.mjs, so
// process.cpuUsage() is this transport's alone; prints one JSON line.
//   node bench/nodemailer-client.mjs '{"transport":"smtpkit","host":"127.0.0.1","port":25,...}'
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import nodemailer from "nodemailer";
import { smtpkitTransport } from "../dist/nodemailer/index.js";

const spec = JSON.parse(process.argv[2]);
const ca = spec.ca ? readFileSync(spec.ca) : undefined;
const tls = { ca, servername: "localhost" };

function transporter() {
  if (spec.transport === "nodemailer") {
    return nodemailer.createTransport({
      host: spec.host,
      port: spec.port,
      name: "client.bench.test",
      pool: true,
      maxConnections: spec.connections,
      maxMessages: Number.POSITIVE_INFINITY,
      ...(spec.tls ? { requireTLS: true, tls } : { ignoreTLS: true }),
    });
  }
  return nodemailer.createTransport(
    smtpkitTransport({
      host: spec.host,
      port: spec.port,
      clientName: "client.bench.test",
      pool: { maxConnections: spec.connections, maxMessagesPerConnection: 1_000_000 },
      ...(spec.tls ? { security: "starttls", tls } : { security: "none" }),
    }),
  );
}

const attachment = randomBytes(100 * 1024);
const mail = (i) => ({
  from: "Bench <bench@example.test>",
  to: "reader@example.test",
  subject: `Bench message ${i}`,
  text: `Hello,\n\nthis is message ${i}.\n`,
  html: `<p>Hello,</p><p>this is message <b>${i}</b>.</p>`,
  attachments: [{ filename: "report.bin", content: attachment }],
});

/** Sends `count` messages, keeping `window` sendMail() calls outstanding; resolves with the failures. */
async function send(t, from, count, window) {
  const errors = [];
  let next = from;
  const end = from + count;
  const lane = async () => {
    while (next < end) {
      const i = next++;
      try {
        await t.sendMail(mail(i));
      } catch (error) {
        errors.push(`${error.code ?? ""} ${error.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return errors;
}

const t = transporter();
// warm-up (not measured): connections open, JIT warm on the path
await send(t, 0, spec.warmup, spec.window);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const errors = await send(t, spec.warmup, spec.messages, spec.window);
const elapsedMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
t.close();
console.log(
  JSON.stringify({
    sent: spec.messages - errors.length,
    elapsedMs,
    cpuUs: cpu.user + cpu.system,
    errors: errors.slice(0, 3),
  }),
);
// nodemailer's pool closes its connections in the background; do not wait for the QUITs
setTimeout(() => process.exit(0), 200).unref();

// A pool benchmark worker for ONE client, in its own process (its CPU time and peak RSS are its own).
// Started by bench/pool.mjs: node bench/pool-client.mjs pool|nodemailer-pool|nodemailer-x4|none
// One run per process, over IPC:
//   parent → {type:"run", spec}   spec: { host, port, messages, warmup }
//   child  → {type:"ready"}        warm-up done (connections open, code optimised)
//   parent → {type:"go"}           (the parent snapshots its relay's round-trip counter)
//   child  → {type:"sent"}         every message of the measured phase was answered
//   parent → {type:"go"}
//   child  → {type:"result", …}    after closing
// "pool" and "nodemailer-pool" get every message of a phase submitted at once (that is what a pool is for);
// "nodemailer-x4" is four SMTPConnections, each sending its share one message at a time.
import { oneKiBMessage } from "./lib/message.mjs";
import { next, send } from "./lib/worker-ipc.mjs";

const CLIENT = process.argv[2];
const FROM = "sender@client.bench.test";
const TO = ["rcpt1@bench.test"];

const ONE_KIB = oneKiBMessage(FROM);

async function poolClient(spec) {
  const { createPool } = await import("../dist/index.js");
  const pool = createPool({ host: spec.host, port: spec.port, security: "none", maxConnections: 4 });
  return {
    phase: (n) => Promise.all(Array.from({ length: n }, () => pool.sendRaw(FROM, TO, ONE_KIB))),
    close: () => pool.close(),
    connections: () => pool.stats.open,
  };
}

async function nodemailerPoolClient(spec) {
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: spec.host,
    port: spec.port,
    secure: false,
    ignoreTLS: true,
    name: "client.bench.test",
    pool: true,
    maxConnections: 4,
  });
  return {
    phase: (n) =>
      Promise.all(
        Array.from({ length: n }, () =>
          transport.sendMail({ envelope: { from: FROM, to: TO }, raw: ONE_KIB }),
        ),
      ),
    close: async () => transport.close(),
    connections: () => 4,
  };
}

async function nodemailerX4Client(spec) {
  const { default: SMTPConnection } = await import("nodemailer/lib/smtp-connection");
  const open = () =>
    new Promise((resolve, reject) => {
      const c = new SMTPConnection({
        host: spec.host,
        port: spec.port,
        ignoreTLS: true,
        name: "client.bench.test",
      });
      c.once("error", reject);
      c.connect(() => resolve(c));
    });
  const connections = await Promise.all([open(), open(), open(), open()]);
  const sendOn = (c) =>
    new Promise((ok, fail) =>
      c.send({ from: FROM, to: TO }, ONE_KIB, (err, info) => (err ? fail(err) : ok(info))),
    );
  return {
    phase: (n) =>
      Promise.all(
        connections.map(async (c, i) => {
          const count = Math.floor(n / 4) + (i < n % 4 ? 1 : 0);
          for (let k = 0; k < count; k++) await sendOn(c);
        }),
      ),
    close: async () => {
      for (const c of connections) c.quit();
    },
    connections: () => 4,
  };
}

async function main() {
  const clients = {
    pool: poolClient,
    "nodemailer-pool": nodemailerPoolClient,
    "nodemailer-x4": nodemailerX4Client,
  };
  if (CLIENT === "none") {
    await import("../dist/index.js");
    await import("nodemailer");
    await send({ type: "hello", maxRSS: process.resourceUsage().maxRSS });
    return;
  }
  const { spec } = await next("run");
  const client = await clients[CLIENT](spec);
  if (spec.warmup > 0) await client.phase(spec.warmup);
  await send({ type: "ready" });
  await next("go");
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await client.phase(spec.messages);
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  await send({ type: "sent" });
  await next("go");
  await client.close();
  await send({
    type: "result",
    elapsedMs,
    cpuUs: cpu.user + cpu.system,
    maxRSS: process.resourceUsage().maxRSS,
  });
}

main().then(
  () => process.disconnect?.(),
  async (err) => {
    await send({ type: "result", fatal: String(err?.stack ?? err) });
    process.disconnect?.();
  },
);

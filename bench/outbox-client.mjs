// One side of the outbox benchmark, in its own process (forked by bench/outbox.mjs), talking over IPC.
//   node outbox-client.mjs worker smtpkit|peer   a worker: drains the queue, reports completion times
//   node outbox-client.mjs producer smtpkit|peer an open-loop producer: enqueues at a fixed rate
// smtpkit: smtpkit/outbox (createOutbox; work() over 4 SMTP connections). peer: BullMQ's Queue/Worker with
// nodemailer's pooled SMTP transport (maxConnections 4), the same mail, the same concurrency.
import { hrtime } from "node:process";

const client = process.argv[3]; // argv[2] is the role, for `ps`: both roles answer every command
const { redis, queue, sinkPort, concurrency } = JSON.parse(process.env.OUTBOX_BENCH);
const now = () => Number(hrtime.bigint() / 1000n); // µs, CLOCK_MONOTONIC: comparable across processes

/** ~1 KiB on the wire once headers are added. */
const TEXT = `${"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ".repeat(9)}\n`;
const mail = (n) => ({
  from: "bench@example.com",
  to: [`rcpt${n % 100}@example.org`],
  subject: `bench ${n}`,
  text: TEXT,
});

async function smtpkitSide() {
  const { createOutbox } = await import("../dist/outbox/index.js");
  const outbox = createOutbox({
    redis,
    queue,
    relay: { host: "127.0.0.1", port: sinkPort, security: "none", maxConnections: 4 },
    retry: { delays: [1000] },
    enqueueTimeout: 30_000, // a shared machine under load: a slow Redis reply is not an outage here
  });
  return {
    enqueueMany: (mails) => outbox.enqueueMany(mails.map((m) => ({ mail: m }))),
    enqueue: async (m) => (await outbox.enqueue(m)).id,
    work(onSent) {
      outbox.on("sent", (e) => onSent(e.id));
      outbox.on("failed", (e) => process.send({ failed: e.error }));
      outbox.work({ concurrency });
    },
    close: () => outbox.close(),
  };
}

async function peerSide() {
  const { Queue, Worker } = await import("bullmq");
  const { Redis } = await import("ioredis");
  const nodemailer = (await import("nodemailer")).default;
  const connection = new Redis(redis, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection });
  let worker;
  let transport;
  const jobOpts = {
    attempts: 2,
    backoff: { type: "fixed", delay: 1000 },
    removeOnComplete: { age: 86400 },
    removeOnFail: { age: 86400 },
  };
  return {
    enqueueMany: (mails) => q.addBulk(mails.map((m) => ({ name: "mail", data: m, opts: jobOpts }))),
    enqueue: async (m) => (await q.add("mail", m, jobOpts)).id,
    work(onSent) {
      transport = nodemailer.createTransport({
        pool: true,
        maxConnections: 4,
        maxMessages: Number.POSITIVE_INFINITY,
        host: "127.0.0.1",
        port: sinkPort,
        secure: false,
        ignoreTLS: true,
      });
      worker = new Worker(
        queue,
        async (job) => {
          const info = await transport.sendMail(job.data);
          return { accepted: info.accepted, messageId: info.messageId };
        },
        { connection: connection.duplicate({ maxRetriesPerRequest: null }), concurrency },
      );
      worker.on("completed", (job) => onSent(job.id));
      worker.on("failed", (_job, err) => process.send({ failed: err.message }));
    },
    async close() {
      await worker?.close();
      transport?.close();
      await q.close();
      connection.disconnect();
    },
  };
}

const side = client === "smtpkit" ? await smtpkitSide() : await peerSide();

process.on("message", async (msg) => {
  if (msg.cmd === "fill") {
    // pre-enqueue for the drain run, in batches
    for (let i = 0; i < msg.count; i += 1000) {
      await side.enqueueMany(Array.from({ length: Math.min(1000, msg.count - i) }, (_, k) => mail(i + k)));
    }
    process.send({ filled: msg.count });
  } else if (msg.cmd === "work") {
    const done = [];
    let first = 0;
    side.work((id) => {
      const t = now();
      if (first === 0) first = t;
      done.push([id, t]);
      if (done.length === msg.expect) {
        process.send({
          finished: {
            count: done.length,
            startedAt: msg.startedAt,
            first,
            last: t,
            times: msg.wantTimes ? done : undefined,
            cpu: process.cpuUsage(),
          },
        });
      }
    });
    process.send({ working: now() });
  } else if (msg.cmd === "produce") {
    // open loop: every 10 ms, the messages due by now are started, whether or not earlier ones finished
    const { rate, seconds } = msg;
    const total = rate * seconds;
    const started = now();
    const scheduled = [];
    const pending = [];
    let n = 0;
    while (n < total) {
      const due = Math.min(total, Math.floor(((now() - started) / 1e6) * rate) + 1);
      for (; n < due; n++) {
        const at = started + Math.round((n / rate) * 1e6); // the intended time: latency includes producer lag
        pending.push(side.enqueue(mail(n)).then((id) => scheduled.push([id, at])));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(pending);
    process.send({ produced: scheduled, lagMs: (now() - started) / 1000 - seconds * 1000 });
  } else if (msg.cmd === "close") {
    await side.close();
    process.send({ closed: true });
    process.exit(0);
  }
});
process.send({ ready: true });

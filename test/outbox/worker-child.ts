// A worker in its own process, for the crash tests: started with the queue and relay in the environment,
// it prints "ready" once its worker runs; the test kills it with SIGKILL at chosen moments.
import { createOutbox } from "../../src/outbox/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const outbox = createOutbox({
  redis: env("OUTBOX_REDIS"),
  queue: env("OUTBOX_QUEUE"),
  relay: { host: "127.0.0.1", port: Number(env("OUTBOX_RELAY_PORT")), security: "none", maxConnections: 2 },
  retry: { delays: [100, 100, 100] },
  // a dead worker's messages come back within lockDuration + stalledInterval
  stalled: { lockDuration: 1_000, stalledInterval: 500, maxStalledCount: 100 },
});
outbox.work({ concurrency: Number(process.env.OUTBOX_CONCURRENCY ?? "4") });
process.stdout.write("ready\n");
// the test's end of stdin closes when the test process goes away, however it ends: never outlive it
process.stdin.resume();
process.stdin.on("end", () => process.exit(1));
process.on("SIGTERM", () => {
  void outbox.close().then(() => process.exit(0));
});

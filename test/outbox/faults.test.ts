// The outbox under crashes: a worker killed with SIGKILL at chosen moments, a worker stopped with SIGTERM
// under load (the CLI), and redis-server killed and restarted (AOF). Each asserts that nothing is lost
// and counts duplicates; every duplicate must be explained by a kill after its end of data had arrived.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SMTPError } from "../../src/index.js";
import { createOutbox, type Enqueued, type Outbox } from "../../src/outbox/index.js";
import { workDir, writeConfig } from "../cli/sendmail-helpers.js";
import { BIN, oneLine, smtpkit } from "../helpers/cli-runner.js";
import { sleep, waitUntil } from "../helpers/servers/common.js";
import { type RedisServer, redisUnavailableReason, startRedis } from "../helpers/servers/redis.js";
import { type Relay, type RelayMessage, startRelay } from "./relay.js";

const skip = redisUnavailableReason();
const CHILD = fileURLToPath(new URL("./worker-child.js", import.meta.url));

/** messageId -> copies the relay accepted. */
function copiesById(messages: RelayMessage[]): Map<string, RelayMessage[]> {
  const out = new Map<string, RelayMessage[]>();
  for (const m of messages) out.set(m.messageId, [...(out.get(m.messageId) ?? []), m]);
  return out;
}

/** Every worker child started, killed in `after` if a test left one running. */
const children = new Set<ChildProcess>();

function startChild(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      if (s.includes("ready")) resolve(child);
    });
  });
}

function killNow(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  child.kill("SIGKILL");
  return gone;
}

describe("outbox faults", { skip }, () => {
  let redis: RedisServer;
  let relay: Relay;
  const open: Outbox[] = [];

  before(async () => {
    redis = await startRedis();
    relay = await startRelay();
  });
  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    for (const o of open) await o.close();
    await relay?.stop();
    await redis?.stop();
  });

  const mail = (n: number) => ({
    from: "sender@example.com",
    to: [`rcpt${n}@example.org`],
    subject: `message ${n}`,
    text: `Hello ${n}\n`,
  });

  function outbox(queue: string): Outbox {
    const o = createOutbox({
      redis: redis.url,
      queue,
      relay: { host: "127.0.0.1", port: relay.port, security: "none", maxConnections: 2 },
      retry: { delays: [100, 100, 100] },
      stalled: { lockDuration: 1_000, stalledInterval: 500, maxStalledCount: 100 },
    });
    open.push(o);
    return o;
  }

  async function allSent(o: Outbox, enqueued: Enqueued[], timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const states = await Promise.all(enqueued.map((e) => o.status(e.id)));
        return states.every((s) => s?.state === "sent") ? true : undefined;
      },
      timeoutMs,
      "every message sent",
      200,
    );
  }

  test("worker killed with SIGKILL 10 times (random, after the final dot, after the reply): 0 lost, duplicates explained", {
    timeout: 90_000,
  }, async () => {
    const queue = `kill-${randomUUID()}`;
    const producer = outbox(queue);
    const total = 400;
    const enqueued = await producer.enqueueMany(Array.from({ length: total }, (_, i) => ({ mail: mail(i) })));
    const base = relay.accepted().length;
    const kills: { at: number; how: string }[] = [];
    const env = { OUTBOX_REDIS: redis.url, OUTBOX_QUEUE: queue, OUTBOX_RELAY_PORT: String(relay.port) };
    // the relay answers slowly enough that a kill finds messages in every phase
    const slow = { beforeReply: () => sleep(5) };
    for (let k = 0; k < 10; k++) {
      const child = await startChild(env);
      const how = ["random", "after the final dot, before the reply", "after the reply, before the ack"][
        k % 3
      ]!;
      if (how === "random") {
        relay.script = slow;
        await sleep(300 + Math.random() * 700);
        kills.push({ at: Date.now(), how });
        await killNow(child);
      } else {
        const armedAfter = relay.accepted().length + 5 + Math.floor(Math.random() * 20);
        let fired = false;
        const armed = new Promise<void>((resolve) => {
          relay.script =
            how === "after the final dot, before the reply"
              ? {
                  beforeReply: async () => {
                    if (relay.accepted().length < armedAfter || fired) return sleep(5);
                    fired = true;
                    kills.push({ at: Date.now(), how });
                    await killNow(child); // the reply goes to a dead client: the message was accepted
                    resolve();
                  },
                }
              : {
                  beforeReply: slow.beforeReply,
                  afterReply: () => {
                    if (relay.accepted().length < armedAfter || fired) return;
                    fired = true;
                    kills.push({ at: Date.now(), how });
                    child.kill("SIGKILL");
                    resolve();
                  },
                };
        });
        // a worker that drains the queue before the trigger (nothing left to kill it on) is killed anyway
        await Promise.race([armed, sleep(10_000)]);
        if (!fired) {
          fired = true;
          kills.push({ at: Date.now(), how: "after 10 s without the trigger" });
          child.kill("SIGKILL");
        }
        await new Promise<void>((resolve) =>
          child.exitCode !== null || child.signalCode !== null
            ? resolve()
            : child.once("exit", () => resolve()),
        );
      }
    }
    relay.script = {};
    const last = await startChild(env);
    try {
      await allSent(producer, enqueued, 60_000);
    } finally {
      last.kill("SIGTERM");
    }
    const copies = copiesById(relay.accepted().slice(base));
    const lost = enqueued.filter((e) => !copies.has(e.messageId));
    assert.deepEqual(lost, [], "lost messages");
    let duplicates = 0;
    for (const [id, list] of copies) {
      for (let i = 1; i < list.length; i++) {
        duplicates++;
        const explained = kills.some(
          (kill) => list[i - 1]!.endOfData <= kill.at && kill.at <= list[i]!.endOfData,
        );
        assert.ok(
          explained,
          `duplicate ${id}: no kill between its end of data at ${list[i - 1]!.endOfData} and the copy`,
        );
      }
    }
    assert.ok(
      duplicates <= kills.length * 4,
      `${duplicates} duplicates for ${kills.length} kills at concurrency 4`,
    );
    process.stdout.write(
      `# kill -9 x${kills.length}: ${total} messages, 0 lost, ${duplicates} duplicates (each after a kill that followed its end of data)\n`,
    );
  });

  test("SIGTERM under load (smtpkit outbox work, relay from an msmtprc account): in-flight messages finish, 0 duplicates, 0 lost", {
    timeout: 60_000,
  }, async (t) => {
    // the relay comes from an account, as `smtpkit send --account` takes it (no --host on the command line)
    const work = workDir("smtpkit-outbox-account-");
    t.after(() => work.remove());
    const config = writeConfig(work.dir, "config", [
      "account relay",
      "host 127.0.0.1",
      `port ${relay.port}`,
      "tls off",
      "from outbox@example.test",
    ]);
    const queue = `term-${randomUUID()}`;
    const producer = outbox(queue);
    const total = 300;
    const enqueued = await producer.enqueueMany(Array.from({ length: total }, (_, i) => ({ mail: mail(i) })));
    const base = relay.accepted().length;
    relay.script = { beforeReply: () => sleep(10) };
    const cli = spawn(
      process.execPath,
      [
        BIN,
        "outbox",
        "work",
        "--redis",
        redis.url,
        "--queue",
        queue,
        "--concurrency",
        "8",
        "--config",
        config,
        "--account",
        "relay",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    cli.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => cli.once("exit", (code) => resolve(code)));
    await relay.waitForAccepted(base + 60, 20_000);
    cli.kill("SIGTERM");
    const signalled = relay.accepted().length;
    const code = await exited;
    assert.equal(code, 0, stderr);
    const atExit = relay.accepted().length;
    assert.ok(
      atExit - signalled <= 8 * 2,
      `${atExit - signalled} messages finished after the signal (concurrency 8)`,
    );
    relay.script = {};
    const drainer = outbox(queue);
    drainer.work({ concurrency: 8 });
    await allSent(producer, enqueued, 30_000);
    const copies = copiesById(relay.accepted().slice(base));
    assert.equal(copies.size, total);
    assert.ok(
      [...copies.values()].every((l) => l.length === 1),
      "no duplicates",
    );
    // smtpkit outbox status: the JSON status; an unknown id is exit 1 with one line
    const shown = await smtpkit([
      "outbox",
      "status",
      enqueued[0]!.id,
      "--redis",
      redis.url,
      "--queue",
      queue,
    ]);
    assert.equal(shown.code, 0, shown.stderr);
    const status = JSON.parse(shown.stdout) as { state: string; attempts: number; accepted: string[] };
    assert.deepEqual([status.state, status.attempts, status.accepted], ["sent", 1, ["rcpt0@example.org"]]);
    const unknown = await smtpkit(["outbox", "status", "no-such-id", "--redis", redis.url, "--queue", queue]);
    assert.equal(unknown.code, 1);
    assert.match(oneLine(unknown), /no message with id "no-such-id"/);
  });

  test("redis-server SIGKILL and restart (AOF): no acknowledged enqueue lost, producers and workers resume", {
    timeout: 60_000,
  }, async () => {
    const queue = `redis-${randomUUID()}`;
    const producer = createOutbox({ redis: redis.url, queue, enqueueTimeout: 1_000 });
    open.push(producer);
    const worker = outbox(queue);
    worker.work({ concurrency: 4 });
    relay.script = {};
    const base = relay.accepted().length;
    const acknowledged: Enqueued[] = [];
    let refused = 0;
    let stop = false;
    const produce = (async () => {
      for (let n = 0; !stop; n++) {
        try {
          acknowledged.push(await producer.enqueue(mail(n)));
        } catch (error) {
          assert.ok(error instanceof SMTPError && error.code === "ECONNECTION", String(error));
          refused++;
          await sleep(50);
        }
      }
    })();
    await waitUntil(() => (acknowledged.length >= 150 ? true : undefined), 20_000, "150 enqueued");
    await redis.kill();
    const killedAt = acknowledged.length;
    await sleep(1_500);
    await redis.restart();
    await waitUntil(
      () => (acknowledged.length >= killedAt + 150 ? true : undefined),
      30_000,
      "enqueues after the restart",
    );
    stop = true;
    await produce;
    assert.ok(refused > 0, "enqueue rejected while Redis was down");
    await allSent(producer, acknowledged, 30_000);
    const copies = copiesById(relay.accepted().slice(base));
    const lost = acknowledged.filter((e) => !copies.has(e.messageId));
    assert.deepEqual(lost, []);
    const duplicates = [...copies.values()].reduce((n, l) => n + l.length - 1, 0);
    process.stdout.write(
      `# redis SIGKILL: ${acknowledged.length} acknowledged, 0 lost, ${refused} enqueues refused while down, ${duplicates} duplicates\n`,
    );
  });
});

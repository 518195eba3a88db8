// smtpkit/outbox against a real redis-server (started here, AOF on) and a scriptable smtp-server relay:
// the outcome rules of API.md §7 — sent, retried, failed, throttled, partial — and the producer's rules.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Queue } from "bullmq";
import { createOutbox, type Outbox, type OutboxEvent, type OutboxOptions } from "../../src/outbox/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { startScriptServer } from "../helpers/script-server.js";
import { fixturePath, freePort, waitUntil } from "../helpers/servers/common.js";
import { type RedisServer, redisUnavailableReason, startRedis } from "../helpers/servers/redis.js";
import { type Relay, startRelay } from "./relay.js";

const skip = redisUnavailableReason();

describe("outbox", { skip }, () => {
  let redis: RedisServer;
  let relay: Relay;
  const open: Outbox[] = [];

  before(async () => {
    redis = await startRedis();
    relay = await startRelay();
  });
  after(async () => {
    for (const o of open) await o.close();
    await relay?.stop();
    await redis?.stop();
  });

  /** A fresh queue on the shared Redis, sending to the relay with test-sized delays. */
  function outbox(extra: Partial<OutboxOptions> = {}): Outbox {
    const o = createOutbox({
      redis: redis.url,
      queue: `q-${randomUUID()}`,
      relay: { host: "127.0.0.1", port: relay.port, security: "none", maxConnections: 2 },
      retry: { delays: [150, 150, 150] },
      throttle: { minDelay: 200, maxDelay: 800 },
      ...extra,
    });
    open.push(o);
    return o;
  }

  function record(o: Outbox): Record<string, OutboxEvent[]> {
    const events: Record<string, OutboxEvent[]> = { sent: [], retrying: [], failed: [], deliveryUnknown: [] };
    for (const name of ["sent", "retrying", "failed", "deliveryUnknown"] as const) {
      o.on(name, (e) => events[name]!.push(e));
    }
    return events;
  }

  const mail = (n: number, extra: Record<string, unknown> = {}) => ({
    from: "Outbox <sender@example.com>",
    to: [`rcpt${n}@example.org`],
    subject: `message ${n}`,
    text: `Hello ${n}\n.\nA line with a dot above.\n`,
    ...extra,
  });

  test("two producers, two workers: every message delivered once, with the Message-ID fixed at enqueue", async () => {
    relay.script = {};
    const queue = `q-${randomUUID()}`;
    const producerA = outbox({ queue });
    const producerB = outbox({ queue });
    const before = relay.accepted().length;
    const total = 300;
    const [a, b] = await Promise.all([
      producerA.enqueueMany(Array.from({ length: total / 2 }, (_, i) => ({ mail: mail(i) }))),
      Promise.all(Array.from({ length: total / 2 }, (_, i) => producerB.enqueue(mail(total / 2 + i)))),
    ]);
    const ids = [...a, ...b].map((r) => r.messageId);
    assert.equal(new Set(ids).size, total);
    const workerOutboxA = outbox({ queue });
    const workerOutboxB = outbox({ queue });
    const events = record(workerOutboxA);
    const eventsB = record(workerOutboxB);
    workerOutboxA.work({ concurrency: 8 });
    workerOutboxB.work({ concurrency: 8 });
    const got = (await relay.waitForAccepted(before + total, 30_000)).slice(before);
    const counts = new Map<string, number>();
    for (const m of got) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), [...ids].sort());
    assert.ok([...counts.values()].every((c) => c === 1));
    await waitUntil(
      () => (events.sent!.length + eventsB.sent!.length === total ? true : undefined),
      5_000,
      "sent events",
    );
    assert.ok(events.sent!.length > 0 && eventsB.sent!.length > 0, "both workers took a share");
    const status = await producerA.status(a[0]!.id);
    assert.equal(status?.state, "sent");
    assert.deepEqual(status?.accepted, ["rcpt0@example.org"]);
  });

  test("enqueue is idempotent on id: the second returns the first's Message-ID and sends nothing", async () => {
    relay.script = {};
    const o = outbox();
    const id = `order-${randomUUID()}`;
    const first = await o.enqueue(mail(1), { id });
    const second = await o.enqueue(mail(2, { subject: "a different message" }), { id });
    assert.deepEqual(second, first);
    const [third] = await o.enqueueMany([{ mail: mail(3), opts: { id } }]);
    assert.deepEqual(third, first);
    o.work({ concurrency: 2 });
    await waitUntil(async () => ((await o.status(id))?.state === "sent" ? true : undefined), 10_000, "sent");
    const again = await o.enqueue(mail(4), { id });
    assert.deepEqual(again, first, "still the first after it was sent");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(relay.accepted().filter((m) => m.messageId === first.messageId).length, 1);
    assert.equal((await o.status(id))?.state, "sent");
  });

  test("html and an attachment by path: stored as a path, read and sent by the worker", async () => {
    relay.script = {};
    const o = outbox();
    const file = fixturePath("ca.pem");
    const r = await o.enqueue(
      mail(1, {
        html: "<p>Hello</p>",
        attachments: [{ path: file, filename: "ca.pem" }],
        priority: "high",
        inReplyTo: "<earlier@example.com>",
      }),
    );
    o.work({ concurrency: 1 });
    const [got] = await waitUntil(
      () => {
        const m = relay.accepted().filter((x) => x.messageId === r.messageId);
        return m.length > 0 ? m : undefined;
      },
      10_000,
      "the message",
    );
    const raw = got!.raw.toString();
    assert.match(raw, /multipart\/mixed/);
    assert.match(raw, /multipart\/alternative/);
    assert.match(raw, /filename="?ca\.pem"?/);
    assert.match(raw, /^X-Priority: 1/m);
    assert.match(raw, /^In-Reply-To: <earlier@example\.com>/m);
    const base64 = readFileSync(file).toString("base64").slice(0, 60);
    assert.ok(raw.replace(/\r\n/g, "").includes(base64), "the file's content, base64");
  });

  test("storage rules: up to 1 MiB in memory is stored; more, or a stream, is EINPUT at enqueue", async () => {
    const o = outbox();
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const ok = await o.enqueue(mail(1, { text: undefined, content: big }));
    assert.match(ok.messageId, /^<[^@]+@example\.com>$/);
    await rejectsWith(
      o.enqueue(mail(2, { text: undefined, content: Buffer.alloc(1024 * 1024 + 1, 0x61) })),
      "EINPUT",
    );
    await rejectsWith(o.enqueue(mail(3, { text: "x", html: Buffer.alloc(1024 * 1024, 0x61) })), "EINPUT");
    await rejectsWith(o.enqueue(mail(4, { text: Readable.from(["a"]) })), "EINPUT");
    await rejectsWith(o.enqueue(mail(5, { to: [] })), "EINPUT");
    await rejectsWith(o.enqueue(mail(6, { to: ["a@b.example, c@d.example"] })), "EINPUT");
    await rejectsWith(o.enqueue(mail(7, { headers: { "X-Evil": "a\r\nBcc: x@y.example" } })), "EINPUT");
    await rejectsWith(o.enqueue(mail(8, { icalEvent: { content: "BEGIN:VCALENDAR" } })), "EINPUT");
    await rejectsWith(
      o.enqueue(mail(9, { dkim: { domainName: "example.com", keySelector: "s", privateKey: "k" } })),
      "EINPUT",
    );
  });

  test("Redis unreachable: enqueue rejects within the deadline, nothing buffered", {
    timeout: 10_000,
  }, async () => {
    const port = await freePort();
    const o = createOutbox({ redis: `redis://127.0.0.1:${port}`, queue: "nowhere", enqueueTimeout: 800 });
    try {
      const started = Date.now();
      await rejectsWith(o.enqueue(mail(1)), "ECONNECTION");
      const took = Date.now() - started;
      assert.ok(took >= 700 && took < 3_000, `took ${took} ms`);
    } finally {
      await o.close();
    }
  });

  test("poison 552 after the data: failed once, never retried", async () => {
    const o = outbox();
    const events = record(o);
    const poison = await o.enqueue(mail(1, { subject: "poison" }));
    const fine = await o.enqueue(mail(2));
    relay.script = {
      data: (id) => (id === poison.messageId ? [552, "5.3.4 Message too big for you"] : undefined),
    };
    o.work({ concurrency: 2 });
    await waitUntil(
      async () => ((await o.status(poison.id))?.state === "failed" ? true : undefined),
      10_000,
      "failed",
    );
    await waitUntil(
      async () => ((await o.status(fine.id))?.state === "sent" ? true : undefined),
      10_000,
      "sent",
    );
    await new Promise((r) => setTimeout(r, 600)); // longer than every retry delay
    assert.equal(relay.attempts().filter((m) => m.messageId === poison.messageId).length, 1);
    const status = await o.status(poison.id);
    assert.equal(status?.attempts, 1);
    assert.match(status?.lastError ?? "", /552/);
    assert.equal(events.failed!.length, 1);
    assert.equal(events.retrying!.length, 0);
    assert.equal(events.failed![0]!.messageId, poison.messageId);
  });

  test("greylisting: 451 to the first RCPT, delivered after the retry", async () => {
    const o = outbox();
    const events = record(o);
    const seen = new Set<string>();
    relay.script = {
      rcpt: (address) => {
        if (!address.startsWith("grey")) return undefined;
        if (seen.has(address)) return undefined;
        seen.add(address);
        return [451, "4.7.1 Greylisted, try again later"];
      },
    };
    const r = await o.enqueue(mail(1, { to: ["grey@example.org"] }));
    o.work({ concurrency: 1 });
    await waitUntil(
      async () => ((await o.status(r.id))?.state === "sent" ? true : undefined),
      10_000,
      "sent",
    );
    const status = await o.status(r.id);
    assert.equal(status?.attempts, 2, "the greylisted attempt was charged");
    assert.equal(events.retrying!.length, 1);
    assert.equal(relay.accepted().filter((m) => m.messageId === r.messageId).length, 1);
  });

  test("partial acceptance: sent; only the 4xx-refused recipient gets a follow-up, same Message-ID", async () => {
    const o = outbox();
    const events = record(o);
    let refusedOnce = false;
    relay.script = {
      rcpt: (address) => {
        if (address.startsWith("full")) {
          if (refusedOnce) return undefined;
          refusedOnce = true;
          return [452, "4.2.2 Mailbox full"];
        }
        if (address.startsWith("nobody")) return [550, "5.1.1 No such user"];
        return undefined;
      },
    };
    const r = await o.enqueue(
      mail(1, { to: ["ok@example.org", "full@example.org"], cc: ["nobody@example.org"] }),
    );
    o.work({ concurrency: 1 });
    await waitUntil(
      () => (relay.accepted().filter((m) => m.messageId === r.messageId).length >= 2 ? true : undefined),
      10_000,
      "the follow-up",
    );
    const copies = relay.accepted().filter((m) => m.messageId === r.messageId);
    assert.deepEqual(
      copies.map((m) => m.recipients),
      [["ok@example.org"], ["full@example.org"]],
    );
    assert.equal(copies[1]!.raw.toString(), copies[0]!.raw.toString(), "the same message, headers and all");
    const status = await o.status(r.id);
    assert.equal(status?.state, "sent");
    assert.deepEqual(status?.accepted, ["ok@example.org"]);
    assert.deepEqual(
      status?.rejected.map((x) => [x.recipient, x.reply.code]),
      [
        ["full@example.org", 452],
        ["nobody@example.org", 550],
      ],
    );
    assert.equal(events.sent!.length, 2);
  });

  test("a 421 storm pauses the queue: no message fails, no attempt is charged, throughput comes back", async (t) => {
    const queue = `q-${randomUUID()}`;
    const o = outbox({ queue, throttle: { minDelay: 200, maxDelay: 1_000 } });
    const events = record(o);
    // the pause is the queue's, in Redis (every worker on every machine): watched from outside the outbox.
    // A manual pause (Queue.rateLimit) sets the limiter's count to MAX_SAFE_INTEGER; the workers' own
    // limiter never counts that high, so a ttl at that count is the pause and nothing else.
    const watcher = new Queue(queue, { connection: { host: redis.host, port: redis.port } });
    let pausedInRedis = false;
    const watch = setInterval(() => {
      void watcher.getRateLimitTtl(Number.MAX_SAFE_INTEGER).then((ttl) => {
        if (ttl > 0) pausedInRedis = true;
      });
    }, 50);
    t.after(async () => {
      clearInterval(watch);
      await watcher.close();
    });
    const stormMs = 4_000;
    let stormEnds = 0;
    let refused = 0;
    relay.script = {
      mail: () => {
        if (Date.now() >= stormEnds) return undefined;
        refused++;
        return [421, "4.7.0 Too many messages, slow down"];
      },
    };
    const total = 60;
    const enqueued = await o.enqueueMany(Array.from({ length: total }, (_, i) => ({ mail: mail(i) })));
    const before = relay.accepted().length;
    stormEnds = Date.now() + stormMs;
    o.work({ concurrency: 4 });
    await relay.waitForAccepted(before + total, stormMs + 15_000);
    assert.ok(pausedInRedis, "the queue was paused in Redis");
    const recovered = Date.now() - stormEnds;
    assert.ok(recovered < 10_000, `back to normal ${recovered} ms after the storm`);
    assert.equal(events.failed!.length, 0);
    assert.equal(events.retrying!.length, 0);
    const statuses = await Promise.all(enqueued.map((e) => o.status(e.id)));
    assert.ok(
      statuses.every((s) => s?.state === "sent" && s.attempts === 1),
      JSON.stringify(statuses.find((s) => s?.attempts !== 1)),
    );
    // the storm was met (the relay refused MAIL), and paused for, not hammered through (4 here)
    assert.ok(refused >= 1 && refused < 200, `${refused} MAIL commands refused during the storm`);
  });

  for (const policy of ["retry", "fail"] as const) {
    test(`connection lost after the end of data: deliveryUnknown, onDeliveryUnknown "${policy}"`, async () => {
      // every connection: the whole message is read, then the connection is reset before any reply
      const server = await startScriptServer([
        { send: "220 script ESMTP\r\n" },
        { expect: /^EHLO /, reply: "250 script\r\n" },
        { expect: /^MAIL FROM:/, reply: "250 ok\r\n" },
        { expect: /^RCPT TO:/, reply: "250 ok\r\n" },
        { expect: "DATA", reply: "354 go ahead\r\n" },
        { data: true },
        { destroy: true },
      ]);
      try {
        const o = outbox({
          relay: { host: "127.0.0.1", port: server.port, security: "none", maxConnections: 1 },
          retry: { delays: [100, 100] },
          onDeliveryUnknown: policy,
        });
        const events = record(o);
        const r = await o.enqueue(mail(1));
        o.work({ concurrency: 1 });
        await waitUntil(
          async () => ((await o.status(r.id))?.state === "failed" ? true : undefined),
          10_000,
          "failed",
        );
        const expected = policy === "retry" ? 3 : 1;
        assert.equal(events.deliveryUnknown!.length, expected);
        assert.equal(events.failed!.length, 1);
        assert.equal(server.messages.length, expected);
        for (const m of server.messages)
          assert.ok(m.includes(`Message-ID: ${r.messageId}`), "the same Message-ID each time");
        assert.match((await o.status(r.id))?.lastError ?? "", /delivery unknown/);
      } finally {
        await server.close();
      }
    });
  }
});

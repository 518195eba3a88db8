// createPool(): connections, pipelining, lifetimes, order, close/destroy, input checks (API.md §6).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { SMTPError } from "../../src/errors.js";
import { createPool } from "../../src/pool/pool.js";
import type { PoolOptions } from "../../src/pool/types.js";
import { fixturePath } from "../helpers/servers/common.js";
import { duplicates, type RelayServer, startRelayServer } from "./relay-server.js";

const mail = (i: number) => ({
  from: "Sender <sender@example.test>",
  to: `rcpt${i % 7}@example.test`,
  subject: `message ${i}`,
  text: `Hello number ${i}.\nA second line.\n`,
});

/** Every 10th mail carries a file by path, every 15th fresh in-memory bytes (a new buffer per message). */
const ATTACHED_FILE = fixturePath("localhost.pem");
const withAttachments = (i: number) => ({
  ...mail(i),
  attachments: [
    ...(i % 10 === 0 ? [{ path: ATTACHED_FILE }] : []),
    ...(i % 15 === 0 ? [{ filename: `blob-${i}.bin`, content: randomBytes(3000 + i) }] : []),
  ],
});

const poolFor = (server: RelayServer, options: Partial<PoolOptions> = {}) =>
  createPool({ host: "127.0.0.1", port: server.port, security: "none", ...options });

const seqOf = (data: string): number => Number(/^Subject: message (\d+)/m.exec(data)?.[1]);

describe("createPool", () => {
  test("300 messages over 3 connections: each delivered once, sessions reused, started in order", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 3 });
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => pool.sendMail(withAttachments(i))),
    );
    await pool.close();
    assert.equal(server.delivered.length, 300);
    // the attachments went with their own messages
    const fileStart = readFileSync(ATTACHED_FILE).toString("base64").slice(0, 60);
    for (const m of server.delivered) {
      const i = seqOf(m.data);
      assert.equal(m.data.includes(fileStart), i % 10 === 0, `message ${i}: the file`);
      assert.equal(m.data.includes(`blob-${i}.bin`), i % 15 === 0, `message ${i}: the bytes`);
    }
    assert.deepEqual(duplicates(server.delivered), []);
    assert.deepEqual(
      new Set(results.map((r) => r.messageId)),
      new Set(server.delivered.map((m) => m.messageId)),
    );
    assert.ok(server.sessions.length <= 3, `${server.sessions.length} sessions`);
    // each session saw its messages in submission order
    for (const s of server.sessions) {
      const seqs = server.delivered.filter((m) => m.session === s.id).map((m) => seqOf(m.data));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
    }
    assert.equal(server.quits, server.sessions.length);
    assert.deepEqual(pool.stats, { open: 0, busy: 0, queued: 0, sent: 300, failed: 0, throttled: 0 });
  });

  test("queued messages pipeline the next envelope with the previous end of data (1 round trip each)", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 1 });
    await Promise.all(Array.from({ length: 60 }, (_, i) => pool.sendMail(mail(i))));
    await pool.close();
    assert.equal(server.delivered.length, 60);
    // 59 transitions from one message to the next; allow a few to be split by the kernel
    assert.ok(
      server.pipelinedEnvelopes >= 55,
      `only ${server.pipelinedEnvelopes} of 59 envelopes rode with the end of data`,
    );
  });

  test("maxMessagesPerConnection: QUIT after that many, then a fresh connection", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 1, maxMessagesPerConnection: 3 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => pool.sendMail(mail(i))));
    await pool.close();
    assert.deepEqual(
      server.sessions.map((s) => s.accepted),
      [3, 3, 3, 1],
    );
    assert.equal(server.quits, 4);
  });

  test("idleTimeout: an idle connection QUITs", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { idleTimeout: 150 });
    await pool.sendMail(mail(1));
    assert.equal(pool.stats.open, 1);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal(server.quits, 1);
    assert.equal(pool.stats.open, 0);
    await pool.sendMail(mail(2)); // lazily opens a new one
    assert.equal(server.sessions.length, 2);
    await pool.close();
  });

  test("close() under load: every queued and in-flight message is sent, then QUIT; later sends reject", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 2 });
    const sends = Array.from({ length: 200 }, (_, i) => pool.sendMail(mail(i)));
    await new Promise((r) => setTimeout(r, 5));
    const closed = pool.close();
    await assert.rejects(pool.sendMail(mail(999)), (e: SMTPError) => e.code === "EABORT");
    const results = await Promise.allSettled(sends);
    await closed;
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 200);
    assert.equal(server.delivered.length, 200);
    assert.equal(server.quits, server.sessions.length);
    assert.equal(pool.stats.open, 0);
  });

  test("destroy() after the first message: the queued ones reject with EABORT, later sends too", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 1 });
    const first = pool.sendMail(mail(0));
    const rest = Array.from({ length: 20 }, (_, i) => pool.sendMail(mail(i + 1)));
    await first;
    pool.destroy();
    const outcomes = await Promise.allSettled(rest);
    const reasons = outcomes.map((o) => (o.status === "rejected" ? (o.reason as SMTPError).code : "sent"));
    // at most the two on the connection could have been sent; everything else was dropped with EABORT
    assert.ok(reasons.filter((r) => r === "sent").length <= 2, reasons.join(","));
    assert.ok(reasons.filter((r) => r === "EABORT").length >= 18, reasons.join(","));
    assert.equal(pool.stats.queued, 0);
    await assert.rejects(pool.sendMail(mail(99)), (e: SMTPError) => e.code === "EABORT");
  });

  test("bad input rejects with EINPUT before it is queued (no connection opened)", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server);
    const bad = [
      { ...mail(1), to: "a@b.example, c@d.example" },
      { ...mail(1), to: [] },
      { ...mail(1), subject: "x\r\nBcc: evil@example.test" },
      { ...mail(1), from: "not an address" },
      { ...mail(1), headers: { "X-A": "1\r\nX-B: 2" } },
      { ...mail(1), messageId: "no-brackets" },
      { ...mail(1), attachments: [{ filename: "neither-content-nor-path.pdf" }] },
    ];
    for (const m of bad) {
      await assert.rejects(
        pool.sendMail(m as never),
        (e: SMTPError) => e.code === "EINPUT",
        JSON.stringify(m),
      );
    }
    const badRaw: [string, string[], unknown][] = [
      ["a@b.example", [], "x"],
      ["a@b.example", ["c@d.example\r\nRCPT TO:<evil@example.test>"], "x"],
      ["not an address", ["c@d.example"], "x"],
      ["a@b.example", ["c@d.example"], 42],
    ];
    for (const [from, to, content] of badRaw) {
      await assert.rejects(
        pool.sendRaw(from, to, content as never),
        (e: SMTPError) => e.code === "EINPUT",
        JSON.stringify([from, to, content]),
      );
    }
    assert.equal(server.sessions.length, 0);
    assert.equal(pool.stats.queued, 0);
    pool.destroy();
  });

  test("maxQueued: beyond it sendMail rejects with EQUEUEFULL, the rest is sent", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server, { maxConnections: 1, maxQueued: 5 });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => pool.sendMail(mail(i))));
    const full = outcomes.filter(
      (o) => o.status === "rejected" && (o.reason as SMTPError).code === "EQUEUEFULL",
    );
    assert.equal(full.length, 15);
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 5);
    assert.equal((full[0] as PromiseRejectedResult).reason.temporary, true);
    // room again once they started
    await pool.sendMail(mail(21));
    await pool.close();
    assert.equal(server.delivered.length, 6);
  });

  test("sendRaw goes through the pool too", async () => {
    const server = await startRelayServer();
    const pool = poolFor(server);
    const raw =
      "From: a@example.test\r\nTo: b@example.test\r\nSubject: raw\r\nMessage-ID: <raw.1@example.test>\r\n\r\nbody\r\n";
    const result = await pool.sendRaw("a@example.test", ["b@example.test"], raw);
    await pool.close();
    assert.equal(result.messageId, "<raw.1@example.test>");
    assert.equal(server.delivered[0]?.messageId, "<raw.1@example.test>");
  });

  test("the caller's signal destroys the pool: what is queued rejects with EABORT", async () => {
    const server = await startRelayServer({ end: () => ({ hold: true }) });
    const controller = new AbortController();
    const pool = poolFor(server, { maxConnections: 1, signal: controller.signal });
    const sends = Array.from({ length: 4 }, (_, i) => pool.sendMail(mail(i)));
    while (server.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const outcomes = await Promise.allSettled(sends);
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? (o.reason as SMTPError).code : "sent")),
      ["EABORT", "EABORT", "EABORT", "EABORT"],
    );
    await assert.rejects(pool.sendMail(mail(9)), (e: SMTPError) => e.code === "EABORT");
  });
});

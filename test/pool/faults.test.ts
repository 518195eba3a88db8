// The pool against servers that push back or fail: throttling (AIMD), stale connections, per-session
// limits, lost connections after the data, greylisting, unreachable servers (API.md §6).
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import type { SMTPError } from "../../src/errors.js";
import { createPool } from "../../src/pool/pool.js";
import type { PoolOptions } from "../../src/pool/types.js";
import { duplicates, type RelayServer, startRelayServer } from "./relay-server.js";

const mail = (i: number, to = `rcpt${i % 7}@example.test`) => ({
  from: "sender@example.test",
  to,
  subject: `message ${i}`,
  text: `Hello number ${i}.\n`,
});
const subjectOf = (data: string): string => /^Subject: (.*)$/m.exec(data)?.[1]?.trim() ?? "";
const poolFor = (server: RelayServer, options: Partial<PoolOptions> = {}) =>
  createPool({ host: "127.0.0.1", port: server.port, security: "none", ...options });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("pool faults", () => {
  test("421 at MAIL for 2.5 s, then normal: the cap halves, new messages pause, nothing is lost", async () => {
    let throttleUntil = Number.POSITIVE_INFINITY;
    const refusals: number[] = [];
    const server = await startRelayServer({
      mail: () => {
        const now = performance.now();
        if (throttleUntil === Number.POSITIVE_INFINITY) throttleUntil = now + 2500;
        if (now < throttleUntil) {
          refusals.push(now);
          return { close: true, reply: "421 4.7.0 slow down" };
        }
        return "250 2.1.0 OK";
      },
    });
    const pool = poolFor(server, { maxConnections: 4 });
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => pool.sendMail(mail(i))));
    await pool.close();
    assert.deepEqual(
      outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason.message),
      [],
    );
    assert.equal(server.delivered.length, 40);
    assert.deepEqual(duplicates(server.delivered), []);
    assert.ok(pool.stats.throttled >= 2, `throttled ${pool.stats.throttled}`);
    // after the first refusal nothing new starts for a second (the pause), then again after the next
    const first = refusals[0]!;
    const quiet = server.mails.filter((m) => m.at > first + 100 && m.at < first + 900);
    assert.deepEqual(quiet, [], "messages started during the first pause");
    // refusals come in a few waves (1 s, then 2 s apart), not a hammering loop
    assert.ok(refusals.length <= 16, `${refusals.length} refusals`);
    const firstOk = server.delivered[0]!.at;
    assert.ok(firstOk - first >= 2400, "a message got through while the server was throttling?");
  });

  test("454 to DATA above 100 msgs/s: the pool backs off and its rate stays near the server's, no message lost", async () => {
    const accepted: number[] = [];
    let refused = 0;
    const server = await startRelayServer({
      data: () => {
        const now = performance.now();
        while (accepted.length > 0 && accepted[0]! <= now - 1000) accepted.shift();
        if (accepted.length >= 100) {
          refused++;
          return "454 4.7.0 rate limit exceeded, slow down";
        }
        accepted.push(now);
        return "354 go on";
      },
    });
    const pool = poolFor(server, { maxConnections: 4 });
    const started = performance.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 250 }, (_, i) => pool.sendMail(mail(i))));
    const elapsed = performance.now() - started;
    await pool.close();
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 250);
    assert.equal(server.delivered.length, 250);
    assert.deepEqual(duplicates(server.delivered), []);
    // without back-off the refused ones would be retried at once, thousands of times
    assert.ok(refused <= 40, `${refused} refusals for 250 messages`);
    assert.equal(pool.stats.throttled, refused);
    assert.ok(elapsed >= 2000, `${elapsed} ms: faster than the server allows?`);
  });

  test("connections the server closed while idle: the next messages go through, no error, no throttling", async () => {
    const server = await startRelayServer({ idleMs: 300, idleReply: "421 4.4.2 idle too long, closing" });
    const pool = poolFor(server, { maxConnections: 3 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => pool.sendMail(mail(i))));
    const before = server.sessions.length;
    assert.ok(before >= 2, `${before} sessions`);
    await sleep(500); // the server has closed every one of them
    await Promise.all(Array.from({ length: 6 }, (_, i) => pool.sendMail(mail(10 + i))));
    await pool.close();
    assert.equal(server.delivered.length, 12);
    assert.deepEqual(
      { failed: pool.stats.failed, throttled: pool.stats.throttled },
      { failed: 0, throttled: 0 },
    );
  });

  test("421 after 100 messages per session: nothing lost, and the pool then QUITs sessions before the limit", async () => {
    let refusals = 0;
    const server = await startRelayServer({
      mail: (s) => {
        if (s.accepted < 100) return "250 2.1.0 OK";
        refusals++;
        return { close: true, reply: "421 4.7.0 too many messages in this session" };
      },
    });
    const pool = poolFor(server, { maxConnections: 2 });
    const outcomes = await Promise.allSettled(Array.from({ length: 600 }, (_, i) => pool.sendMail(mail(i))));
    await pool.close();
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 600);
    assert.equal(server.delivered.length, 600);
    assert.deepEqual(duplicates(server.delivered), []);
    assert.ok(
      server.sessions.every((s) => s.accepted <= 100),
      "a session carried more than 100",
    );
    assert.ok(refusals <= 2, `${refusals} sessions met the 421 (the limit should be learned from the first)`);
  });

  test("connection lost after the final dot: exactly that message is deliveryUnknown, never sent again", async () => {
    const server = await startRelayServer({
      end: (_s, m) => (subjectOf(m.data) === "message 5" ? { destroy: true } : "250 2.0.0 OK"),
    });
    const pool = poolFor(server, { maxConnections: 2 });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => pool.sendMail(mail(i))));
    await pool.close();
    const failed = outcomes.flatMap((o, i) =>
      o.status === "rejected" ? [{ i, e: o.reason as SMTPError }] : [],
    );
    assert.deepEqual(
      failed.map((f) => [f.i, f.e.stage, f.e.deliveryUnknown]),
      [[5, "END", true]],
    );
    assert.equal(server.received.filter((m) => subjectOf(m.data) === "message 5").length, 1);
    // the message behind it on that connection (its envelope already written) went again, once
    assert.equal(server.delivered.length, 19);
    assert.deepEqual(duplicates(server.delivered), []);
    assert.equal(pool.stats.throttled, 0);
  });

  test("greylisting 451 at RCPT: reported as temporary, not retried by the pool", async () => {
    const seen = new Set<string>();
    let rcpts = 0;
    const server = await startRelayServer({
      rcpt: (_s, to) => {
        rcpts++;
        if (seen.has(to)) return "250 2.1.5 OK";
        seen.add(to);
        return "451 4.7.1 greylisted, please try again later";
      },
    });
    const pool = poolFor(server);
    const error = (await pool.sendMail(mail(1, "grey@example.test")).catch((e: unknown) => e)) as SMTPError;
    assert.equal(error.code, "EENVELOPE");
    assert.equal(error.stage, "RCPT");
    assert.equal(error.temporary, true);
    assert.equal(error.reply?.code, 451);
    assert.equal(rcpts, 1, "the pool sent it again");
    // a partial greylisting is a partial success
    const result = await pool.sendMail({ ...mail(2), to: ["grey@example.test", "new@example.test"] });
    assert.deepEqual(result.accepted, ["grey@example.test"]);
    assert.equal(result.rejected[0]?.reply.code, 451);
    await pool.close();
    assert.equal(pool.stats.throttled, 0);
    assert.equal(server.delivered.length, 1);
  });

  test("a server that refuses every connection: each queued message rejects with the connect error, attempts spaced", async () => {
    const server = await startRelayServer({ greeting: () => ({ destroy: true }) });
    const pool = poolFor(server, { maxConnections: 4, connectTimeout: 800 });
    const started = performance.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => pool.sendMail(mail(i))));
    const elapsed = performance.now() - started;
    const codes = outcomes.map((o) => (o.status === "rejected" ? (o.reason as SMTPError).code : "sent"));
    assert.deepEqual(new Set(codes), new Set(["ECONNECTION"]));
    assert.ok(elapsed >= 700 && elapsed < 3000, `${elapsed} ms`);
    assert.ok(server.sessions.length <= 8, `${server.sessions.length} connection attempts in ${elapsed} ms`);
    // later sends wait for the next spaced attempt instead of hammering
    const attempts = server.sessions.length;
    await Promise.allSettled(Array.from({ length: 10 }, (_, i) => pool.sendMail(mail(i))));
    assert.ok(server.sessions.length - attempts <= 2, `${server.sessions.length - attempts} more attempts`);
    pool.destroy();
  });

  test("a throttled message fails with the throttling reply after throttleTimeout", async () => {
    const server = await startRelayServer({ mail: () => "454 4.7.0 try again later" });
    const pool = poolFor(server, { throttleTimeout: 1500 });
    const started = performance.now();
    const error = (await pool.sendMail(mail(1)).catch((e: unknown) => e)) as SMTPError;
    const elapsed = performance.now() - started;
    assert.equal(error.reply?.code, 454);
    // tried at 0 and after the 1 s pause; the next try (after 2 s more) would be too late: it fails at 1.5 s
    assert.ok(elapsed >= 1400 && elapsed < 2500, `${elapsed} ms`);
    assert.equal(server.mails.length, 2);
    pool.destroy();
  });

  test("421 to every connection (too many connections): the queued messages wait for the server, then fail with the 421 after throttleTimeout", async () => {
    const server = await startRelayServer({
      greeting: () => ({ close: true, reply: "421 4.7.0 Too many connections from your host" }),
    });
    const pool = poolFor(server, { maxConnections: 2, throttleTimeout: 1500 });
    const started = performance.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => pool.sendMail(mail(i))));
    const elapsed = performance.now() - started;
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? (o.reason as SMTPError).reply?.code : "sent")),
      [421, 421, 421, 421, 421, 421],
    );
    // not failed at the first refusal: they waited throttleTimeout (the attempt after the 1 s pause was refused too)
    assert.ok(elapsed >= 1400 && elapsed < 2500, `${elapsed} ms`);
    // two at first, then one (the cap halved) after the pause: never hammering
    assert.ok(
      server.sessions.length >= 2 && server.sessions.length <= 4,
      `${server.sessions.length} connections`,
    );
    assert.ok(pool.stats.throttled >= 2, `throttled ${pool.stats.throttled}`);
    pool.destroy();
  });

  test("destroy() with a message in flight: it rejects with EABORT at its own stage; queued ones with EABORT", async () => {
    const server = await startRelayServer({ end: () => ({ hold: true }) });
    const pool = poolFor(server, { maxConnections: 1 });
    const sends = Array.from({ length: 5 }, (_, i) => pool.sendMail(mail(i)));
    while (server.received.length === 0) await sleep(5);
    pool.destroy();
    const outcomes = await Promise.allSettled(sends);
    const errors = outcomes.map((o) => (o as PromiseRejectedResult).reason as SMTPError);
    assert.deepEqual(
      errors.map((e) => e.code),
      ["EABORT", "EABORT", "EABORT", "EABORT", "EABORT"],
    );
    assert.equal(errors[0]!.stage, "END");
    assert.equal(errors[0]!.deliveryUnknown, true);
    assert.ok(errors.slice(1).every((e) => !e.deliveryUnknown));
    assert.equal(pool.stats.queued, 0);
  });

  test("a stream never read goes again whole after a throttle; one lost while being written is reported, not resent", async () => {
    let mails = 0;
    let datas = 0;
    const server = await startRelayServer({
      mail: () => (++mails === 1 ? { close: true, reply: "421 4.7.0 slow down" } : "250 2.1.0 OK"),
      data: (s) => {
        // the second message's connection dies while its content is being written
        if (++datas === 2) setTimeout(() => s.socket.destroy(), 30);
        return "354 go on";
      },
    });
    const pool = poolFor(server, { maxConnections: 1 });
    const lines = (n: number) =>
      Array.from({ length: n }, (_, i) => Buffer.from(`line ${i} of a streamed body\r\n`));
    const first = await pool.sendMail({ ...mail(1), text: Readable.from(lines(50)) });
    assert.equal(first.accepted.length, 1);
    assert.match(server.delivered[0]!.data, /line 49 of a streamed body/);
    const slow = Readable.from(
      (async function* () {
        for (const line of lines(100)) {
          await sleep(2);
          yield line;
        }
      })(),
    );
    const error = (await pool.sendMail({ ...mail(2), text: slow }).catch((e: unknown) => e)) as SMTPError;
    await pool.close();
    assert.equal(error.code, "ECONNECTION");
    assert.equal(error.stage, "DATA");
    assert.equal(error.deliveryUnknown, false);
    // the 421'd try, the good one, and the one that died: never a fourth
    assert.equal(server.mails.length, 3);
  });

  test("BDAT: a message refused by a 421 to MAIL goes again, in memory or streamed", async () => {
    let mails = 0;
    const server = await startRelayServer({
      extensions: ["PIPELINING", "CHUNKING", "8BITMIME", "ENHANCEDSTATUSCODES"],
      mail: () => (++mails % 2 === 1 ? { close: true, reply: "421 4.7.0 slow down" } : "250 2.1.0 OK"),
    });
    const pool = poolFor(server, { maxConnections: 1 });
    // small and in memory: its chunk went out with the refused envelope, and goes again whole
    const result = await pool.sendMail({ ...mail(1), text: "in memory\n" });
    assert.equal(result.accepted.length, 1);
    assert.match(server.delivered[0]!.data, /in memory/);
    // a stream: its envelope is settled before it is read (ONE_FLIGHT_OCTETS), so it goes again too
    const stream = Readable.from([Buffer.from("streamed line 1\r\n"), Buffer.from("streamed line 2\r\n")]);
    const streamed = await pool.sendMail({ ...mail(2), text: stream });
    await pool.close();
    assert.equal(streamed.accepted.length, 1);
    assert.equal(server.mails.length, 4);
    assert.equal(server.delivered.length, 2);
    assert.match(server.delivered[1]!.data, /streamed line 2/);
  });
});

// The pool against real servers none of us wrote: smtp-sink (PIPELINING) with 10 000 messages, and the
// Postfix harness (STARTTLS, PIPELINING, CHUNKING) delivering to a Maildir. What arrived and how many
// sessions carried it are counted on the server's side.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createPool } from "../../src/pool/pool.js";
import { waitUntil } from "../helpers/servers/common.js";
import { postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";
import { smtpSinkUnavailableReason, startSmtpSink } from "./smtp-sink.js";

const mail = (i: number) => ({
  from: '"Pool Test" <sender@example.test>',
  to: `rcpt${i % 13}@example.test`,
  subject: `pooled message ${i}`,
  text: `Message number ${i}.\n.a line starting with a dot\nThe end.\n`,
});

describe("pool interop", () => {
  test("smtp-sink: 10 000 messages over 4 connections, each arrives once, carried by 4 sessions", {
    skip: smtpSinkUnavailableReason(),
  }, async () => {
    const sink = await startSmtpSink();
    await waitUntil(() => (sink.counters().sessions >= 1 ? true : undefined), 5000, "the probe session");
    const before = sink.counters();
    const pool = createPool({
      host: "127.0.0.1",
      port: sink.port,
      security: "none",
      maxConnections: 4,
      maxMessagesPerConnection: 10_000,
    });
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => pool.sendMail(mail(i))));
    const seconds = (performance.now() - started) / 1000;
    await pool.close();
    const after = await waitUntil(
      () => (sink.counters().quits - before.quits >= 4 ? sink.counters() : undefined),
      5000,
      "4 QUITs",
    );
    console.log(
      `# smtp-sink: 10 000 messages in ${seconds.toFixed(1)} s (${(10_000 / seconds).toFixed(0)} msgs/s, shared machine)`,
    );
    const arrived = sink.messageIds();
    assert.equal(arrived.length, 10_000);
    assert.equal(new Set(arrived).size, 10_000, "a message arrived twice");
    assert.deepEqual(new Set(arrived), new Set(results.map((r) => r.messageId)));
    // four connections opened once and reused for everything
    assert.equal(after.sessions - before.sessions, 4);
    assert.equal(after.quits - before.quits, 4);
    assert.equal(after.messages - before.messages, 10_000);
    assert.equal(pool.stats.sent, 10_000);
  });

  test("Postfix over STARTTLS: 1 000 messages over 4 connections, each delivered once, sessions reused", {
    skip: postfixUnavailableReason(),
  }, async () => {
    const postfix = await startPostfix();
    try {
      const pool = createPool({
        host: "127.0.0.1",
        port: postfix.port,
        tls: { ca: postfix.ca, servername: "localhost" },
        maxConnections: 4,
      });
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.sendMail(mail(i))));
      await pool.close();
      const delivered = await postfix.waitForDelivery(1000, 60_000);
      const ids = delivered.map((m) => /^Message-ID:[ \t]*(\S+)/im.exec(m.message.toString("latin1"))?.[1]);
      assert.equal(ids.length, 1000);
      assert.equal(new Set(ids).size, 1000, "a message was delivered twice");
      assert.deepEqual(new Set(ids), new Set(results.map((r) => r.messageId)));
      // Postfix's own account of each session: "disconnect from ... mail=250/250 ..."
      const log = readFileSync(join(postfix.dir, "maillog"), "utf8");
      const sessions = [...log.matchAll(/disconnect from \S+ .*?\bmail=(\d+)(?:\/(\d+))?/g)].filter(
        (m) => Number(m[1]) > 0,
      );
      assert.equal(sessions.length, 4, log.slice(-2000));
      assert.equal(
        sessions.reduce((sum, m) => sum + Number(m[1]), 0),
        1000,
      );
      assert.match(log, /STARTTLS|TLS connection established/);
    } finally {
      await postfix.stop();
    }
  });
});

// pool: true — 2 000 messages sent the way nodemailer documents for pooled transports (send while
// transporter.isIdle(), resume on "idle"), each delivered exactly once by a real Postfix.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import nodemailer from "nodemailer";
import { smtpkitTransport } from "../../src/nodemailer/index.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";

const COUNT = 2000;

describe("pool: true through Postfix", { skip: postfixUnavailableReason() }, () => {
  let pf: PostfixServer;
  before(async () => {
    pf = await startPostfix({});
  });
  after(() => pf?.stop());

  it(`${COUNT} messages with pool: true, sent on "idle", each delivered once`, {
    timeout: 120_000,
  }, async () => {
    const transport = smtpkitTransport({
      host: "127.0.0.1",
      port: pf.port,
      tls: { ca: pf.ca, servername: "localhost" },
      clientName: "client.example",
      pool: true,
    });
    const transporter = nodemailer.createTransport(transport);
    const infos: { seq: number; messageId: string; accepted: string[] }[] = [];
    const failures: unknown[] = [];
    let next = 0;
    let busyAt = -1; // isIdle() went false at least once: the pool was kept full
    const started = performance.now();
    await new Promise<void>((resolve) => {
      let settled = 0;
      const pump = () => {
        while (next < COUNT && transporter.isIdle()) {
          const seq = next++;
          transporter
            .sendMail({
              from: "newsletter@example.test",
              to: `reader${seq % 7}@example.test`,
              subject: `issue ${seq}`,
              text: `Message number ${seq}.\n`,
              html: `<p>Message number <b>${seq}</b>.</p>`,
              headers: { "X-Seq": String(seq) },
            })
            .then(
              (info) => infos.push({ seq, messageId: info.messageId, accepted: info.accepted }),
              (error: unknown) => failures.push(error),
            )
            .finally(() => {
              if (++settled === COUNT) resolve();
            });
        }
        if (next < COUNT && busyAt < 0) busyAt = next;
      };
      transporter.on("idle", pump);
    });
    const seconds = (performance.now() - started) / 1000;
    assert.deepEqual(failures, []);
    assert.equal(infos.length, COUNT);
    assert.ok(busyAt > 0, "isIdle() turned false while messages were in flight");
    transporter.close();

    const delivered = await pf.waitForDelivery(COUNT, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would arrive by now
    const all = await pf.delivered();
    assert.equal(all.length, COUNT, "each message delivered once");
    const seen = new Map<number, string>();
    for (const message of delivered) {
      const parsed = await simpleParser(message.message, { skipHtmlToText: true, skipTextToHtml: true });
      const seq = Number(parsed.headers.get("x-seq"));
      assert.equal(seen.has(seq), false, `message ${seq} delivered twice`);
      seen.set(seq, parsed.messageId ?? "");
    }
    for (const info of infos) assert.equal(seen.get(info.seq), info.messageId, `message ${info.seq}`);
    console.log(
      `# ${COUNT} messages through smtpkitTransport({ pool: true }) to Postfix in ${seconds.toFixed(1)} s`,
    );
  });
});

// A benchmark worker for ONE client, in its own process so that its CPU time and peak RSS are its own.
// Started by bench/run.mjs with child_process.fork:
//   node bench/client.mjs smtpkit|nodemailer|raw|none
// (raw: a minimal hand-written client, the floor; none: loads smtpkit and only reports its peak RSS)
// It then takes runs over the IPC channel, one at a time:
//   parent → {type:"run", spec}   spec: { mode: "awaited" | "queued", host, port, connections, messages,
//                                         recipients, body: "1k" | "50m", tls, ca, window, warmup }
//   child  → {type:"ready"}        every connection is set up (EHLO, STARTTLS) and warmed up
//   parent → {type:"go"}           (the parent snapshots its relay's round-trip counter)
//   child  → {type:"sent"}         every message of the measured phase was answered
//   parent → {type:"go"}           (second snapshot)
//   child  → {type:"result", …}    after QUIT on every connection
//   parent → {type:"exit"}
// Time and CPU (process.cpuUsage, user + system) cover the measured phase only; processUserUs and
// processSystemUs are the whole process's (for the marginal CPU per message, from fresh workers). The worker lives for
// several runs so that both clients are measured with their code optimised by the JIT (see README.md);
// runs whose peak RSS matters (50 MiB) use a fresh worker.
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { Readable } from "node:stream";
import { oneKiBMessage } from "./lib/message.mjs";
import { next, send } from "./lib/worker-ipc.mjs";

const CLIENT = process.argv[2];
const FROM = "sender@client.bench.test";
const FIFTY_MIB = 50 * 1024 * 1024;

const recipientsFor = (n) => Array.from({ length: n }, (_, i) => `rcpt${i + 1}@bench.test`);

const ONE_KIB = oneKiBMessage(FROM);

/**
 * 50 MiB: a header block, then 78-octet lines (76 characters + CRLF), every other one starting with ".", as a
 * stream of ~64 KiB chunks. Each chunk is a view of one immutable pattern buffer (both clients only read it).
 */
function fiftyMiB() {
  const head = Buffer.from(
    [
      `From: <${FROM}>`,
      "To: <rcpt1@bench.test>",
      "Subject: smtpkit benchmark, 50 MiB, dot lines",
      "Message-ID: <bench.50m@client.bench.test>",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=us-ascii",
      "",
      "",
    ].join("\r\n"),
    "ascii",
  );
  const pair = `.${"d".repeat(75)}\r\n${"p".repeat(76)}\r\n`; // 156 octets: a dot line, then a plain one
  const pattern = Buffer.from(pair.repeat(Math.floor((64 * 1024) / pair.length)), "ascii");
  async function* chunks() {
    yield head;
    let left = FIFTY_MIB - head.length;
    while (left > 0) {
      const n = Math.min(left, pattern.length);
      if (n < pattern.length) {
        // the last chunk cuts a line: end it with CRLF so the message ends on a line boundary
        const tail = Buffer.from(pattern.subarray(0, n));
        if (n >= 2) tail.write("\r\n", n - 2, "ascii");
        yield tail;
      } else {
        yield pattern;
      }
      left -= n;
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

function tcp(host, port) {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

// ---- clients -------------------------------------------------------------------------------------------------

async function smtpkitClient() {
  const { SMTP } = await import("../dist/index.js");
  return {
    async open(spec, recipients) {
      const socket = await tcp(spec.host, spec.port);
      const smtp = new SMTP({ clientName: "client.bench.test" });
      if (!(await smtp.connect(socket))) throw new Error(`greeting/EHLO declined: ${smtp.lastReply?.text}`);
      if (spec.tls) {
        const ok = await smtp.startTLS({ ca: readFileSync(spec.ca), servername: "localhost" });
        if (!ok) throw new Error("STARTTLS not offered or refused");
      }
      return {
        send: (message) => smtp.sendRaw(FROM, recipients, message),
        close: () => smtp.close(),
        extensions: () => smtp.getServerOptions(),
      };
    },
  };
}

async function nodemailerClient() {
  const { default: SMTPConnection } = await import("nodemailer/lib/smtp-connection");
  return {
    open(spec, recipients) {
      const tls = spec.tls ? { ca: readFileSync(spec.ca), servername: "localhost" } : undefined;
      return new Promise((resolve, reject) => {
        const connection = new SMTPConnection({
          host: spec.host,
          port: spec.port,
          secure: false,
          name: "client.bench.test",
          // clear runs stay clear (Postfix offers STARTTLS); TLS runs must upgrade
          ignoreTLS: !spec.tls,
          requireTLS: !!spec.tls,
          ...(tls ? { tls, servername: "localhost" } : {}),
          socketTimeout: 120_000,
        });
        let failure;
        connection.on("error", (err) => {
          failure = err;
          reject(err);
        });
        connection.connect(() => {
          resolve({
            send: (message) =>
              new Promise((ok, fail) => {
                if (failure) return fail(failure);
                connection.send({ from: FROM, to: recipients }, message, (err, info) =>
                  err ? fail(err) : ok(info),
                );
              }),
            close: () =>
              new Promise((ok) => {
                connection.once("end", ok);
                connection.quit();
                setTimeout(ok, 2000).unref();
              }),
            extensions: () => connection._supportedExtensions ?? [],
          });
        });
      });
    },
  };
}

/**
 * The floor: a minimal hand-written client for a PIPELINING server without CHUNKING (smtp-sink). Per message
 * one write of MAIL + RCPTs + DATA, then one corked write of the (already dot-safe) 1 KiB message and the
 * terminator; replies are only counted and their first digit checked. No validation, no parsing worth the
 * name: what any client must at least spend on this machine (mostly the kernel's share).
 */
function rawClient() {
  return {
    async open(spec, recipients) {
      const socket = await tcp(spec.host, spec.port);
      socket.setNoDelay(true);
      let pending = "";
      const waiters = [];
      let failure;
      socket.on("data", (d) => {
        pending += d.toString("latin1");
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line[3] !== "-") waiters.shift()?.(line);
          nl = pending.indexOf("\n");
        }
      });
      const fail = (err) => {
        failure = err ?? new Error("connection closed");
        for (const w of waiters.splice(0)) w(`000 ${failure.message}`);
      };
      socket.on("error", fail);
      socket.on("close", () => fail());
      const reply = () => (failure ? Promise.resolve("000 closed") : new Promise((r) => waiters.push(r)));
      const expect = async (count, first) => {
        const replies = [];
        for (let i = 0; i < count; i++) replies.push(reply());
        for (const line of await Promise.all(replies)) {
          if (line[0] !== first && !(first === "2" && line.startsWith("354"))) throw new Error(line);
        }
      };
      await expect(1, "2");
      socket.write("EHLO client.bench.test\r\n");
      await expect(1, "2");
      const envelope = `MAIL FROM:<${FROM}>\r\n${recipients.map((r) => `RCPT TO:<${r}>\r\n`).join("")}DATA\r\n`;
      const terminator = ".\r\n";
      return {
        async send(message) {
          const env = expect(recipients.length + 2, "2");
          socket.write(envelope);
          await env;
          const end = expect(1, "2");
          socket.cork();
          socket.write(message);
          socket.write(terminator);
          socket.uncork();
          await end;
        },
        async close() {
          const bye = reply();
          socket.write("QUIT\r\n");
          await bye;
          socket.end();
        },
        extensions: () => [],
      };
    },
  };
}

// ---- one run ---------------------------------------------------------------------------------------------

async function run(client, spec) {
  const recipients = recipientsFor(spec.recipients ?? 1);
  const message = spec.body === "50m" ? fiftyMiB : () => ONE_KIB;
  const sessions = [];
  for (let i = 0; i < spec.connections; i++) sessions.push(await client.open(spec, recipients));

  const errors = [];
  const warmupErrors = [];
  let sent = 0;
  const note = (err) => {
    if (errors.length < 5) errors.push(`${err?.code ?? ""} ${err?.message ?? err}`.trim());
  };
  const window = spec.window ?? 16;
  /** Sends `total` messages split as evenly as possible over the connections, in the run's mode. */
  const phase = (total) =>
    Promise.all(
      sessions.map(async (session, i) => {
        const count = Math.floor(total / sessions.length) + (i < total % sessions.length ? 1 : 0);
        if (spec.mode === "queued") {
          // keep `window` sends queued on the one connection: the client may pipeline across messages
          let next = 0;
          const lane = async () => {
            while (next < count) {
              next++;
              try {
                await session.send(message());
                sent++;
              } catch (err) {
                note(err);
              }
            }
          };
          await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
        } else {
          for (let k = 0; k < count; k++) {
            try {
              await session.send(message());
              sent++;
            } catch (err) {
              note(err);
              if (errors.length >= 5) break;
            }
          }
        }
      }),
    );

  // warm-up on the same connections (fills the server's process pool, the client's buffers): not measured
  if (spec.warmup > 0) {
    await phase(spec.warmup);
    for (const e of errors.splice(0)) warmupErrors.push(`warm-up: ${e}`);
    sent = 0;
  }
  await send({ type: "ready", extensions: sessions[0].extensions() });
  await next("go");

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await phase(spec.messages);
  const elapsedNs = process.hrtime.bigint() - t0;
  const cpu = process.cpuUsage(cpu0);

  await send({ type: "sent" });
  await next("go");
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  const whole = process.cpuUsage(); // the whole process since it started (module loading included)
  return {
    processUserUs: whole.user,
    processSystemUs: whole.system,
    type: "result",
    sent,
    errors: [...warmupErrors, ...errors],
    elapsedMs: Number(elapsedNs) / 1e6,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    cpuUs: cpu.user + cpu.system,
    maxRSS: process.resourceUsage().maxRSS,
    bytes: spec.body === "50m" ? FIFTY_MIB : 1024,
  };
}

async function main() {
  if (CLIENT === "none") {
    // the RSS baseline: a bare node that has loaded smtpkit and nothing else
    await import("../dist/index.js");
  }
  const clients = { smtpkit: smtpkitClient, nodemailer: nodemailerClient, raw: rawClient };
  const client = await clients[CLIENT]?.();
  await send({ type: "hello", maxRSS: process.resourceUsage().maxRSS });
  for (;;) {
    const m = await next();
    if (m?.type === "exit") break;
    if (m?.type !== "run") continue;
    try {
      if (!client) throw new Error(`no client "${CLIENT}"`);
      await send(await run(client, m.spec));
    } catch (err) {
      await send({ type: "result", fatal: `${err?.code ?? ""} ${err?.stack ?? err}`.trim() });
    }
  }
}

main().then(
  () => process.disconnect?.(),
  (err) => {
    console.error(err);
    process.exitCode = 1;
    process.disconnect?.();
  },
);

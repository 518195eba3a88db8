// The client side of the memory tests, run in its own process (node --expose-gc) so that its peak RSS is
// its own. Usage: node --expose-gc memory-child.js baseline
//                  node --expose-gc memory-child.js PORT raw|send|pipe file|generator PATH|OCTETS
//                  node --expose-gc memory-child.js PORT mail|mail-dkim file PATH
// `pipe` is the bare peer: the same source written into a socket to the same server by hand (EHLO, MAIL,
// RCPT, then DATA or one BDAT ... LAST), waiting for 'drain', without smtpkit: what moving the bytes costs.
// Prints one JSON line: maxRSS (KiB), the most array-buffer memory alive after a complete collection, the
// reply code. The sampler forces a collection every 50 ms: what survives it is held, not slow collection.
// MEMORY_TRACE=ms also prints to stderr the peaks of process.memoryUsage() sampled every ms, without gc.

import { generateKeyPairSync } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import net from "node:net";
import { type MailOptions, SMTP } from "../../src/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

let liveArrayBuffers = 0;
let heapTotal = 0;
/**
 * A complete collection, then what survives it. One gc() leaves the array buffers it found dead to V8's
 * concurrent sweeper, and memoryUsage() right after it still counts them (5 to 7 MiB on these 200 MiB
 * streams; 15 to 22 MiB when the encoders made no JS garbage): the second gc() finishes that sweep first,
 * so what remains (about 0.5 MiB) is what the process holds.
 */
function sample(): void {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  liveArrayBuffers = Math.max(liveArrayBuffers, usage.arrayBuffers);
  heapTotal = Math.max(heapTotal, usage.heapTotal);
}

const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const traceMs = Number(process.env.MEMORY_TRACE ?? 0);
const tracer =
  traceMs > 0
    ? setInterval(() => {
        const usage = process.memoryUsage();
        for (const key of Object.keys(peaks) as (keyof typeof peaks)[])
          peaks[key] = Math.max(peaks[key], usage[key]);
      }, traceMs)
    : undefined;

function report(result: Record<string, unknown>): void {
  clearInterval(tracer);
  if (tracer) {
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    process.stderr.write(
      `peaks: ${Object.entries(peaks)
        .map(([k, v]) => `${k} ${mib(v)}`)
        .join(", ")}\n`,
    );
  }
  console.log(
    JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, liveArrayBuffers, heapTotal, ...result }),
  );
}

const LINE = ".a line that starts with a dot, then text to the end of the line\n";
const PIECE = Math.floor(65536 / LINE.length) * LINE.length;

/** An async generator that allocates a fresh Buffer per chunk, as a real stream does (64 KiB of lines). */
async function* freshChunks(octets: number): AsyncGenerator<Buffer> {
  let n = 0;
  for (let sent = 0; sent < octets; sent += PIECE) {
    const chunk = Buffer.allocUnsafe(PIECE);
    for (let at = 0; at < PIECE; at += LINE.length) chunk.write(LINE, at, "latin1");
    chunk.write(String(n++ % 10), 1, "latin1"); // every chunk's bytes are its own
    yield chunk;
    // let the socket and the sampler run, as a file stream's reads would
    if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * mail|mail-dkim (test/mime/memory.test.ts): the file as an attachment read from its path, DKIM-signed with
 * RSA 2048 and Ed25519 for mail-dkim (the file is read twice).
 */
function attachmentMail(mode: string, path: string): MailOptions {
  const keys =
    mode === "mail-dkim"
      ? [generateKeyPairSync("rsa", { modulusLength: 2048 }), generateKeyPairSync("ed25519")]
      : [];
  return {
    from: "sender@example.test",
    to: "user@example.test",
    subject: "200 MiB attachment",
    text: "see the attachment",
    html: "<p>see the attachment</p>",
    attachments: [{ path }],
    dkim: keys.map(({ privateKey }, i) => ({ domainName: "example.test", keySelector: `s${i}`, privateKey })),
  };
}

/** The bare peer: `source` sent by hand over `socket` (DATA, or BDAT when offered); the final reply code. */
async function barePipe(
  socket: net.Socket,
  source: AsyncIterable<Uint8Array>,
  size: number,
): Promise<{ code: number; chunking: boolean }> {
  let buffered = "";
  let lines = "";
  const waiters: ((reply: string) => void)[] = [];
  socket.setEncoding("latin1");
  socket.on("data", (data: string) => {
    buffered += data;
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      const line = buffered.slice(0, end + 1);
      buffered = buffered.slice(end + 1);
      lines += line;
      if (line[3] === "-") continue;
      waiters.shift()?.(lines);
      lines = "";
    }
  });
  const reply = (): Promise<string> => new Promise((resolve) => waiters.push(resolve));
  const command = (line: string): Promise<string> => {
    const answer = reply();
    socket.write(line);
    return answer;
  };
  await reply();
  const chunking = /^250[- ]CHUNKING/im.test(await command("EHLO client.example\r\n"));
  await command("MAIL FROM:<sender@example.test>\r\n");
  await command("RCPT TO:<user@example.test>\r\n");
  let end: Promise<string>;
  if (chunking) end = command(`BDAT ${size} LAST\r\n`);
  else {
    await command("DATA\r\n");
    end = reply();
  }
  for await (const chunk of source) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once("drain", resolve));
  }
  if (!chunking) socket.write("\r\n.\r\n");
  const code = Number((await end).slice(0, 3));
  socket.end("QUIT\r\n");
  return { code, chunking };
}

async function main(): Promise<void> {
  const [portArg, mode, kind, what] = process.argv.slice(2);
  if (portArg === "baseline") {
    sample();
    report({});
    return;
  }
  const sampler = setInterval(sample, 50);
  const socket = net.connect({ host: "127.0.0.1", port: Number(portArg) });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  // raw|send|pipe: the message itself (mail|mail-dkim read the file as an attachment, from its path)
  const source = (): AsyncIterable<Buffer> =>
    kind === "file" ? createReadStream(what!) : freshChunks(Number(what));
  const started = process.hrtime.bigint();
  const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  if (mode === "pipe") {
    const size = kind === "file" ? statSync(what!).size : Math.ceil(Number(what) / PIECE) * PIECE;
    const { code, chunking } = await barePipe(socket, source(), size);
    const elapsed = seconds();
    clearInterval(sampler);
    sample();
    report({ code, seconds: elapsed, chunking });
    return;
  }
  const smtp = new SMTP({ clientName: "client.example", timeouts: { data: 120_000 } });
  if (!(await smtp.connect(socket))) throw new Error("greeting refused");
  const result =
    mode === "raw"
      ? await smtp.sendRaw("sender@example.test", ["user@example.test"], source())
      : mode === "send"
        ? await smtp.send("sender@example.test", ["user@example.test"], [], [], "200 MiB", source())
        : await smtp.sendMail(attachmentMail(mode!, what!));
  const elapsed = seconds();
  await smtp.close();
  clearInterval(sampler);
  sample();
  const chunking = smtp.getServerOptions().some((l) => /^CHUNKING\b/i.test(l));
  report({ code: result.reply.code, seconds: elapsed, chunking });
}

await main();

// The client side of the memory test, run in its own process (node --expose-gc) so that its peak RSS is
// its own. Usage: node --expose-gc memory-child.js baseline
//                  node --expose-gc memory-child.js PORT raw|send file|generator PATH|OCTETS
//                  node --expose-gc memory-child.js PORT mail|mail-dkim file PATH
// Prints one JSON line: maxRSS (KiB), the highest arrayBuffers seen right after a forced gc(), and the
// reply code. The sampler forces gc() every 50 ms: what survives it is retained, not slow collection.

import { generateKeyPairSync } from "node:crypto";
import { createReadStream } from "node:fs";
import net from "node:net";
import { type MailOptions, SMTP } from "../../src/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

let arrayBuffersAfterGc = 0;
let heapTotal = 0;
function sample(): void {
  gc!();
  const usage = process.memoryUsage();
  arrayBuffersAfterGc = Math.max(arrayBuffersAfterGc, usage.arrayBuffers);
  heapTotal = Math.max(heapTotal, usage.heapTotal);
}

/** An async generator that allocates a fresh Buffer per chunk, as a real stream does (64 KiB lines of text). */
async function* freshChunks(octets: number): AsyncGenerator<Buffer> {
  const line = ".a line that starts with a dot, then text to the end of the line\n";
  const perChunk = Math.floor(65536 / line.length);
  let n = 0;
  for (let sent = 0; sent < octets; sent += perChunk * line.length) {
    const chunk = Buffer.allocUnsafe(perChunk * line.length);
    for (let i = 0; i < perChunk; i++) chunk.write(line, i * line.length, "latin1");
    chunk.write(String(n++ % 10), 1, "latin1"); // every chunk's bytes are its own
    yield chunk;
    // let the socket and the sampler run, as a file stream's reads would
    if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * mail|mail-dkim (test/mime/memory.test.ts): the file as an attachment read from its path (the source opened
 * above is closed unread), DKIM-signed with RSA 2048 and Ed25519 for mail-dkim (the file is read twice).
 */
function attachmentMail(
  mode: string,
  path: string,
  unused: NodeJS.ReadableStream | AsyncGenerator<Buffer>,
): MailOptions {
  (unused as { destroy?: () => void }).destroy?.();
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

async function main(): Promise<void> {
  const [portArg, mode, kind, what] = process.argv.slice(2);
  if (portArg === "baseline") {
    sample();
    console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, arrayBuffersAfterGc, heapTotal }));
    return;
  }
  const sampler = setInterval(sample, 50);
  const socket = net.connect({ host: "127.0.0.1", port: Number(portArg) });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const smtp = new SMTP({ clientName: "client.example", timeouts: { data: 120_000 } });
  if (!(await smtp.connect(socket))) throw new Error("greeting refused");
  const source = kind === "file" ? createReadStream(what!) : freshChunks(Number(what));
  const started = process.hrtime.bigint();
  const result =
    mode === "raw"
      ? await smtp.sendRaw("sender@example.test", ["user@example.test"], source)
      : mode === "send"
        ? await smtp.send("sender@example.test", ["user@example.test"], [], [], "200 MiB", source)
        : await smtp.sendMail(attachmentMail(mode!, what!, source));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await smtp.close();
  clearInterval(sampler);
  sample();
  const chunking = smtp.getServerOptions().some((l) => /^CHUNKING\b/i.test(l));
  console.log(
    JSON.stringify({
      maxRSS: process.resourceUsage().maxRSS,
      arrayBuffersAfterGc,
      heapTotal,
      code: result.reply.code,
      seconds,
      chunking,
    }),
  );
}

await main();

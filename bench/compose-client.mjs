// A composed-mail benchmark worker for ONE client and ONE run, in its own process (CPU and peak RSS are its
// own). Started by bench/compose.mjs:  node bench/compose-client.mjs '<json spec>'
//   spec: { client: "smtpkit" | "nodemailer" | "none", row: "a" | "b" | "c" | "d", host, port, messages,
//           warmup, pdf, big, key }
// It sends `warmup` messages (not measured), then `messages` more, one at a time on one connection, and prints
// one JSON line: { sent, elapsedMs, cpuUs, maxRSS }. Both clients get the same content: text and html of 1 KiB
// each; (b) plus a 100 KiB PDF from disk; (c) (b) DKIM-signed with RSA 2048; (d) one 50 MiB file from disk.
import { readFileSync } from "node:fs";

const spec = JSON.parse(process.argv[2]);
const FROM = "Bench Sender <sender@client.bench.test>";
const TO = "rcpt1@bench.test";

const line = "The quick brown fox jumps over the lazy dog, again and again and again.\n";
const TEXT = line.repeat(Math.ceil(1024 / line.length)).slice(0, 1024);
const HTML =
  `<html><body><p>${"Hello <b>world</b>, this is the HTML part. ".repeat(30)}</p></body></html>`.slice(
    0,
    1024,
  );

function mailFor(row) {
  const mail = { from: FROM, to: TO, subject: "smtpkit composed-mail benchmark", text: TEXT, html: HTML };
  if (row === "b" || row === "c") mail.attachments = [{ filename: "invoice.pdf", path: spec.pdf }];
  if (row === "d") {
    mail.text = "see the attachment";
    mail.html = undefined;
    mail.attachments = [{ filename: "big.bin", path: spec.big }];
  }
  if (row === "c") {
    mail.dkim = {
      domainName: "bench.test",
      keySelector: "bench",
      privateKey: readFileSync(spec.key, "utf8"),
    };
  }
  return mail;
}

async function smtpkitClient() {
  const { connect } = await import("../dist/index.js");
  const smtp = await connect({
    host: spec.host,
    port: spec.port,
    security: "none",
    clientName: "client.bench.test",
  });
  return { send: (mail) => smtp.sendMail(mail), close: () => smtp.close() };
}

async function nodemailerClient() {
  const { default: nodemailer } = await import("nodemailer");
  const transporter = nodemailer.createTransport({
    host: spec.host,
    port: spec.port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 1,
    maxMessages: Number.POSITIVE_INFINITY,
    name: "client.bench.test",
  });
  return {
    send: (mail) => transporter.sendMail(mail),
    close: async () => transporter.close(),
  };
}

async function main() {
  if (spec.client === "none") {
    await import("../dist/index.js");
    console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }));
    return;
  }
  const client = spec.client === "smtpkit" ? await smtpkitClient() : await nodemailerClient();
  const mail = mailFor(spec.row);
  for (let i = 0; i < spec.warmup; i++) await client.send(mail);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  for (let i = 0; i < spec.messages; i++) {
    await client.send(mail);
    sent++;
  }
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  await client.close();
  console.log(
    JSON.stringify({ sent, elapsedMs, cpuUs: cpu.user + cpu.system, maxRSS: process.resourceUsage().maxRSS }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

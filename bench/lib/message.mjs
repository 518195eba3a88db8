// The benchmark's message: one complete 1 KiB message (CRLF line ends), the same bytes for every client.

/** @param {string} from the From address @returns {Buffer} exactly 1 024 octets */
export function oneKiBMessage(from) {
  const head = [
    `From: Bench Sender <${from}>`,
    "To: <rcpt1@bench.test>",
    "Subject: smtpkit benchmark message",
    "Date: Thu, 05 Nov 2026 12:00:00 +0000",
    "Message-ID: <bench.1@client.bench.test>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "",
  ].join("\r\n");
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  let body = "";
  while (Buffer.byteLength(head + body + line) <= 1024) body += line;
  const fill = 1024 - Buffer.byteLength(head + body) - 2;
  body += `${"x".repeat(Math.max(0, fill))}\r\n`;
  const buf = Buffer.from(head + body, "ascii");
  if (buf.length !== 1024) throw new Error(`1 KiB message is ${buf.length} octets`);
  return buf;
}

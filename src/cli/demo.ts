// `smtpkit demo`: the whole thing working on a fresh machine — an embedded loopback server, one message
// through STARTTLS and AUTH with the library, then the transcript and the message as the server got it.
import { connect } from "../api/connect.js";
import { describeFailure, parse, Transcript } from "./common.js";
import { startDemoServer } from "./demo-server.js";
import { EXIT } from "./exit-codes.js";

/** `smtpkit demo --help`. */
export const DEMO_HELP = `smtpkit demo: start an embedded SMTP server on 127.0.0.1 (STARTTLS with a certificate made
at start, AUTH PLAIN/LOGIN), send one message through it with smtpkit, and print the transcript and
the message exactly as the server received it. Needs no mail server and no network.`;

/** Runs `smtpkit demo`; resolves with the exit status. */
export async function runDemo(argv: string[]): Promise<number> {
  const values = parse(argv, { help: { type: "boolean", short: "h" } });
  if (values.help === true) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return EXIT.OK;
  }
  const out = (text = ""): boolean => process.stdout.write(`${text}\n`);
  const server = await startDemoServer();
  const transcript = new Transcript(undefined, [server.user.password]);
  try {
    out(`smtpkit demo: server listening on ${server.host}:${server.port} (STARTTLS, AUTH PLAIN LOGIN)`);
    out(
      `  certificate: self-signed, generated just now, trusted by the client through "ca" (verification on)`,
    );
    out(`  user: ${server.user.username}, password: random for this run (never printed)`);
    out();
    const smtp = await connect({
      host: server.host,
      port: server.port,
      security: "starttls", // required: the demo fails rather than send the password in clear
      tls: { ca: server.certificate },
      auth: { username: server.user.username, password: server.user.password },
      logger: transcript.logger,
      timeouts: { greeting: 10_000, command: 10_000, data: 10_000 }, // loopback: anything slower is a hang
      connectTimeout: 10_000,
    });
    let summary: string;
    try {
      const result = await smtp.send(
        "smtpkit demo <demo@localhost>",
        ["Ada Lovelace <ada@example.com>"],
        [],
        ["hidden@example.com"],
        "Hello from smtpkit — STARTTLS + AUTH ✓",
        "This message went through STARTTLS and AUTH PLAIN on a loopback SMTP server.\n" +
          ".A line starting with a dot is dot-stuffed on the wire and arrives intact.\n" +
          "Non-ASCII text (café, Grüße, 日本語) is given a charset and a transfer encoding.\n",
      );
      const tls = smtp.tlsSocket;
      summary =
        `accepted for ${result.accepted.join(", ")}: ${result.reply.code} ${result.reply.text}\n` +
        `  Message-ID ${result.messageId}; channel ${tls?.getProtocol() ?? "?"} ${tls?.getCipher()?.name ?? ""}`;
    } finally {
      await smtp.close();
    }
    const message = await server.received;
    out("--- transcript (C: client, S: server; credentials redacted) ---");
    for (const line of transcript.lines) out(line);
    out();
    out("--- result ---");
    out(summary);
    out();
    out(
      `--- the message as the server received it (MAIL FROM ${message.from}, RCPT TO ${message.to.join(", ")};`,
    );
    out(
      `    authenticated as ${message.user ?? "nobody"}, over ${message.secure ? "TLS" : "a clear channel"}) ---`,
    );
    out(message.raw.toString("utf8").replace(/\r\n/g, "\n").replace(/\n$/, ""));
    out("--- end of message (note: no Bcc header; hidden@example.com got it through the envelope only) ---");
    return EXIT.OK;
  } catch (error) {
    const { line, exitCode } = describeFailure("demo", error, transcript);
    for (const l of transcript.lines) process.stderr.write(`${l}\n`);
    process.stderr.write(`${line}\n`);
    return exitCode;
  } finally {
    await server.stop();
  }
}

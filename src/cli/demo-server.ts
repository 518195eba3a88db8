// The embedded loopback server of `smtpkit demo`: smtp-server (npm) on 127.0.0.1, a port the kernel picks,
// STARTTLS with a certificate generated at start, and AUTH PLAIN/LOGIN for one demo user (only after TLS).
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { CliError } from "./common.js";
import { EXIT } from "./exit-codes.js";
import { createSelfSigned } from "./self-signed.js";

/** One message as the server received it. */
export interface ReceivedMessage {
  /** MAIL FROM address. */
  from: string;
  /** RCPT TO addresses. */
  to: string[];
  /** The user who authenticated. */
  user: string | undefined;
  /** True when the message came over TLS. */
  secure: boolean;
  /** The message exactly as received (after dot-unstuffing; CRLF line ends). */
  raw: Buffer;
}

/** A running demo server. */
export interface DemoServer {
  host: "127.0.0.1";
  port: number;
  /** The server's certificate (PEM): the client trusts it through `ca`, verification stays on. */
  certificate: string;
  /** The demo account; the password is random for each run. */
  user: { username: string; password: string };
  /** Resolves with the first message received. */
  received: Promise<ReceivedMessage>;
  stop(): Promise<void>;
}

/** Starts the demo server. Needs no network and no mail server: only the loopback interface. */
export async function startDemoServer(): Promise<DemoServer> {
  const { SMTPServer } = await loadSmtpServer();
  const { cert, key } = createSelfSigned(["localhost", "127.0.0.1"]);
  const user = { username: "demo", password: randomBytes(12).toString("base64url") };
  let deliver!: (message: ReceivedMessage) => void;
  const received = new Promise<ReceivedMessage>((resolve) => {
    deliver = resolve;
  });
  const server = new SMTPServer({
    name: "localhost",
    banner: "smtpkit demo server (smtp-server, loopback only)",
    key,
    cert,
    authMethods: ["PLAIN", "LOGIN"],
    allowInsecureAuth: false, // AUTH is offered only after STARTTLS
    disableReverseLookup: true, // no DNS: the demo must work without a network
    logger: false,
    size: 10 * 1024 * 1024,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      const ok =
        (auth.method === "PLAIN" || auth.method === "LOGIN") &&
        auth.username === user.username &&
        sameText(auth.password ?? "", user.password);
      if (ok) callback(null, { user: user.username });
      else
        callback(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (error) => callback(error));
      stream.on("end", () => {
        const envelope = session.envelope;
        deliver({
          from: envelope.mailFrom ? envelope.mailFrom.address : "",
          to: envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === "string" ? session.user : undefined,
          secure: session.secure,
          raw: Buffer.concat(chunks),
        });
        callback(null, "Message accepted by the smtpkit demo server");
      });
    },
  });
  server.on("error", () => {
    // a client dropping its connection is not the demo's failure; the client side reports its own errors
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1",
    port,
    certificate: cert,
    user,
    received,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopped;
    },
  };
}

/**
 * smtp-server is loaded here only, when the demo runs: the library and the other commands never need it.
 * It is a devDependency (so `npm ci && npm start` has it) and an optional peer dependency (so installing
 * smtpkit does not install it).
 */
async function loadSmtpServer(): Promise<typeof import("smtp-server")> {
  try {
    return await import("smtp-server");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw new CliError(
      EXIT.CONFIG,
      "the demo's server is the smtp-server package, which is not installed (smtpkit itself does not need " +
        "it): run `npm install smtp-server`, then `smtpkit demo` again",
    );
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

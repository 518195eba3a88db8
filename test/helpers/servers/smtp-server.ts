// The npm `smtp-server` (by nodemailer's author) in-process on loopback, port chosen by the kernel.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerAuthentication,
  type SMTPServerDataResult,
  type SMTPServerEnvelope,
  type SMTPServerOptions,
  type SMTPServerSession,
} from "smtp-server";
import {
  certPaths,
  fixtureCa,
  hasRejectHeader,
  LOOPBACK,
  localPartOf,
  type TlsCertChoice,
  waitUntil,
} from "./common.js";

export type SmtpServerAuthMethod = "PLAIN" | "LOGIN" | "XOAUTH2" | "CRAM-MD5";

export interface SmtpServerAuthOptions {
  /** user name -> password (for XOAUTH2: the access token). */
  users: Record<string, string>;
  /** Mechanisms to offer (default PLAIN, LOGIN, XOAUTH2; CRAM-MD5 is available too). */
  methods?: SmtpServerAuthMethod[];
  /** MAIL/RCPT/DATA need AUTH first (default false: authentication optional). */
  required?: boolean;
  /** Offer AUTH before TLS (smtp-server's allowInsecureAuth; default false). */
  allowInsecure?: boolean;
}

export interface SmtpServerHarnessOptions {
  /** Implicit TLS from the first byte (smtp-server's `secure`). */
  secure?: boolean;
  /** Offer STARTTLS (default true; ignored with secure). */
  starttls?: boolean;
  /** Accept STARTTLS but do not advertise it (smtp-server's hideSTARTTLS). */
  hideSTARTTLS?: boolean;
  auth?: SmtpServerAuthOptions;
  /** LHLO and one reply per recipient after the data (faildata@... is refused after the data). */
  lmtp?: boolean;
  /** Size limit in octets, advertised as SIZE; bigger messages get 552. */
  size?: number;
  /** Advertise DSN and parse its parameters (default false, smtp-server's default). */
  dsn?: boolean;
  /** Advertise REQUIRETLS on TLS connections (default false). */
  requireTls?: boolean;
  /** Advertise ENHANCEDSTATUSCODES (default false, smtp-server's default). */
  enhancedStatusCodes?: boolean;
  hidePIPELINING?: boolean;
  hide8BITMIME?: boolean;
  hideSMTPUTF8?: boolean;
  /** Address to listen on (default 127.0.0.1; "::1" for IPv6 tests). */
  listen?: "127.0.0.1" | "::1";
  tlsCert?: TlsCertChoice;
  tlsMaxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Name in the greeting (default "localhost"). */
  name?: string;
  /** Passed to smtp-server last, overriding everything above. */
  serverOptions?: Partial<SMTPServerOptions>;
}

export interface SmtpServerMessage {
  mailFrom: string;
  /** Recipients accepted at RCPT. */
  rcptTo: string[];
  /** Recipients the message was accepted for after the data (differs in LMTP mode only). */
  accepted: string[];
  /** The smtp-server envelope (MAIL/RCPT args, DSN, bodyType, smtpUtf8, requireTLS). */
  envelope: SMTPServerEnvelope;
  /** The message as received after dot-unstuffing (CRLF line ends). */
  raw: Buffer;
  /** The authenticated user, or null. */
  user: string | null;
  secure: boolean;
  /** EHLO/HELO/LHLO as sent. */
  openingCommand: string;
  hostNameAppearsAs: string;
  /** e.g. ESMTPSA */
  transmissionType: string;
}

export interface SmtpServerAuthAttempt {
  method: string;
  username: string | undefined;
  success: boolean;
}

export interface SmtpServerHarness {
  host: "127.0.0.1" | "::1";
  port: number;
  secure: boolean;
  lmtp: boolean;
  ca: Buffer;
  server: SMTPServer;
  messages(): SmtpServerMessage[];
  waitForMessages(n: number, timeoutMs?: number): Promise<SmtpServerMessage[]>;
  clearMessages(): void;
  authAttempts(): SmtpServerAuthAttempt[];
  stop(): Promise<void>;
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Starts smtp-server on loopback with the fixture certificate. */
export async function startSmtpServer(options: SmtpServerHarnessOptions = {}): Promise<SmtpServerHarness> {
  const host = options.listen ?? LOOPBACK;
  const { cert, key } = certPaths(options.tlsCert);
  const received: SmtpServerMessage[] = [];
  const attempts: SmtpServerAuthAttempt[] = [];
  const users = options.auth?.users ?? {};
  const lmtp = options.lmtp ?? false;
  const secure = options.secure ?? false;

  const disabledCommands: string[] = [];
  if (!options.auth) disabledCommands.push("AUTH");
  if (!secure && options.starttls === false) disabledCommands.push("STARTTLS");

  const serverOptions: SMTPServerOptions = {
    name: options.name ?? "localhost",
    secure,
    key: readFileSync(key),
    cert: readFileSync(cert),
    ...(options.tlsMaxVersion ? { maxVersion: options.tlsMaxVersion } : {}),
    hideSTARTTLS: options.hideSTARTTLS ?? false,
    lmtp,
    logger: false,
    disableReverseLookup: true,
    disabledCommands,
    authMethods: options.auth?.methods ?? ["PLAIN", "LOGIN", "XOAUTH2"],
    authOptional: !(options.auth?.required ?? false),
    allowInsecureAuth: options.auth?.allowInsecure ?? false,
    hideDSN: !(options.dsn ?? false),
    hideREQUIRETLS: !(options.requireTls ?? false),
    hideENHANCEDSTATUSCODES: !(options.enhancedStatusCodes ?? false),
    hidePIPELINING: options.hidePIPELINING ?? false,
    hide8BITMIME: options.hide8BITMIME ?? false,
    hideSMTPUTF8: options.hideSMTPUTF8 ?? false,
    ...(options.size !== undefined ? { size: options.size } : {}),
    closeTimeout: 1000,

    onAuth(auth: SMTPServerAuthentication, _session: SMTPServerSession, callback) {
      const username = auth.username;
      const expected = username !== undefined ? users[username] : undefined;
      let ok = false;
      if (expected !== undefined) {
        if (auth.method === "PLAIN" || auth.method === "LOGIN") ok = auth.password === expected;
        else if (auth.method === "XOAUTH2") ok = auth.accessToken === expected;
        else if (auth.method === "CRAM-MD5") ok = auth.validatePassword(expected);
      }
      attempts.push({ method: auth.method, username, success: ok });
      if (ok) return callback(null, { user: username });
      if (auth.method === "XOAUTH2") {
        // a 334 with the JSON error, then 535 after the client's empty line (Google's behaviour)
        return callback(null, {
          data: { status: "401", schemes: "bearer", scope: "https://mail.google.com/" },
        });
      }
      return callback(null, { message: "Error: authentication failed (harness)", responseCode: 535 });
    },

    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const lp = localPartOf(address.address);
      if (lp === "reject")
        return callback(smtpError(550, `<${address.address}>: recipient rejected by harness`));
      if (lp === "tempfail") return callback(smtpError(452, `<${address.address}>: mailbox full (harness)`));
      callback();
    },

    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => callback(err));
      stream.on("end", () => {
        if (stream.sizeExceeded) {
          return callback(smtpError(552, `message exceeds fixed maximum message size ${options.size}`));
        }
        const raw = Buffer.concat(chunks);
        const envelope = session.envelope;
        const rcptTo = envelope.rcptTo.map((r) => r.address);
        const refuseAll = hasRejectHeader(raw);
        let accepted: string[] = [];
        let result: string | SMTPServerDataResult[] | undefined;
        let error: Error | undefined;
        if (lmtp) {
          result = rcptTo.map((rcpt) => {
            if (refuseAll) return smtpError(554, `<${rcpt}>: message refused by harness (X-Harness-Reject)`);
            if (localPartOf(rcpt) === "faildata")
              return smtpError(550, `<${rcpt}>: delivery refused by harness`);
            accepted.push(rcpt);
            return `<${rcpt}> delivered`;
          });
        } else if (refuseAll) {
          error = smtpError(554, "message refused by harness (X-Harness-Reject)");
        } else {
          accepted = rcptTo;
          result = "OK: message accepted";
        }
        if (accepted.length > 0) {
          received.push({
            mailFrom: envelope.mailFrom ? envelope.mailFrom.address : "",
            rcptTo,
            accepted,
            envelope: structuredClone(envelope),
            raw,
            user: typeof session.user === "string" ? session.user : null,
            secure: session.secure,
            openingCommand: String(session.openingCommand),
            hostNameAppearsAs: String(session.hostNameAppearsAs),
            transmissionType: session.transmissionType,
          });
        }
        if (error) callback(error);
        else callback(null, result);
      });
    },
    ...options.serverOptions,
  };

  const server = new SMTPServer(serverOptions);
  server.on("error", () => {
    // connection-level errors (a client that drops the connection) are expected in tests
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, host, () => {
      server.server.off("error", reject);
      resolve();
    });
  });
  // Do not keep the test process alive only for this server.
  server.server.unref();
  const port = (server.server.address() as AddressInfo).port;

  let stopped: Promise<void> | undefined;
  return {
    host,
    port,
    secure,
    lmtp,
    ca: fixtureCa(),
    server,
    messages: () => [...received],
    waitForMessages: (n, timeoutMs = 5000) =>
      waitUntil(
        () => (received.length >= n ? [...received] : undefined),
        timeoutMs,
        `${n} message(s) at smtp-server (have ${received.length})`,
        10,
      ),
    clearMessages: () => {
      received.length = 0;
    },
    authAttempts: () => [...attempts],
    stop: () => {
      stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopped;
    },
  };
}

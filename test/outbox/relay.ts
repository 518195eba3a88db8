// A relay for the outbox tests: the npm smtp-server (a real server none of us wrote) on loopback, plain
// SMTP, whose replies a test can script per message — throttle, greylist, refuse, delay the reply to the
// end of data — and which records every message it accepted, with the time its end of data arrived.
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from "smtp-server";
import { LOOPBACK, waitUntil } from "../helpers/servers/common.js";

export interface RelayMessage {
  messageId: string;
  recipients: string[];
  /** Date.now() when the end of data arrived (before the reply). */
  endOfData: number;
  /** Date.now() when the reply was given. */
  replied: number;
  /** The reply code given. */
  code: number;
  raw: Buffer;
}

/** A reply to give instead of accepting: [code, text]. */
export type Refusal = [number, string];

export interface RelayScript {
  /** A refusal for MAIL FROM, or undefined to accept. */
  mail?(session: SMTPServerSession): Refusal | undefined;
  /** A refusal for one RCPT, or undefined to accept. */
  rcpt?(address: string, session: SMTPServerSession): Refusal | undefined;
  /** A refusal for the message after its data, or undefined to accept. */
  data?(messageId: string, raw: Buffer): Refusal | undefined;
  /** Awaited after the end of data and before the reply. */
  beforeReply?(messageId: string): Promise<void> | void;
  /** Called right after the reply was handed to the socket. */
  afterReply?(message: RelayMessage): void;
}

export interface Relay {
  port: number;
  script: RelayScript;
  /** Every message answered with 250, in order. */
  accepted(): RelayMessage[];
  /** Every end of data (whatever the reply). */
  attempts(): RelayMessage[];
  waitForAccepted(n: number, timeoutMs: number): Promise<RelayMessage[]>;
  stop(): Promise<void>;
}

function refusal([code, text]: Refusal): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export function messageIdOf(raw: Buffer): string {
  const head = raw.subarray(0, Math.max(0, raw.indexOf("\r\n\r\n"))).toString("latin1");
  return /^message-id:\s*(<[^>\r\n]+>)/im.exec(head)?.[1] ?? "";
}

export async function startRelay(script: RelayScript = {}): Promise<Relay> {
  const accepted: RelayMessage[] = [];
  const attempts: RelayMessage[] = [];
  const relay = { script } as { script: RelayScript };
  const server = new SMTPServer({
    name: "localhost",
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    authOptional: true,
    closeTimeout: 500,
    onMailFrom(_address: SMTPServerAddress, session, callback) {
      const r = relay.script.mail?.(session);
      callback(r ? refusal(r) : undefined);
    },
    onRcptTo(address: SMTPServerAddress, session, callback) {
      const r = relay.script.rcpt?.(address.address, session);
      callback(r ? refusal(r) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const endOfData = Date.now();
        const raw = Buffer.concat(chunks);
        const messageId = messageIdOf(raw);
        void (async () => {
          const r = relay.script.data?.(messageId, raw);
          await relay.script.beforeReply?.(messageId);
          const message: RelayMessage = {
            messageId,
            recipients: session.envelope.rcptTo.map((a) => a.address),
            endOfData,
            replied: Date.now(),
            code: r ? r[0] : 250,
            raw,
          };
          attempts.push(message);
          if (r) callback(refusal(r));
          else {
            accepted.push(message);
            callback(null, "Ok: queued");
          }
          relay.script.afterReply?.(message);
        })();
      });
    },
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    get script() {
      return relay.script;
    },
    set script(s: RelayScript) {
      relay.script = s;
    },
    accepted: () => [...accepted],
    attempts: () => [...attempts],
    waitForAccepted: (n, timeoutMs) =>
      waitUntil(
        () => (accepted.length >= n ? [...accepted] : undefined),
        timeoutMs,
        `${n} accepted messages (have ${accepted.length})`,
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// How the transport gets a message to the server: one connection per message (connect, sendRaw, QUIT), or
// through a pool. Both take the message as a stream and never hold it whole.
import { type ConnectOptions, connect } from "../api/connect.js";
import type { RawSendOptions } from "../client/send.js";
import { createPool } from "../pool/pool.js";
import type { PoolOptions } from "../pool/types.js";
import type { Content, SendResult } from "../types.js";

export interface RawEnvelope {
  /** The envelope sender ("" for the null sender). */
  from: string;
  recipients: string[];
}

export interface Sent {
  result: SendResult;
  /** The EHLO extension lines of the session that sent it, when known. */
  ehlo?: string[];
}

export interface Sender {
  send(envelope: RawEnvelope, message: Content, options: RawSendOptions): Promise<Sent>;
  /** Finish what was started, then release every connection. */
  close(): Promise<void>;
}

/** One connection per message: connect (TLS, AUTH), sendRaw, QUIT — QUIT also after a failure. */
export function oneShotSender(options: ConnectOptions): Sender {
  return {
    async send(envelope, message, sendOptions) {
      const smtp = await connect(options);
      try {
        const result = await smtp.sendRaw(envelope.from, envelope.recipients, message, sendOptions);
        return { result, ehlo: smtp.getServerOptions() };
      } finally {
        // a failure to QUIT never replaces the send's outcome
        await smtp.close().catch(() => undefined);
      }
    },
    async close() {
      // nothing is kept open between messages
    },
  };
}

/** A pool (API.md §6): connections reused, several messages in flight on each, safe retries. */
export function pooledSender(options: PoolOptions): Sender {
  const pool = createPool(options);
  return {
    async send(envelope, message, sendOptions) {
      return { result: await pool.sendRaw(envelope.from, envelope.recipients, message, sendOptions) };
    },
    close: () => pool.close(),
  };
}

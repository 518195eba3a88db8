// How a worker sends: a narrow interface the pool (API.md §6) satisfies. Until createPool lands, a small
// stand-in: `connections` SMTP sessions opened with connect(), messages spread over them in turn, each
// session pipelining the messages queued on it; a session that failed is replaced on next use.
import { type ConnectOptions, connect } from "../api/connect.js";
import type { SMTP } from "../client/smtp.js";
import { SMTPError } from "../errors.js";
import type { SendResult } from "../types.js";
import { deliver } from "./deliver.js";
import type { ReadyMail } from "./stored-mail.js";

export interface RelaySender {
  sendMail(mail: ReadyMail): Promise<SendResult>;
  close(): Promise<void>;
}

/** Options of the relay a worker sends through: ConnectOptions plus the pool's connection count. */
export interface RelayOptions extends ConnectOptions {
  /** Connections to the relay (default 5, as the pool's maxConnections). */
  maxConnections?: number;
}

/** True when the session that produced `error` cannot carry another transaction. */
function sessionIsBroken(error: unknown): boolean {
  if (!(error instanceof SMTPError)) return true;
  if (error.reply?.code === 421) return true;
  // a refused transaction is followed by RSET; the session stays usable
  return !(
    error.code === "EENVELOPE" ||
    (error.code === "EMESSAGE" && error.reply !== undefined) ||
    error.code === "EINPUT"
  );
}

/**
 * A server that answers a pipelined MAIL with 421 and closes is reported by the session as a lost
 * connection at a later step; the 421 it sent (its last reply) is what the outbox must see (throttling).
 */
function withClosingReply(error: unknown, smtp: SMTP | undefined): unknown {
  const last = smtp?.lastReply;
  if (
    !(error instanceof SMTPError) ||
    error.reply !== undefined ||
    last?.code !== 421 ||
    error.deliveryUnknown
  ) {
    return error;
  }
  return new SMTPError(error.code, error.message, {
    stage: error.stage,
    reply: last,
    cause: error,
    temporary: true,
  });
}

export function createRelaySender(options: RelayOptions): RelaySender {
  const { maxConnections = 5, ...connectOptions } = options;
  const slots: (Promise<SMTP> | undefined)[] = new Array(Math.max(1, maxConnections)).fill(undefined);
  let next = 0;
  let closed = false;
  const drop = (i: number, session: Promise<SMTP>): void => {
    if (slots[i] !== session) return;
    slots[i] = undefined;
    session.then((smtp) => smtp.close()).catch(() => undefined);
  };
  return {
    async sendMail(mail) {
      if (closed) throw new SMTPError("EABORT", "the relay sender is closed", { temporary: true });
      const i = next;
      next = (next + 1) % slots.length;
      let session = slots[i];
      if (session === undefined) {
        session = connect(connectOptions);
        slots[i] = session;
      }
      const current = session;
      let smtp: SMTP | undefined;
      try {
        smtp = await current;
        return await deliver(smtp, mail);
      } catch (error) {
        if (sessionIsBroken(error)) drop(i, current);
        throw withClosingReply(error, smtp);
      }
    },
    async close() {
      closed = true;
      const open = slots.splice(0);
      await Promise.all(open.map((s) => s?.then((smtp) => smtp.close()).catch(() => undefined)));
    },
  };
}

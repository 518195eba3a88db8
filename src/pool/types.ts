// The pool's public types (API.md §6).
import type { ConnectOptions } from "../api/connect.js";
import type { RawSendOptions } from "../client/send.js";
import type { Content, SendResult } from "../types.js";
import type { PoolMail } from "./send-mail-on.js";

/** A rate limit on message starts, shared by every connection of a pool. */
export interface RateLimit {
  /** Messages that may start per `perMs`. */
  messages: number;
  /** The window, in ms. */
  perMs: number;
  /**
   * Extra starts allowed at once on top of the steady rate (default 0): at most `messages + burst` starts
   * in any window of `perMs`.
   */
  burst?: number;
}

/** createPool()'s options: where and how to connect (as connect()), and how the pool behaves. */
export interface PoolOptions extends ConnectOptions {
  /** Connections open at once, at most. Default 5. */
  maxConnections?: number;
  /** Messages sent over one connection before it is closed (QUIT) and replaced. Default 1000. */
  maxMessagesPerConnection?: number;
  /** ms an idle connection stays open, then QUIT. Default 30 000. */
  idleTimeout?: number;
  /** Checked before a message is started: at most `messages + burst` starts in any window of `perMs`. */
  rateLimit?: RateLimit;
  /** sendMail()/sendRaw() beyond this many waiting messages rejects with EQUEUEFULL. Default: no limit. */
  maxQueued?: number;
  /** ms a throttled message may wait for the server before it fails with the throttling reply. Default 600 000. */
  throttleTimeout?: number;
}

/** What the pool is doing right now, and what it did so far. */
export interface PoolStats {
  /** Connections open or being opened. */
  open: number;
  /** Connections with at least one message in flight. */
  busy: number;
  /** Messages waiting to start. */
  queued: number;
  /** Messages accepted by the server (resolved). */
  sent: number;
  /** Messages reported failed (rejected). */
  failed: number;
  /** Throttling events: 421, 454, 4.7.x replies, or the server closing the connection at MAIL. */
  throttled: number;
}

/** A set of reused connections to one server (API.md §6). */
export interface Pool {
  /** Sends one message over a pooled connection; resolves when the server accepted it. */
  sendMail(mail: PoolMail): Promise<SendResult>;
  /** One transaction with a message the caller built completely (see SMTP.sendRaw). */
  sendRaw(
    fromAddr: string,
    recipients: string[],
    message: Content,
    options?: RawSendOptions,
  ): Promise<SendResult>;
  /** A snapshot of the pool's counters. */
  readonly stats: PoolStats;
  /** Stops taking work, finishes what is queued and in flight, QUITs every connection. */
  close(): Promise<void>;
  /** Drops everything: queued messages reject with EABORT, connections are destroyed. */
  destroy(): void;
}

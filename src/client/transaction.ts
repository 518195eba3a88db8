import { describeReply, replyError, SMTPError } from "../errors.js";
import type { Capabilities } from "../protocol/capabilities.js";
import * as commands from "../protocol/commands.js";
import { DotStuffer, LineEndNormalizer } from "../protocol/dot-stuff.js";
import { encodeXtext } from "../protocol/xtext.js";
import type { Connection } from "../transport/connection.js";
import type { Reply, SendOptions } from "../types.js";

/** What a transaction needs to know about the session it runs in. */
export interface Session {
  connection: Connection;
  capabilities: Capabilities;
  lmtp: boolean;
  secure: boolean;
  timeouts: { greeting: number; command: number; data: number };
  clientName: string;
  /**
   * The next queued send, prepared, when one is waiting behind this one (RFC 2920 §3.1: its envelope may
   * ride in the same write as this message's end of data). Undefined when nothing is queued.
   */
  nextQueued?: (() => PreparedTransaction | undefined) | undefined;
}

export interface Envelope {
  /** Envelope sender, bare ("" for the null reverse-path). */
  from: string;
  /** Envelope recipients, bare, de-duplicated. */
  recipients: string[];
  /** True when an address needs SMTPUTF8 (checked by the caller against the server's offer). */
  smtpUtf8: boolean;
}

export interface OutgoingMessage {
  /** The message bytes, with any line ends (normalised on the way). */
  chunks: AsyncIterable<Uint8Array>;
  /** The size in octets when known (SIZE=, RFC 1870). */
  size: number | undefined;
  /** False when the message is known to be 7-bit; BODY=8BITMIME is declared otherwise (when offered). */
  eightBit: boolean;
}

export interface TransactionResult {
  accepted: string[];
  rejected: { recipient: string; reply: Reply }[];
  reply: Reply;
}

type EnvelopeOptions = Pick<SendOptions, "dsn" | "requireTLS">;

/** One transaction, validated and ready to run. */
export interface PreparedTransaction {
  envelope: Envelope;
  message: OutgoingMessage;
  options: EnvelopeOptions;
  /** Set when the envelope (MAIL, RCPT..., DATA) already went out with the previous message's end of data. */
  early?: { mail: Promise<Reply>; rcpts: Promise<Reply>[]; data: Promise<Reply> } | undefined;
}

/** Builds the envelope commands; throws (EINPUT, EENVELOPE, EMESSAGE) before anything is registered or written. */
function envelopeCommands(
  session: Session,
  tx: PreparedTransaction,
): { mail: commands.Command; rcpts: commands.Command[] } {
  const mail = commands.mailFrom(
    tx.envelope.from,
    mailParameters(session, tx.envelope, tx.message, tx.options),
  );
  const rcpts = tx.envelope.recipients.map((r) =>
    commands.rcptTo(r, rcptParameters(session.capabilities, r, tx.options)),
  );
  return { mail, rcpts };
}

/**
 * Registers the reply waiters for a pipelined envelope flight (MAIL, every RCPT, DATA) and returns the
 * commands to write. Only for PIPELINING without CHUNKING. Throws before registering anything when the
 * transaction cannot be built.
 */
function launchEnvelope(session: Session, tx: PreparedTransaction): commands.Command[] {
  const { mail, rcpts } = envelopeCommands(session, tx);
  const { connection } = session;
  const t = session.timeouts.command;
  const mailP = connection.expect("MAIL", t);
  const rcptPs = rcpts.map(() => connection.expect("RCPT", t));
  const dataP = connection.expect("DATA", t);
  tx.early = { mail: mailP, rcpts: rcptPs, data: dataP };
  return [mail, ...rcpts, commands.data()];
}

/**
 * Runs one mail transaction: MAIL, RCPT for every recipient, then DATA (dot-stuffed) or BDAT (CHUNKING).
 * With PIPELINING the envelope and DATA (or the first BDAT) go in one write; every reply is still checked
 * (RFC 2920). A transaction refused before its end is reset (RSET) so the session stays usable.
 */
export async function runTransaction(session: Session, tx: PreparedTransaction): Promise<TransactionResult> {
  const { envelope, message } = tx;
  const { connection, capabilities } = session;
  const chunking = capabilities.chunking;
  // LMTP with BDAT answers once per accepted recipient after the last chunk: the envelope must be known
  // before that count can be awaited, so there the envelope is not pipelined with the chunks.
  const pipelining = capabilities.pipelining && !(chunking && session.lmtp);
  const t = session.timeouts.command;

  // ---- envelope ----
  let mailReply: Reply;
  const rcptReplies: Reply[] = [];
  let dataReply: Promise<Reply> | undefined;
  if (pipelining && chunking) {
    // The envelope rides with the first BDAT chunk (written by sendChunked); nothing is awaited before it.
    const { mail, rcpts } = envelopeCommands(session, tx);
    const mailP = connection.expect("MAIL", t);
    const rcptPs = rcpts.map(() => connection.expect("RCPT", t));
    return await sendChunked(session, envelope, message, [mail, ...rcpts], mailP, rcptPs);
  }
  if (pipelining) {
    if (tx.early === undefined) connection.writeCommands(launchEnvelope(session, tx));
    const early = tx.early!;
    dataReply = early.data;
    mailReply = await early.mail;
    for (const p of early.rcpts) rcptReplies.push(await p);
  } else {
    const { mail, rcpts } = envelopeCommands(session, tx);
    mailReply = await connection.command(mail, "MAIL", t);
    if (isPositive(mailReply)) {
      for (const rcpt of rcpts) rcptReplies.push(await connection.command(rcpt, "RCPT", t));
    }
  }
  fatalIf421(connection, mailReply, "MAIL");
  const { accepted, rejected } = sortRecipients(envelope.recipients, rcptReplies);
  for (const r of rejected) fatalIf421(connection, r.reply, "RCPT");

  if (!isPositive(mailReply) || accepted.length === 0) {
    if (dataReply) {
      const reply = await dataReply;
      if (reply.code === 354) {
        // RFC 2920 §3.1: DATA was accepted although nothing else was; end it with an empty message body.
        const end = connection.expect("END", session.timeouts.data);
        connection.writeCommands([
          { verb: "DATA", wire: ".\r\n", log: ". (no recipient was accepted: empty data ended)" },
        ]);
        await end;
      }
    }
    await resetQuietly(session);
    if (!isPositive(mailReply)) throw replyError("EENVELOPE", "MAIL", "the sender was refused", mailReply);
    const first = rejected[0]!.reply;
    const error = replyError("EENVELOPE", "RCPT", "every recipient was refused", first);
    throw Object.assign(error, { rejected });
  }

  if (chunking) {
    // CHUNKING without PIPELINING: envelope answered, now the chunks
    return await sendChunked(session, envelope, message, [], undefined, [], { accepted, rejected });
  }

  // ---- DATA ----
  const dataAnswer = await (dataReply ?? connection.command(commands.data(), "DATA", t));
  if (dataAnswer.code !== 354) {
    fatalIf421(connection, dataAnswer, "DATA");
    if (dataAnswer.code < 400) {
      const error = replyError("EPROTOCOL", "DATA", "the server answered DATA without 354", dataAnswer);
      connection.fail(error);
      throw error;
    }
    await resetQuietly(session);
    throw withRejected(replyError("EMESSAGE", "DATA", "the server refused DATA", dataAnswer), rejected);
  }
  const deadline = connection.deadline(session.timeouts.data, "DATA", "sending the message");
  try {
    const stuffer = new DotStuffer();
    const written = await pump(connection, message.chunks, (chunk) => stuffer.encode(chunk));
    const finals = expectFinal(session, accepted.length);
    connection.log("C", `<message: ${written} octets>`);
    connection.log("C", ".");
    // RFC 2920 §3.1: a queued send's envelope may follow the end of data in the same write, so a
    // caller with several messages queued pays one round trip per message.
    const next = pipelining && !chunking ? session.nextQueued?.() : undefined;
    let nextFlight: commands.Command[] = [];
    if (next !== undefined && next.early === undefined) {
      try {
        nextFlight = launchEnvelope(session, next);
      } catch {
        // that send fails on its own when its turn comes; this one is unaffected
      }
    }
    const socket = connection.socket;
    socket.cork();
    const wait = connection.write(stuffer.end());
    if (nextFlight.length > 0) connection.writeCommands(nextFlight);
    socket.uncork();
    if (wait) await wait;
    return await finish(session, finals, accepted, rejected);
  } finally {
    deadline.clear();
  }
}

/** Writes every chunk through `encode`, waiting for drain when the socket is full. A source error fails all. */
async function pump(
  connection: Connection,
  source: AsyncIterable<Uint8Array>,
  encode: (chunk: Uint8Array) => Uint8Array,
): Promise<number> {
  let octets = 0;
  try {
    for await (const chunk of source) {
      octets += chunk.length;
      const out = encode(chunk);
      if (out.length > 0) {
        const wait = connection.write(out);
        if (wait) await wait;
      }
    }
  } catch (cause) {
    if (cause instanceof SMTPError) throw cause;
    const error = new SMTPError("EMESSAGE", `the message content failed: ${errorMessage(cause)}`, {
      stage: "DATA",
      cause,
      temporary: false,
    });
    connection.fail(error); // the terminator is never sent: the server cannot take a partial message
    throw error;
  }
  return octets;
}

/** BDAT: the message is split into chunks of whatever the source yields; the last one says LAST. */
async function sendChunked(
  session: Session,
  envelope: Envelope,
  message: OutgoingMessage,
  envelopeCommands: commands.Command[],
  mailP: Promise<Reply> | undefined,
  rcptPs: Promise<Reply>[],
  known?: { accepted: string[]; rejected: { recipient: string; reply: Reply }[] },
): Promise<TransactionResult> {
  const { connection } = session;
  const normalizer = new LineEndNormalizer();
  const bdatReplies: Promise<Reply>[] = [];
  let failedEarly = false;
  const deadline = connection.deadline(session.timeouts.data, "BDAT", "sending the message");
  let pendingHead = envelopeCommands;
  // Write one BDAT frame: command line + bytes, corked together with whatever envelope is still unsent.
  const frame = (bytes: Uint8Array, last: boolean): Promise<void> | undefined => {
    const command = commands.bdat(bytes.length, last);
    const reply = last ? undefined : connection.expect("BDAT", session.timeouts.data);
    if (reply) {
      bdatReplies.push(reply);
      reply.then(
        (r) => {
          if (!isPositive(r)) failedEarly = true;
        },
        () => undefined,
      );
    }
    const socket = connection.socket;
    socket.cork();
    connection.writeCommands([...pendingHead, command]);
    pendingHead = [];
    connection.log("C", `<${bytes.length} octets>`);
    const wait = connection.write(bytes);
    socket.uncork();
    return wait;
  };
  try {
    // Small pieces (a composed header block, a short body) are gathered into one chunk of up to
    // BDAT_CHUNK octets, so a small message is one BDAT ... LAST; one piece is always held back so that
    // the last frame can say LAST.
    let held: Uint8Array[] = [];
    let heldOctets = 0;
    try {
      for await (const chunk of message.chunks) {
        const out = normalizer.encode(chunk);
        if (out.length === 0) continue;
        if (heldOctets > 0 && heldOctets + out.length > BDAT_CHUNK) {
          const wait = frame(join(held, heldOctets), false);
          held = [];
          heldOctets = 0;
          if (wait) await wait;
          if (failedEarly) break;
        }
        held.push(out); // encoders hand out fresh buffers or views of the input: safe to keep
        heldOctets += out.length;
      }
    } catch (cause) {
      if (cause instanceof SMTPError) throw cause;
      const error = new SMTPError("EMESSAGE", `the message content failed: ${errorMessage(cause)}`, {
        stage: "BDAT",
        cause,
        temporary: false,
      });
      connection.fail(error);
      throw error;
    }
    const tail = normalizer.end();
    held.push(tail);
    const last = join(held, heldOctets + tail.length);
    let finals: Promise<Reply>[] = [];
    if (!failedEarly) {
      finals = expectFinal(session, known ? known.accepted.length : envelope.recipients.length, "END");
      const wait = frame(last, true);
      if (wait) await wait;
    }
    // ---- collect: envelope replies first, then each BDAT, then the final one(s) ----
    let accepted: string[];
    let rejected: { recipient: string; reply: Reply }[];
    if (known) {
      ({ accepted, rejected } = known);
    } else {
      const mailReply = await mailP!;
      const rcptReplies: Reply[] = [];
      for (const p of rcptPs) rcptReplies.push(await p);
      fatalIf421(connection, mailReply, "MAIL");
      ({ accepted, rejected } = sortRecipients(envelope.recipients, rcptReplies));
      for (const r of rejected) fatalIf421(connection, r.reply, "RCPT");
      if (!isPositive(mailReply) || accepted.length === 0) {
        for (const p of [...bdatReplies, ...finals]) await p;
        await resetQuietly(session);
        if (!isPositive(mailReply))
          throw replyError("EENVELOPE", "MAIL", "the sender was refused", mailReply);
        throw withRejected(
          replyError("EENVELOPE", "RCPT", "every recipient was refused", rejected[0]!.reply),
          rejected,
        );
      }
    }
    for (const p of bdatReplies) {
      const reply = await p;
      if (!isPositive(reply)) {
        for (const q of [...bdatReplies, ...finals]) await q.catch(() => undefined);
        fatalIf421(connection, reply, "BDAT");
        await resetQuietly(session);
        throw withRejected(
          replyError("EMESSAGE", "BDAT", "the server refused a BDAT chunk", reply),
          rejected,
        );
      }
    }
    return await finish(session, finals, accepted, rejected);
  } finally {
    deadline.clear();
  }
}

/** Registers the waiter(s) for the end of data: one, or one per accepted recipient with LMTP (RFC 2033 §4.2). */
function expectFinal(session: Session, acceptedCount: number, stage: "END" = "END"): Promise<Reply>[] {
  const count = session.lmtp ? acceptedCount : 1;
  return Array.from({ length: count }, () => session.connection.expect(stage, session.timeouts.data));
}

async function finish(
  session: Session,
  finals: Promise<Reply>[],
  accepted: string[],
  rejected: { recipient: string; reply: Reply }[],
): Promise<TransactionResult> {
  const replies: Reply[] = [];
  for (const p of finals) replies.push(await p);
  if (!session.lmtp) {
    const reply = replies[0]!;
    if (isPositive(reply)) return { accepted, rejected, reply };
    fatalIf421(session.connection, reply, "END");
    // No RSET: the reply to the end of data ends the transaction either way (RFC 5321 §4.1.1.4), and the
    // next queued transaction may already have started.
    throw withRejected(replyError("EMESSAGE", "END", "the server refused the message", reply), rejected);
  }
  const lmtpAccepted: string[] = [];
  const lmtpRejected = [...rejected];
  let positive: Reply | undefined;
  replies.forEach((reply, i) => {
    const recipient = accepted[i]!;
    if (isPositive(reply)) {
      lmtpAccepted.push(recipient);
      positive ??= reply;
    } else lmtpRejected.push({ recipient, reply });
  });
  if (positive === undefined) {
    const first = replies[0]!;
    throw withRejected(
      replyError("EMESSAGE", "END", "every recipient refused the message", first),
      lmtpRejected,
    );
  }
  return { accepted: lmtpAccepted, rejected: lmtpRejected, reply: positive };
}

function mailParameters(
  session: Session,
  envelope: Envelope,
  message: OutgoingMessage,
  options: EnvelopeOptions,
): string[] {
  const caps = session.capabilities;
  const params: string[] = [];
  if (message.size !== undefined && caps.maxSize !== undefined) {
    if (caps.maxSize > 0 && message.size > caps.maxSize) {
      throw new SMTPError(
        "EMESSAGE",
        `the message (${message.size} octets) is larger than the server's limit (SIZE ${caps.maxSize})`,
        { stage: "MAIL", temporary: false },
      );
    }
    params.push(`SIZE=${message.size}`);
  }
  if (message.eightBit && caps.eightBitMime) params.push("BODY=8BITMIME");
  if (envelope.smtpUtf8) {
    if (!caps.smtpUtf8) {
      throw new SMTPError("EENVELOPE", "an address needs SMTPUTF8, which the server does not offer", {
        stage: "MAIL",
        temporary: false,
      });
    }
    params.push("SMTPUTF8");
  }
  if (options.requireTLS) {
    if (!session.secure || !caps.requireTls) {
      throw new SMTPError(
        "EENVELOPE",
        session.secure
          ? "REQUIRETLS was asked for but the server does not offer it"
          : "REQUIRETLS needs a TLS channel",
        { stage: "MAIL", temporary: false },
      );
    }
    params.push("REQUIRETLS");
  }
  if (options.dsn && caps.dsn) {
    if (options.dsn.ret) params.push(`RET=${options.dsn.ret}`);
    if (options.dsn.envid !== undefined) params.push(`ENVID=${encodeXtext(options.dsn.envid)}`);
  }
  return params;
}

function rcptParameters(caps: Capabilities, recipient: string, options: EnvelopeOptions): string[] {
  const dsn = options.dsn;
  if (!dsn || !caps.dsn) return [];
  const params: string[] = [];
  if (dsn.notify && dsn.notify.length > 0) params.push(`NOTIFY=${dsn.notify.join(",")}`);
  if (dsn.orcpt) params.push(`ORCPT=rfc822;${encodeXtext(recipient)}`);
  return params;
}

function sortRecipients(recipients: string[], replies: Reply[]) {
  const accepted: string[] = [];
  const rejected: { recipient: string; reply: Reply }[] = [];
  recipients.forEach((recipient, i) => {
    const reply = replies[i];
    if (reply === undefined) return;
    if (isPositive(reply)) accepted.push(recipient);
    else rejected.push({ recipient, reply });
  });
  return { accepted, rejected };
}

async function resetQuietly(session: Session): Promise<void> {
  if (!session.connection.isOpen) return;
  try {
    await session.connection.command(commands.rset(), "RSET", session.timeouts.command);
  } catch {
    // the error that made us reset is the one to report
  }
}

function fatalIf421(
  connection: Connection,
  reply: Reply,
  stage: "MAIL" | "RCPT" | "DATA" | "BDAT" | "END",
): void {
  if (reply.code !== 421) return;
  const error = new SMTPError(
    "ECONNECTION",
    `the server is closing the connection: ${describeReply(reply)}`,
    {
      stage,
      reply,
    },
  );
  connection.fail(error);
  throw error;
}

function isPositive(reply: Reply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

function withRejected(error: SMTPError, rejected: { recipient: string; reply: Reply }[]): SMTPError {
  return Object.assign(error, { rejected });
}

function errorMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** Octets gathered into one BDAT chunk at most (the last chunk may be larger by one source piece). */
const BDAT_CHUNK = 256 * 1024;

function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

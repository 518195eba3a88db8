import { isAscii } from "node:buffer";
import { inputError, SMTPError } from "../errors.js";
import { needsSmtpUtf8, parseMailbox, toEnvelopeAddress } from "../message/address.js";
import { composeMessage } from "../message/compose.js";
import { inMemoryBytes, lineStats, toByteChunks } from "../message/content.js";
import { extractMessageId, fieldValue, PEEK_LIMIT, scanHeaderBlock } from "../message/header-block.js";
import { parseCapabilities } from "../protocol/capabilities.js";
import { CommandArgumentError, checkArgument } from "../protocol/commands.js";
import type { Content, SendOptions, SendResult } from "../types.js";
import type { Envelope, PreparedTransaction, Session } from "./session.js";
import { runTransaction } from "./transaction.js";

/** sendRaw's options: the envelope ones (the message is the caller's). */
export type RawSendOptions = Omit<SendOptions, "headers" | "messageId" | "date">;

export interface ComposedSendInput {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  content: Content;
  options: SendOptions;
}

/** A send waiting its turn: prepared (validated, composed) at most once, possibly early for pipelining. */
export class SendPlan {
  readonly #build: (session: Session) => PreparedSend;
  #prepared: PreparedSend | undefined;
  #error: unknown;

  constructor(build: (session: Session) => PreparedSend) {
    this.#build = build;
  }

  /** Validates and composes (once); throws the same error every time when the input is bad. */
  prepare(session: Session): PreparedSend {
    if (this.#error !== undefined) throw this.#error;
    if (this.#prepared === undefined) {
      try {
        this.#prepared = this.#build(session);
      } catch (error) {
        this.#error = error;
        throw error;
      }
    }
    return this.#prepared;
  }

  /** Runs the transaction (using an envelope already sent early, if any). */
  async run(session: Session): Promise<SendResult> {
    const prepared = this.prepare(session);
    const { accepted, rejected, reply } = await runTransaction(session, prepared.transaction);
    // Read after sending: a streamed ready MIME message gives its Message-ID on the way. A plain data
    // property: a getter closing over the send would give every result its own hidden class, which V8
    // keeps in old space, and with it every sent message until the next full collection.
    return { accepted, rejected, reply, messageId: prepared.messageId() };
  }
}

export interface PreparedSend {
  transaction: PreparedTransaction;
  messageId(): string;
}

/** send(): validate and build the message; nothing is written before validation passes. */
export function planComposed(input: ComposedSendInput): SendPlan {
  return new SendPlan((session) => {
    const recipients = [...input.to, ...input.cc, ...input.bcc];
    const envelope = buildEnvelope(session, input.from, recipients);
    checkDsn(input.options);
    const composed = composeMessage({
      from: input.from,
      to: input.to,
      cc: input.cc,
      subject: input.subject,
      content: input.content,
      headers: input.options.headers,
      messageId: input.options.messageId,
      date: input.options.date,
      eightBitMime: session.capabilities.eightBitMime,
      smtpUtf8: session.capabilities.smtpUtf8,
      hostname: hostnameForMessageId(session.clientName),
    });
    return {
      transaction: {
        // Raw UTF-8 in the header (RFC 6532) needs the SMTPUTF8 parameter just as an address would.
        envelope: { ...envelope, smtpUtf8: envelope.smtpUtf8 || composed.smtpUtf8 },
        message: { chunks: composed.chunks, size: composed.size, eightBit: composed.eightBit },
        options: input.options,
      },
      messageId: () => composed.messageId,
    };
  });
}

/**
 * The checks of send() that need no server, for callers that open the connection themselves (sendMail,
 * the CLI): every address is one mailbox, no header holds a forbidden character, the Message-ID, Date and
 * DSN options are valid. Throws the EINPUT send() would throw, before anything is connected. The content
 * is not touched (a stream stays unread); what depends on the server (SMTPUTF8, SIZE) is checked later.
 */
export function checkSendInput(input: Omit<ComposedSendInput, "content">): void {
  const recipients = [...input.to, ...input.cc, ...input.bcc];
  buildEnvelope({ capabilities: ANY_SERVER }, input.from, recipients);
  checkDsn(input.options);
  composeMessage({
    from: input.from,
    to: input.to,
    cc: input.cc,
    subject: input.subject,
    content: "",
    headers: input.options.headers,
    messageId: input.options.messageId,
    date: input.options.date,
    eightBitMime: true,
    smtpUtf8: true,
    hostname: "localhost",
  });
}

/** A server that offers what the input may need: only input errors remain. */
export const ANY_SERVER = parseCapabilities({ code: 250, lines: ["", "SMTPUTF8", "8BITMIME"], text: "" });

/** sendRaw(): the caller's message as is (line ends normalised on the wire), same envelope rules. */
export function planRaw(
  from: string,
  recipients: string[],
  message: Content,
  options: RawSendOptions,
): SendPlan {
  return new SendPlan((session) => {
    const envelope = buildEnvelope(session, from, recipients);
    checkDsn(options);
    if (message === null || message === undefined) throw inputError("no message content");
    const bytes = inMemoryBytes(message); // encoded once, for the size, the 8-bit check and the wire
    if (bytes === undefined) {
      // A stream: its Message-ID is read from its header block on the way (at most 64 KiB peeked).
      const source = toByteChunks(message);
      let messageId = "";
      async function* withMessageId(): AsyncGenerator<Uint8Array> {
        const found = await extractMessageId(source);
        messageId = found.messageId;
        yield* found.chunks;
      }
      const chunks = Object.assign(withMessageId(), {
        release: () => (source as { release?: () => void }).release?.(),
      });
      return {
        transaction: { envelope, message: { chunks, size: undefined, eightBit: true }, options },
        messageId: () => messageId,
      };
    }
    const size = lineStats(bytes).size; // CRLF-normalised, as RFC 1870 counts
    // The Message-ID is read (with the same header-block reader compose uses) once the message was
    // accepted, for the result: a send that fails never scans its header.
    const head = bytes.subarray(0, PEEK_LIMIT);
    return {
      transaction: { envelope, message: { chunks: slices(bytes), size, eightBit: !isAscii(bytes) }, options },
      messageId: () => findMessageId(head, head.length === bytes.length),
    };
  });
}

/** The Message-ID field of a leading header block, or "". */
function findMessageId(head: Uint8Array, complete: boolean): string {
  const scan = scanHeaderBlock(head, complete);
  return (scan.kind === "headers" && fieldValue(scan.fields, "Message-ID")) || "";
}

/** In-memory bytes as views of at most 256 KiB, so large messages still interleave with the socket. */
function slices(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; p += 256 * 1024) out.push(bytes.subarray(p, p + 256 * 1024));
  return out;
}

/**
 * Parsed envelope addresses by input, one map for servers with SMTPUTF8 and one for those without: a bulk
 * sender repeats the same sender and recipients, and parsing is the largest share of a small send's CPU.
 * Only valid addresses are kept; each map is bounded.
 */
interface ParsedAddress {
  /** The envelope form. */
  address: string;
  /** It needs SMTPUTF8. */
  smtpUtf8: boolean;
  /** Recipients that compare equal here are one recipient (the domain is case-insensitive). */
  key: string;
}
const ADDRESS_CACHE = { utf8: new Map<string, ParsedAddress>(), ascii: new Map<string, ParsedAddress>() };
const ADDRESS_CACHE_LIMIT = 1024;

/** Validates the sender and every recipient (exactly one mailbox each) and builds the de-duplicated envelope. */
export function buildEnvelope(
  session: Pick<Session, "capabilities">,
  from: string,
  recipients: string[],
): Envelope {
  if (typeof from !== "string") throw inputError("fromAddr must be a string");
  if (!Array.isArray(recipients) || recipients.length === 0) throw inputError("no recipients");
  const offered = session.capabilities.smtpUtf8;
  let smtpUtf8 = false;
  let sender = "";
  if (from !== "" && from !== "<>") {
    const parsed = envelopeAddress(from, "fromAddr", offered);
    sender = parsed.address;
    smtpUtf8 = parsed.smtpUtf8;
  }
  const list: string[] = [];
  if (recipients.length === 1) {
    const parsed = envelopeAddress(recipients[0]!, "recipient", offered);
    list.push(parsed.address);
    smtpUtf8 ||= parsed.smtpUtf8;
  } else {
    const seen = new Set<string>();
    for (const r of recipients) {
      const parsed = envelopeAddress(r, "recipient", offered);
      smtpUtf8 ||= parsed.smtpUtf8;
      if (seen.has(parsed.key)) continue;
      seen.add(parsed.key);
      list.push(parsed.address);
    }
  }
  return { from: sender, recipients: list, smtpUtf8 };
}

/** One address of the envelope, parsed (or from the cache). `offered`: the server offers SMTPUTF8. */
function envelopeAddress(input: string, what: "fromAddr" | "recipient", offered: boolean): ParsedAddress {
  if (typeof input !== "string") throw inputError(`${what} must be a string`);
  const cache = offered ? ADDRESS_CACHE.utf8 : ADDRESS_CACHE.ascii;
  let parsed = cache.get(input);
  if (parsed === undefined) {
    parsed = parseEnvelopeAddress(input, what, offered);
    if (cache.size >= ADDRESS_CACHE_LIMIT) cache.clear();
    cache.set(input, parsed);
  }
  return parsed;
}

function parseEnvelopeAddress(
  input: string,
  what: "fromAddr" | "recipient",
  offered: boolean,
): ParsedAddress {
  try {
    checkArgument(input, what);
  } catch (error) {
    if (error instanceof CommandArgumentError) throw inputError(error.message);
    throw error;
  }
  let address: string;
  try {
    address = parseMailbox(input).address;
  } catch (error) {
    if (error instanceof SMTPError && error.code === "EINPUT") throw inputError(`${what}: ${error.message}`);
    throw error;
  }
  let smtpUtf8 = false;
  let envelope: string;
  if (needsSmtpUtf8(address) && !offered) {
    // toEnvelopeAddress turns an IDN domain into A-labels, and refuses a non-ASCII local part
    const stage = what === "fromAddr" ? "MAIL" : "RCPT";
    try {
      envelope = toEnvelopeAddress(address, false);
    } catch (error) {
      if (error instanceof SMTPError && error.code === "EENVELOPE") {
        throw new SMTPError("EENVELOPE", `${what}: ${error.message}`, { stage, temporary: false });
      }
      throw error;
    }
    if (needsSmtpUtf8(envelope)) {
      throw new SMTPError("EENVELOPE", `${what} needs SMTPUTF8, which the server does not offer`, {
        stage,
        temporary: false,
      });
    }
  } else {
    smtpUtf8 = needsSmtpUtf8(address);
    envelope = toEnvelopeAddress(address, offered);
  }
  const at = envelope.lastIndexOf("@");
  return {
    address: envelope,
    smtpUtf8,
    key: `${envelope.slice(0, at)}@${envelope.slice(at + 1).toLowerCase()}`,
  };
}

const NOTIFY_VALUES = new Set(["SUCCESS", "FAILURE", "DELAY", "NEVER"]);

export function checkDsn(options: RawSendOptions): void {
  const dsn = options.dsn;
  if (!dsn) return;
  if (dsn.notify) {
    for (const n of dsn.notify) {
      if (!NOTIFY_VALUES.has(n))
        throw inputError(`DSN notify value "${String(n)}" is not SUCCESS, FAILURE, DELAY or NEVER`);
    }
    if (dsn.notify.includes("NEVER") && dsn.notify.length > 1) {
      throw inputError("DSN notify NEVER cannot be combined with other values (RFC 3461 §4.1)");
    }
  }
  if (dsn.ret !== undefined && dsn.ret !== "FULL" && dsn.ret !== "HDRS") {
    throw inputError(`DSN ret "${String(dsn.ret)}" is not FULL or HDRS`);
  }
  if (dsn.envid !== undefined) {
    // RFC 3461 §4.4: printable US-ASCII, at most 100 characters
    if (!/^[\x21-\x7e]{1,100}$/.test(dsn.envid))
      throw inputError("DSN envid must be 1-100 printable ASCII characters");
  }
}

export function hostnameForMessageId(clientName: string): string {
  if (clientName.startsWith("[")) return "smtpkit.localhost";
  return clientName;
}

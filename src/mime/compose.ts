/**
 * composeMail(): a whole message from MailOptions (API.md §5). The structure:
 *
 *   text → text/plain; text + html → multipart/alternative; inline parts (cid) → multipart/related around
 *   the html; attachments → multipart/mixed around the rest; icalEvent → a text/calendar alternative.
 *
 * The message's own header fields (From, To, Cc, Subject, Date, Message-ID, extra headers, address headers,
 * encoded-words, folding) are written by message/'s composer, one implementation for send() and here: the
 * MIME tree's Content-Type is handed to it as a ready MIME header block. Files and streams are read while
 * the message is written. With DKIM the body is read twice (hash, then write); one-shot streams are first
 * made re-readable (memory up to 1 MiB, else a 0600 temporary file removed afterwards).
 */
import { hostname as osHostname } from "node:os";
import { inputError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import { type ComposedMessage, composeMessage } from "../message/compose.js";
import { type RawField, scanHeaderBlock } from "../message/header-block.js";
import { checkHeaderName, checkHeaderValue, formatUnstructured, isMsgId } from "../message/headers.js";
import { LineEndNormalizer } from "../protocol/dot-stuff.js";
import { BodyHasher, type DkimSigner, prepareSigners, signatureField, signatureFieldLength } from "./dkim.js";
import {
  attachmentLeaf,
  calendarLeaf,
  type Leaf,
  leaves,
  multipart,
  type Node,
  textLeaf,
  writeBody,
} from "./parts.js";
import { type Source, SPOOL_THRESHOLD, type Spooled, spool, streamSource } from "./sources.js";
import type { ComposedMail, MailOptions } from "./types.js";

/** What the session knows that changes the encoding. */
export interface ComposeContext {
  /** The server offers 8BITMIME. Default false. */
  eightBitMime?: boolean;
  /** The server offers SMTPUTF8. Default false. */
  smtpUtf8?: boolean;
  /** Right-hand side of a generated Message-ID. Default: this host's name. */
  hostname?: string;
}

/** A composed mail as the client sends it. */
export interface ComposedForSending extends ComposedMail {
  /** The raw envelope strings, for the client's own envelope rules (SMTPUTF8, IDN). */
  rawEnvelope: { from: string; to: string[] };
  /** The body holds 8-bit octets: BODY=8BITMIME. */
  eightBit: boolean;
  /** The header holds raw UTF-8 (RFC 6532). */
  smtpUtf8: boolean;
  /** Destroys the streams of a message that will not be read to its end. */
  release(): void;
}

/** Builds a message without sending it (API.md §5). Validates everything first (`EINPUT`). */
export function composeMail(mail: MailOptions): ComposedMail {
  const composed = composeForSending(mail, {});
  return {
    envelope: { from: composed.envelope.from, to: composed.envelope.to },
    get messageId() {
      return composed.messageId;
    },
    size: composed.size,
    stream: () => composed.stream(),
  };
}

const BODY_FIELDS = ["text", "html", "attachments", "icalEvent"] as const;

/** composeMail() for a session: the encoding follows what the server offers. */
export function composeForSending(mail: MailOptions, context: ComposeContext): ComposedForSending {
  if (mail === null || typeof mail !== "object") throw inputError("the mail options must be an object");
  if (typeof mail.from !== "string") throw inputError("from must be a string (one mailbox)");
  mail = withSendOptionFields(mail);
  const to = asList(mail.to, "to");
  const cc = asList(mail.cc, "cc");
  const bcc = asList(mail.bcc, "bcc");
  const rawEnvelope = envelopeOf(mail, [...to, ...cc, ...bcc]);
  const signers = prepareSigners(mail.dkim);
  const headers = messageHeaders(mail);
  const time = Math.floor(Date.now() / 1000); // t=: when it is signed (not the Date header's time)
  const base = {
    from: mail.from,
    to,
    cc,
    subject: mail.subject,
    headers: headers.single,
    messageId: mail.messageId,
    date: mail.date,
    eightBitMime: context.eightBitMime ?? false,
    smtpUtf8: context.smtpUtf8 ?? false,
    hostname: context.hostname ?? defaultHostname(),
  };
  // bare addresses, parsed when asked for (the client parses the raw ones with its own envelope rules)
  let bare: { from: string; to: string[] } | undefined;
  const envelope = {
    get from() {
      bare ??= bareEnvelope(rawEnvelope);
      return bare.from;
    },
    get to() {
      bare ??= bareEnvelope(rawEnvelope);
      return bare.to;
    },
  };

  if (mail.content !== undefined) {
    const mixed = BODY_FIELDS.filter((f) => mail[f] !== undefined);
    if (mixed.length > 0) throw inputError(`give content or ${mixed.join("/")}, not both`);
    if (headers.repeated !== "")
      throw inputError("repeated headers (array values) need text/html, not content");
    const composed = composeMessage({ ...base, content: mail.content });
    return contentMail(composed, signers, time, rawEnvelope, envelope);
  }

  const tree = buildTree(mail, { eightBitMime: base.eightBitMime });
  const composed = composeMessage({
    ...base,
    content: Buffer.from(`${tree.head}${headers.repeated}\r\n`, "latin1"),
  });
  const head = composed.head!;
  const fields = signers.length > 0 ? headerFields(head) : [];
  let size: number | undefined;
  if (tree.size !== undefined) {
    size = head.length + tree.size + (endsWithCrlf(tree) ? 0 : 2);
    for (const signer of signers) size += signatureFieldLength(signer, fields, time);
  }
  const parts = leaves(tree);

  /** Spooled copies of the writes in progress (removed when each ends, or on release). */
  const active = new Set<Spooled[]>();
  async function* write(): AsyncGenerator<Uint8Array> {
    if (signers.length === 0) {
      yield head;
      yield* finished(writeBody(tree, new Map()));
      return;
    }
    const spooled: Spooled[] = [];
    active.add(spooled);
    try {
      const sources = new Map<Leaf, Source>();
      for (const leaf of parts) {
        if (leaf.source !== undefined && !leaf.source.rereadable) {
          const copy = await spool(leaf.source);
          spooled.push(copy);
          sources.set(leaf, copy.source);
        }
      }
      // a body of up to 1 MiB is kept from the hashing pass and written from memory, not encoded again
      let kept: Uint8Array[] | undefined = [];
      let keptLength = 0;
      const hashes = await bodyHashes(signers, finished(writeBody(tree, sources)), (chunk) => {
        if (kept === undefined) return;
        keptLength += chunk.length;
        if (keptLength > SPOOL_THRESHOLD) kept = undefined;
        else kept.push(chunk);
      });
      for (const signer of signers) {
        yield Buffer.from(signatureField(signer, fields, hashes.get(signer.body)!, time), "latin1");
      }
      yield head;
      if (kept !== undefined) yield* kept;
      else yield* finished(writeBody(tree, sources));
    } finally {
      active.delete(spooled);
      for (const copy of spooled) await copy.remove();
    }
  }

  return {
    envelope,
    rawEnvelope,
    messageId: composed.messageId,
    size,
    eightBit: tree.eightBit,
    smtpUtf8: composed.smtpUtf8,
    stream: write,
    release: () => {
      for (const leaf of parts) leaf.source?.release();
      // a consumer that gives up on a stalled message never resumes it: its temporary files go now
      for (const list of active) for (const copy of list) void copy.remove();
    },
  };
}

/** The body hash for each body canonicalization the signers use, from one read of the body. */
async function bodyHashes(
  signers: readonly DkimSigner[],
  body: AsyncIterable<Uint8Array>,
  each: (chunk: Uint8Array) => void = () => undefined,
): Promise<Map<string, string>> {
  const hashers = new Map<string, BodyHasher>();
  for (const signer of signers)
    if (!hashers.has(signer.body)) hashers.set(signer.body, new BodyHasher(signer.body));
  for await (const chunk of body) {
    for (const hasher of hashers.values()) hasher.update(chunk);
    each(chunk);
  }
  return new Map([...hashers].map(([mode, hasher]) => [mode, hasher.digest()]));
}

/**
 * Content mode (the pre-§5 behaviour): the message composeMessage() wrote, written once; with DKIM it is
 * first made re-readable (spooled), then signed.
 */
function contentMail(
  composed: ComposedMessage,
  signers: readonly DkimSigner[],
  time: number,
  rawEnvelope: { from: string; to: string[] },
  envelope: { from: string; to: string[] },
): ComposedForSending {
  let current: Spooled | undefined; // the spooled copy while a write is in progress
  async function* signed(): AsyncGenerator<Uint8Array> {
    // the body hash is over the message as the wire carries it: CRLF line ends (message/ leaves them to the wire)
    const copy = await spool(streamSource(crlf(composed.chunks), "content"));
    current = copy;
    try {
      let head: Buffer | undefined;
      const body = afterHead(finished(copy.source.open()), (h) => {
        head = h;
      });
      const hashes = await bodyHashes(signers, body);
      if (head === undefined) throw inputError("the message has no header block");
      const fields = headerFields(head);
      for (const signer of signers) {
        yield Buffer.from(signatureField(signer, fields, hashes.get(signer.body)!, time), "latin1");
      }
      yield* finished(copy.source.open());
    } finally {
      current = undefined;
      await copy.remove();
    }
  }
  const write = signers.length === 0 ? () => composed.chunks : signed;
  let used = false;
  return {
    envelope,
    rawEnvelope,
    get messageId() {
      return composed.messageId;
    },
    size: signers.length === 0 ? composed.size : undefined,
    eightBit: composed.eightBit,
    smtpUtf8: composed.smtpUtf8,
    stream: () => {
      if (used) throw inputError("this message was already written: compose it again");
      used = true;
      return write();
    },
    release: () => {
      (composed.chunks as { release?: () => void }).release?.();
      void current?.remove();
    },
  };
}

/** The body of a CRLF message: what follows the empty line that ends its header block, handed to `onHead`. */
async function* afterHead(
  message: AsyncIterable<Uint8Array>,
  onHead: (head: Buffer) => void,
): AsyncGenerator<Uint8Array> {
  const held: Uint8Array[] = [];
  let found = false;
  for await (const chunk of message) {
    if (found) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    const joined = Buffer.concat(held);
    const end = joined.indexOf("\r\n\r\n");
    if (end < 0) continue;
    found = true;
    onHead(joined.subarray(0, end + 4));
    yield joined.subarray(end + 4);
  }
}

/** Bare CR and LF made CRLF, as the wire encoders do (the same normaliser). */
async function* crlf(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const normalizer = new LineEndNormalizer();
  for await (const chunk of source) {
    const out = normalizer.encode(chunk);
    if (out.length > 0) yield Buffer.from(out); // a copy: the normaliser's output memory is reused
  }
  const tail = normalizer.end();
  if (tail.length > 0) yield tail;
}

/** The message ends with CRLF (the wire would add it; DKIM and SIZE count it here). */
async function* finished(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let last = 0x0a;
  let before = 0x0d;
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    before = chunk.length > 1 ? chunk[chunk.length - 2]! : last;
    last = chunk[chunk.length - 1]!;
    yield chunk;
  }
  if (last !== 0x0a || before !== 0x0d) yield Buffer.from("\r\n");
}

function endsWithCrlf(node: Node): boolean {
  if (node.kind === "multipart") return true;
  const e = node.encoded;
  return e === undefined || e.length === 0 || (e[e.length - 1] === 0x0a && e[e.length - 2] === 0x0d);
}

const TEXT_PLAIN = "Content-Type: text/plain; charset=utf-8\r\n";
const TEXT_HTML = "Content-Type: text/html; charset=utf-8\r\n";

/** The MIME tree of API.md §5. */
function buildTree(mail: MailOptions, context: { eightBitMime: boolean }): Node {
  const attachments = mail.attachments ?? [];
  if (!Array.isArray(attachments)) throw inputError("attachments must be an array");
  const hasHtml = mail.html !== undefined;
  const related: Node[] = [];
  const mixed: Node[] = [];
  const cids = new Set<string>();
  attachments.forEach((attachment, i) => {
    const leaf = attachmentLeaf(attachment, `attachments[${i}]`);
    const cid = attachment.cid;
    if (cid !== undefined) {
      if (cids.has(cid)) throw inputError(`attachments[${i}].cid "${cid}" is used by another attachment`);
      cids.add(cid);
    }
    if (cid !== undefined && hasHtml && attachment.contentDisposition !== "attachment") related.push(leaf);
    else mixed.push(leaf);
  });
  const alternatives: Node[] = [];
  if (mail.text !== undefined) alternatives.push(textLeaf(TEXT_PLAIN, mail.text, "text", context));
  if (hasHtml) {
    const html = textLeaf(TEXT_HTML, mail.html, "html", context);
    alternatives.push(related.length > 0 ? multipart("related", [html, ...related]) : html);
  }
  if (mail.icalEvent !== undefined) alternatives.push(calendarLeaf(mail.icalEvent, context));
  let body: Node;
  if (alternatives.length > 1) body = multipart("alternative", alternatives);
  else if (alternatives.length === 1) body = alternatives[0]!;
  else body = textLeaf(TEXT_PLAIN, "", "text", context);
  if (mixed.length === 0) return body;
  return multipart("mixed", alternatives.length === 0 ? mixed : [body, ...mixed]);
}

/**
 * The message's extra header fields: the caller's `headers` plus those the options name (Reply-To,
 * Sender, In-Reply-To, References, X-Priority/Importance, List-Unsubscribe). Single values go to
 * message/'s composer (which validates them and writes address headers as addresses); further values of a
 * repeated field are written here, as unstructured text, after the same checks.
 */
function messageHeaders(mail: MailOptions): { single: Record<string, string>; repeated: string } {
  const single: Record<string, string> = {};
  const names = new Set<string>();
  let repeated = "";
  const add = (name: string, value: string, from: string): void => {
    if (names.has(name.toLowerCase()))
      throw inputError(`header ${name} is given twice (${from} and headers)`);
    names.add(name.toLowerCase());
    single[name] = value;
  };
  if (mail.replyTo !== undefined) add("Reply-To", asList(mail.replyTo, "replyTo").join(", "), "replyTo");
  if (mail.sender !== undefined) add("Sender", stringOf(mail.sender, "sender"), "sender");
  if (mail.inReplyTo !== undefined) add("In-Reply-To", msgId(mail.inReplyTo, "inReplyTo"), "inReplyTo");
  if (mail.references !== undefined) {
    const refs = asList(mail.references, "references").map((r) => msgId(r, "references"));
    if (refs.length > 0) add("References", refs.join(" "), "references");
  }
  if (mail.priority !== undefined && mail.priority !== "normal") {
    if (mail.priority !== "high" && mail.priority !== "low")
      throw inputError('priority must be "high", "normal" or "low"');
    add("X-Priority", mail.priority === "high" ? "1 (Highest)" : "5 (Lowest)", "priority");
    add("Importance", mail.priority === "high" ? "High" : "Low", "priority");
  }
  if (mail.listUnsubscribe !== undefined) {
    const { url, mailto, oneClick } = mail.listUnsubscribe;
    const uris: string[] = [];
    if (mailto !== undefined)
      uris.push(uri(mailto.startsWith("mailto:") ? mailto : `mailto:${mailto}`, "listUnsubscribe.mailto"));
    if (url !== undefined) {
      if (!/^https?:\/\//i.test(url)) throw inputError("listUnsubscribe.url must be an http(s) URL");
      uris.push(uri(url, "listUnsubscribe.url"));
    }
    if (uris.length === 0) throw inputError("listUnsubscribe needs url or mailto");
    add("List-Unsubscribe", uris.map((u) => `<${u}>`).join(", "), "listUnsubscribe");
    if (oneClick === true) {
      // RFC 8058 §3.1: one-click needs an HTTPS URI
      if (url === undefined || !/^https:\/\//i.test(url))
        throw inputError("listUnsubscribe.oneClick needs an https url");
      add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click", "listUnsubscribe");
    }
  }
  if (mail.headers !== undefined) {
    if (mail.headers === null || typeof mail.headers !== "object")
      throw inputError("headers must be an object");
    for (const [name, value] of Object.entries(mail.headers)) {
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0) continue;
      add(name, values[0] as string, "headers");
      for (const more of values.slice(1)) {
        checkHeaderName(name);
        checkHeaderValue(name, more);
        repeated += formatUnstructured(name, more);
      }
    }
  }
  return { single, repeated };
}

/**
 * `options.headers`, `options.messageId` and `options.date` (SendOptions, where sendMail() took them before
 * §5) stand for the mail's own fields; giving both is EINPUT.
 */
function withSendOptionFields(mail: MailOptions): MailOptions {
  const options = mail.options;
  if (options === undefined || options === null || typeof options !== "object") return mail;
  const merged = { ...mail };
  for (const field of ["headers", "messageId", "date"] as const) {
    if (options[field] === undefined) continue;
    if (mail[field] !== undefined) throw inputError(`give ${field} or options.${field}, not both`);
    (merged as Record<string, unknown>)[field] = options[field];
  }
  return merged;
}

function msgId(value: unknown, what: string): string {
  const text = stringOf(value, what).trim();
  const id = text.startsWith("<") ? text : `<${text}>`;
  if (!isMsgId(id)) throw inputError(`${what} "${text}" is not a Message-ID (<left@right>)`);
  return id;
}

function uri(value: string, what: string): string {
  if (typeof value !== "string" || !/^[\u0021-\u007e]+$/.test(value) || /[<>]/.test(value)) {
    throw inputError(`${what} must be a URI of printable ASCII without spaces, "<" or ">"`);
  }
  return value;
}

function stringOf(value: unknown, what: string): string {
  if (typeof value !== "string") throw inputError(`${what} must be a string`);
  return value;
}

function asList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const v of list)
    if (typeof v !== "string") throw inputError(`${what} must be a string or an array of strings`);
  return list as string[];
}

function envelopeOf(mail: MailOptions, recipients: string[]): { from: string; to: string[] } {
  const override = mail.envelope;
  if (override !== undefined && (override === null || typeof override !== "object")) {
    throw inputError("envelope must be an object");
  }
  const from = override?.from ?? mail.from;
  const to = override?.to === undefined ? recipients : asList(override.to, "envelope.to");
  if (typeof from !== "string") throw inputError("envelope.from must be a string");
  if (to.length === 0) throw inputError("no recipients: give at least one address in to, cc or bcc");
  return { from, to };
}

function bareEnvelope(raw: { from: string; to: string[] }): { from: string; to: string[] } {
  return {
    from: raw.from === "" ? "" : parseMailbox(raw.from).address,
    to: raw.to.map((r) => parseMailbox(r).address),
  };
}

let cachedHostname: string | undefined;
function defaultHostname(): string {
  if (cachedHostname === undefined) {
    const name = osHostname();
    cachedHostname = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(name) ? name : "smtpkit.localhost";
  }
  return cachedHostname;
}

/** True for a `send()` content that is a MailBody ({ text, html, attachments, icalEvent }). */
export function isMailBody(content: unknown): content is Pick<MailOptions, (typeof BODY_FIELDS)[number]> {
  if (content === null || typeof content !== "object") return false;
  if (content instanceof Uint8Array || Symbol.asyncIterator in content) return false;
  if (typeof (content as { on?: unknown }).on === "function") return false;
  return BODY_FIELDS.some((f) => f in content);
}

/** The fields of a complete header block. */
function headerFields(head: Uint8Array): RawField[] {
  const scan = scanHeaderBlock(head, true);
  if (scan.kind !== "headers") throw inputError("the message has no header block");
  return scan.fields;
}

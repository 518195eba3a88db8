// The parts of a composed message: leaves (text, html, calendar, attachments) with their header fields,
// transfer encoding and size, and multiparts with random boundaries. A tree is written as a stream.
import { isAscii } from "node:buffer";
import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { inputError } from "../errors.js";
import { inMemoryBytes, lineStats, sliced } from "../message/content.js";
import { checkHeaderName, checkHeaderValue, formatUnstructured } from "../message/headers.js";
import { Base64Encoder, QuotedPrintableEncoder } from "../message/transfer-encoding.js";
import { LineEndNormalizer } from "../protocol/dot-stuff.js";
import type { Content } from "../types.js";
import { contentTypeOf } from "./content-types.js";
import {
  checkCid,
  checkContentType,
  checkFileName,
  fileNameParameters,
  nameParameter,
  parameterField,
  simpleParameter,
} from "./parameters.js";
import { contentSource, fileSource, type Source } from "./sources.js";
import type { Attachment } from "./types.js";

type TransferEncoding = "7bit" | "8bit" | "quoted-printable" | "base64";

/** A part with content. */
export interface Leaf {
  kind: "leaf";
  /** Its header fields, each ending in CRLF (no empty line). */
  head: string;
  encoding: TransferEncoding;
  /** In-memory text, already encoded (CRLF line ends). */
  encoded?: Buffer;
  /** Where the raw bytes come from (streams and attachments). */
  source?: Source;
  /** Encoded octets, when known. */
  size: number | undefined;
  /** The encoded body uses 8-bit octets (BODY=8BITMIME). */
  eightBit: boolean;
}

/** A multipart/* part. */
export interface Multipart {
  kind: "multipart";
  head: string;
  boundary: string;
  children: Node[];
  size: number | undefined;
  eightBit: boolean;
}

export type Node = Leaf | Multipart;

/** The server offers 8BITMIME: text may go as 8bit. */
export interface EncodingContext {
  eightBitMime: boolean;
}

/**
 * A text part (text/plain, text/html, text/calendar) under its Content-Type field (with CRLF): in memory it
 * is 7bit when it can be, else 8bit when the server offers 8BITMIME and no line passes 998 octets (and no
 * NUL), else quoted-printable. A stream is always quoted-printable (never read whole to decide).
 */
export function textLeaf(
  contentTypeField: string,
  value: unknown,
  what: string,
  context: EncodingContext,
): Leaf {
  const bytes = value === undefined || value === null ? undefined : inMemoryBytes(value as Content);
  if (bytes === undefined) {
    const source = contentSource(value, what);
    return {
      kind: "leaf",
      head: `${contentTypeField}Content-Transfer-Encoding: quoted-printable\r\n`,
      encoding: "quoted-printable",
      source,
      size: undefined,
      eightBit: false,
    };
  }
  const stats = lineStats(bytes);
  const plain = bytes.indexOf(0) < 0 && !stats.longLine;
  const encoding: TransferEncoding =
    plain && isAscii(bytes) ? "7bit" : plain && context.eightBitMime ? "8bit" : "quoted-printable";
  const encoded = encoding === "quoted-printable" ? quotedPrintableAll(bytes) : normalizeAll(bytes);
  return {
    kind: "leaf",
    head: `${contentTypeField}Content-Transfer-Encoding: ${encoding}\r\n`,
    encoding,
    encoded,
    size: encoded.length,
    eightBit: encoding === "8bit",
  };
}

/**
 * CRLF line ends. An unfinished last line stays unfinished: in a multipart the CRLF before the next boundary
 * ends it (and belongs to the boundary, RFC 2046 §5.1.1); a whole message gets its final CRLF at the end.
 */
function normalizeAll(bytes: Uint8Array): Buffer {
  const normalizer = new LineEndNormalizer();
  const out = Buffer.concat([normalizer.encode(bytes), normalizer.end()]);
  const last = bytes[bytes.length - 1];
  return last === undefined || last === 0x0a || last === 0x0d ? out : out.subarray(0, out.length - 2);
}

function quotedPrintableAll(bytes: Uint8Array): Buffer {
  const qp = new QuotedPrintableEncoder();
  return Buffer.concat([qp.encode(bytes), qp.end()]);
}

const CRLF = Buffer.from("\r\n");

/** Octets of base64 in 76-column lines, each with its CRLF, for `n` input octets. */
export function base64Size(n: number): number {
  const rest = n % 57;
  return Math.floor(n / 57) * 78 + (rest === 0 ? 0 : Math.ceil(rest / 3) * 4 + 2);
}

/** Header names an attachment's own `headers` may not repeat: we write them. */
const PART_FIELDS = new Set([
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "content-id",
]);

/** An attachment or inline part, base64. `inline` when it goes in multipart/related. */
export function attachmentLeaf(attachment: Attachment, what: string): Leaf {
  if (attachment === null || typeof attachment !== "object") throw inputError(`${what} must be an object`);
  const hasContent = attachment.content !== undefined && attachment.content !== null;
  const hasPath = attachment.path !== undefined && attachment.path !== null;
  if (hasContent === hasPath) {
    throw inputError(
      `${what} needs exactly one of content and path (${hasContent ? "both" : "neither"} given)`,
    );
  }
  const filename =
    attachment.filename !== undefined
      ? checkFileName(`${what}.filename`, attachment.filename)
      : hasPath && typeof attachment.path === "string"
        ? checkFileName(`${what}.path`, basename(attachment.path))
        : undefined;
  const cid = attachment.cid === undefined ? undefined : checkCid(`${what}.cid`, attachment.cid);
  const disposition = attachment.contentDisposition ?? (cid === undefined ? "attachment" : "inline");
  if (disposition !== "attachment" && disposition !== "inline") {
    throw inputError(`${what}.contentDisposition must be "attachment" or "inline"`);
  }
  const contentType =
    attachment.contentType === undefined
      ? contentTypeOf(filename)
      : checkContentType(`${what}.contentType`, attachment.contentType);
  const source = hasPath
    ? fileSource(attachment.path, `${what}.path`)
    : contentSource(attachment.content, `${what}.content`);
  let head = parameterField(
    "Content-Type",
    contentType,
    filename === undefined ? [] : [nameParameter(filename)],
  );
  head += "Content-Transfer-Encoding: base64\r\n";
  head += parameterField(
    "Content-Disposition",
    disposition,
    filename === undefined ? [] : fileNameParameters("filename", filename),
  );
  if (cid !== undefined) head += `Content-ID: <${cid}>\r\n`;
  head += partHeaders(attachment.headers, `${what}.headers`);
  return {
    kind: "leaf",
    head,
    encoding: "base64",
    source,
    size: source.length === undefined ? undefined : base64Size(source.length),
    eightBit: false,
  };
}

/** An attachment's own extra header fields (validated; non-ASCII as encoded-words). */
function partHeaders(headers: Record<string, string> | undefined, what: string): string {
  if (headers === undefined) return "";
  if (headers === null || typeof headers !== "object") throw inputError(`${what} must be an object`);
  let out = "";
  for (const [name, value] of Object.entries(headers)) {
    checkHeaderName(name);
    if (PART_FIELDS.has(name.toLowerCase()))
      throw inputError(`${what}: ${name} is written from the attachment's fields`);
    checkHeaderValue(name, value);
    out += formatUnstructured(name, value);
  }
  return out;
}

/** A text/calendar alternative (RFC 5545, iTIP method per RFC 5546). */
export function calendarLeaf(event: unknown, context: EncodingContext): Leaf {
  if (event === null || typeof event !== "object") throw inputError("icalEvent must be an object");
  const {
    method = "PUBLISH",
    content,
    filename,
  } = event as { method?: unknown; content?: unknown; filename?: unknown };
  if (typeof method !== "string" || !/^[A-Za-z-]{1,40}$/.test(method)) {
    throw inputError("icalEvent.method must be an iTIP method such as REQUEST, REPLY or CANCEL");
  }
  const params = ["charset=utf-8", simpleParameter("method", method.toUpperCase())];
  if (filename !== undefined) params.push(nameParameter(checkFileName("icalEvent.filename", filename)));
  return textLeaf(
    parameterField("Content-Type", "text/calendar", params),
    content,
    "icalEvent.content",
    context,
  );
}

/** A multipart of `subtype` around `children`, with a boundary that occurs in none of their bodies. */
export function multipart(subtype: string, children: Node[]): Multipart {
  let boundary: string;
  do boundary = `=_smtpkit_${randomToken()}`;
  while (children.some((child) => occursIn(child, boundary)));
  const sizes = children.map((c) => c.size);
  const delimiter = boundary.length + 4; // "--" boundary CRLF
  const size = sizes.every((s) => s !== undefined)
    ? children.reduce((sum, c) => sum + delimiter + c.head.length + 2 + c.size! + 2, 0) + delimiter + 2
    : undefined;
  return {
    kind: "multipart",
    head: `Content-Type: multipart/${subtype};\r\n boundary="${boundary}"\r\n`,
    boundary,
    children,
    size,
    eightBit: children.some((c) => c.eightBit),
  };
}

/** Random bytes drawn ahead in blocks: a boundary per multipart should not cost a system call each. */
const RANDOM_BLOCK = 4096;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

/** 20 random characters of [A-Za-z0-9] (120 bits). */
function randomToken(): string {
  if (randomAt + 15 > randomPool.length) {
    randomPool = randomBytes(RANDOM_BLOCK);
    randomAt = 0;
  }
  const token = randomPool.toString("base64", randomAt, randomAt + 15).replace(/[+/]/g, "x");
  randomAt += 15;
  return token;
}

/**
 * Whether a boundary could occur in a node's body. Base64 and quoted-printable bodies never hold "=_"
 * (base64 has no "_", quoted-printable writes "=" only before hex digits or a line end), and every
 * boundary starts with it: only 7bit/8bit text, which is in memory, needs a look.
 */
function occursIn(node: Node, boundary: string): boolean {
  if (node.kind === "multipart")
    return node.boundary.includes(boundary) || node.children.some((c) => occursIn(c, boundary));
  return node.encoded !== undefined && (node.encoding === "7bit" || node.encoding === "8bit")
    ? node.encoded.includes(boundary)
    : false;
}

/** The body of a node, encoded, CRLF line ends. */
export async function* writeBody(node: Node, sources: Map<Leaf, Source>): AsyncGenerator<Uint8Array> {
  if (node.kind === "leaf") {
    if (node.encoded !== undefined) {
      yield* sliced(node.encoded);
      return;
    }
    const source = sources.get(node) ?? node.source!;
    const encoder = node.encoding === "base64" ? new Base64Encoder() : new QuotedPrintableEncoder();
    for await (const chunk of source.open()) {
      const out = encoder.encode(chunk);
      if (out.length > 0) yield out;
    }
    const tail = encoder.end();
    if (tail.length > 0) yield tail;
    return;
  }
  for (const child of node.children) {
    yield Buffer.from(`--${node.boundary}\r\n${child.head}\r\n`, "latin1");
    yield* writeBody(child, sources);
    yield CRLF;
  }
  yield Buffer.from(`--${node.boundary}--\r\n`, "latin1");
}

/** Every leaf of a tree. */
export function leaves(node: Node): Leaf[] {
  return node.kind === "leaf" ? [node] : node.children.flatMap(leaves);
}

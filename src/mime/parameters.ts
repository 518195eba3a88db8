// MIME header fields with parameters (RFC 2045 §5.1, RFC 2183): values as tokens or quoted-strings, and
// Unicode file names both as RFC 2231 extended parameters (with continuations) and, for readers that only
// know the older habit, as RFC 2047 encoded-words in Content-Type's `name`.
import { inputError } from "../errors.js";
import { encodeWords } from "../message/encode-words.js";
import { checkHeaderValue, foldHeader } from "../message/headers.js";

// RFC 2045 §5.1: token = 1*<any CHAR except SPACE, CTLs, or tspecials>.
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;
// RFC 2231 §7: attribute-char = any CHAR except SPACE, CTLs, "*", "'", "%", or tspecials.
const ATTRIBUTE_CHAR = /[!#$&+\-.^_`{|}~0-9A-Za-z]/;
const PRINTABLE_ASCII = /^[\u0020-\u007e]*$/;
/** Encoded characters per RFC 2231 continuation, so that each line stays near 78 columns. */
const SEGMENT = 60;

/** A header field `Name: value; a=b; c=d` folded at its parameters. */
export function parameterField(name: string, value: string, params: readonly string[]): string {
  return foldHeader(name, [[`${value}`, ...params].join("; ")]);
}

/** One ASCII parameter: `key=token` or `key="quoted"`. */
export function simpleParameter(key: string, value: string): string {
  if (TOKEN.test(value)) return `${key}=${value}`;
  return `${key}="${value.replace(/(["\\])/g, "\\$1")}"`;
}

/** Whether a file name can be written as a plain (token or quoted) parameter. */
function plainFileName(value: string): boolean {
  return PRINTABLE_ASCII.test(value) && value.length <= SEGMENT;
}

/**
 * A file name as RFC 2231 parameters: `key="plain"` when it is short printable ASCII, else
 * `key*0*=utf-8''%..; key*1*=%..` (percent-encoded UTF-8 in segments that never split an escape).
 */
export function fileNameParameters(key: string, value: string): string[] {
  if (plainFileName(value)) return [simpleParameter(key, value)];
  const segments: string[] = [];
  let current = "";
  // whole characters per segment: a reader that decodes each continuation alone still gets valid UTF-8
  for (const ch of value) {
    let piece = "";
    for (const b of Buffer.from(ch, "utf8")) {
      piece += b < 0x80 && ATTRIBUTE_CHAR.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    }
    if (current.length + piece.length > SEGMENT) {
      segments.push(current);
      current = "";
    }
    current += piece;
  }
  segments.push(current);
  if (segments.length === 1) return [`${key}*=utf-8''${segments[0]}`];
  return segments.map((s, i) => `${key}*${i}*=${i === 0 ? "utf-8''" : ""}${s}`);
}

/** Content-Type's `name`: plain when it can be, else RFC 2047 encoded-words in a quoted-string. */
export function nameParameter(value: string): string {
  if (plainFileName(value)) return simpleParameter("name", value);
  return `name="${encodeWords(value).join(" ")}"`;
}

/** Checks a file name (no controls, CR or LF: `EINPUT`, naming the field). */
export function checkFileName(what: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw inputError(`${what} must be a non-empty string`);
  checkHeaderValue(what, value);
  return value;
}

// type "/" subtype, then optional ASCII parameters (RFC 2045 §5.1).
const CONTENT_TYPE = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+\/[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+(?:[ \t]*;.*)?$/;

/** Checks a caller's content type: `type/subtype[; params]`, printable ASCII (`EINPUT` otherwise). */
export function checkContentType(what: string, value: unknown): string {
  checkHeaderValue(what, value);
  if (!PRINTABLE_ASCII.test(value) || !CONTENT_TYPE.test(value)) {
    throw inputError(`${what} "${value}" is not a content type (type/subtype, ASCII)`);
  }
  return value;
}

/** Checks a Content-ID (without the angle brackets): printable ASCII, no spaces, "<" or ">". */
export function checkCid(what: string, value: unknown): string {
  if (typeof value !== "string" || !/^[\u0021-\u007e]+$/.test(value) || /[<>]/.test(value)) {
    throw inputError(`${what} must be printable ASCII without spaces, "<" or ">" (CR and LF included)`);
  }
  return value;
}

/**
 * Header fields (RFC 5322 §2.2, §3.6): name and value validation, folding, Date and Message-ID.
 *
 * Folding inserts CRLF before whitespace only (RFC 5322 §2.2.3), so unfolding gives back the value
 * exactly. Lines are kept to 78 characters where the value has whitespace to break at (§2.1.1 SHOULD)
 * and never exceed 998 octets (§2.1.1 MUST): a header that cannot be folded that short is `EINPUT`.
 */
import { randomUUID } from "node:crypto";
import { inputError } from "../errors.js";
import { domainToAscii } from "./address.js";
import { unsafeCharacter } from "./characters.js";
import {
  chooseEncoding,
  encodeWord,
  MAX_WORD_LENGTH,
  MIN_WORD_LENGTH,
  wordNeedsEncoding,
} from "./encode-words.js";

/** RFC 5322 §2.1.1: lines SHOULD be at most 78 characters, excluding the CRLF. */
export const SOFT_LINE_LIMIT = 78;
/** RFC 5322 §2.1.1: lines MUST be at most 998 characters, excluding the CRLF. */
export const HARD_LINE_LIMIT = 998;

// RFC 5322 §3.6.8: field-name = 1*ftext; ftext = %d33-57 / %d59-126 (printable ASCII except ":").
const FIELD_NAME = /^[\u0021-\u0039\u003b-\u007e]+$/;
// Words of unstructured text longer than this are encoded, so that they can be split over lines.
const LONG_WORD = 900;

/** True when `name` is RFC 5322 field-name syntax. */
export function isFieldName(name: string): boolean {
  return FIELD_NAME.test(name);
}

/** Throws `EINPUT` unless `name` is a valid field name. */
export function checkHeaderName(name: string): void {
  if (typeof name !== "string" || !isFieldName(name)) {
    throw inputError(`"${String(name)}" is not a valid header name (printable ASCII without ":" or spaces)`);
  }
}

/**
 * Throws `EINPUT`, naming the field, when a header value is not a string or holds a character no header may
 * carry (see characters.ts: C0 controls but TAB, DEL, C1 controls, lone surrogates).
 */
export function checkHeaderValue(name: string, value: unknown): asserts value is string {
  if (typeof value !== "string") throw inputError(`the value of header ${name} is not a string`);
  const unsafe = unsafeCharacter(value, { allowTab: true });
  if (unsafe !== undefined) throw inputError(`the value of header ${name} contains ${unsafe}`);
}

/** Part of a header value: literal text (folded at its whitespace), or text to write as encoded-words. */
export type HeaderPart = string | { encode: string };

/**
 * Splits unstructured text (RFC 5322 §3.2.5) into parts: words that cannot be written as they are
 * (non-ASCII, "=?", or over 900 characters) are grouped with the whitespace between them into runs
 * to encode; the rest stays literal. Whitespace around a run stays literal, so decoding gives back
 * the text exactly (RFC 2047 §6.2).
 */
export function unstructuredParts(value: string): HeaderPart[] {
  const tokens = value.match(/[ \t]+|[^ \t]+/g) ?? [];
  const parts: HeaderPart[] = [];
  let literal = "";
  let run = ""; // encoded run being built
  let gap = ""; // whitespace after the run, not yet known to be inside it
  for (const token of tokens) {
    const space = token[0] === " " || token[0] === "\t";
    if (space) {
      if (run !== "") gap += token;
      else literal += token;
    } else if (wordNeedsEncoding(token) || token.length > LONG_WORD) {
      if (run === "") {
        if (literal !== "") parts.push(literal);
        literal = "";
        run = token;
      } else {
        run += gap + token;
      }
      gap = "";
    } else {
      if (run !== "") {
        parts.push({ encode: run });
        run = "";
        literal = gap;
        gap = "";
      }
      literal += token;
    }
  }
  if (run !== "") parts.push({ encode: run });
  literal += gap;
  if (literal !== "") parts.push(literal);
  return parts;
}

/**
 * Renders one header field, `Name: value` plus CRLF, folded. Literal parts break before whitespace;
 * encode parts become encoded-words sized to the room left on the line (each ≤ 75 characters). An
 * encode part must be separated from neighbouring literal text by whitespace (or begin the value).
 * Throws `EINPUT` when a line would exceed 998 octets (an unbreakable literal word).
 */
export function foldHeader(name: string, parts: readonly HeaderPart[]): string {
  const lines: string[] = [];
  const head = `${name}:`;
  let cur = head;
  let pending = " "; // whitespace before the next word; the first word follows ": "

  const place = (ws: string, word: string): void => {
    if (ws !== "" && cur !== head && cur.length + ws.length + word.length > SOFT_LINE_LIMIT) {
      lines.push(cur);
      cur = ws + word;
    } else {
      cur += ws + word;
    }
  };

  for (const part of parts) {
    if (typeof part === "string") {
      const tokens = part.match(/[ \t]+|[^ \t]+/g) ?? [];
      for (const token of tokens) {
        if (token[0] === " " || token[0] === "\t") {
          pending += token;
        } else {
          place(pending, token);
          pending = "";
        }
      }
      continue;
    }
    const text = part.encode;
    const encoding = chooseEncoding(text);
    let i = 0;
    while (i < text.length) {
      const ws = pending === "" ? " " : pending;
      pending = "";
      let room = SOFT_LINE_LIMIT - cur.length - ws.length;
      if (room < MIN_WORD_LENGTH) {
        lines.push(cur);
        cur = "";
        room = SOFT_LINE_LIMIT - ws.length;
      }
      const { word, end } = encodeWord(text, i, Math.min(MAX_WORD_LENGTH, room), encoding);
      cur += ws + word;
      i = end;
    }
  }
  cur += pending; // trailing whitespace of the value (or the " " after the colon of an empty value)
  lines.push(cur);
  for (const line of lines) {
    if (Buffer.byteLength(line) > HARD_LINE_LIMIT) {
      throw inputError(`header ${name} has a word too long to fold within 998 characters`);
    }
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** Folds an unstructured header (Subject, Comments, X-...) with encoded-words where needed. */
export function formatUnstructured(name: string, value: string): string {
  checkHeaderValue(name, value);
  return foldHeader(name, unstructuredParts(value));
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 5322 §3.3 date-time in this machine's local time with its offset, e.g.
 * `Sun, 29 Nov 2026 22:03:59 +0100`. Throws `EINPUT` for an invalid Date.
 */
export function formatDate(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw inputError("date is not a valid Date");
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  const zone = `${offset < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
  const time = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  const day = `${DAYS[date.getDay()]}, ${pad2(date.getDate())} ${MONTHS[date.getMonth()]}`;
  return `${day} ${String(date.getFullYear()).padStart(4, "0")} ${time} ${zone}`;
}

// RFC 5322 §3.6.4: msg-id = "<" id-left "@" id-right ">"; id-left = dot-atom-text;
// id-right = dot-atom-text / no-fold-literal ("[" *dtext "]"). The obsolete forms are not produced.
const DOT_ATOM_TEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+(?:\\.[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+)*";
const MSG_ID = new RegExp(
  `^<${DOT_ATOM_TEXT}@(?:${DOT_ATOM_TEXT}|\\[[\\u0021-\\u005a\\u005e-\\u007e]*\\])>$`,
);

/** True when `value` is RFC 5322 msg-id syntax (`<left@right>`, ASCII, at most 900 characters). */
export function isMsgId(value: string): boolean {
  return typeof value === "string" && value.length <= 900 && MSG_ID.test(value);
}

/**
 * A new random Message-ID, `<uuid@domain>`. `domain` is a host name (an IDN becomes A-labels) or an
 * address literal such as `[127.0.0.1]`. Throws `EINPUT` when the result would not be a msg-id.
 */
export function generateMessageId(domain: string): string {
  let right = domain;
  if (!domain.startsWith("[")) {
    try {
      right = domainToAscii(domain);
    } catch {
      right = domain;
    }
  }
  const id = `<${randomUUID()}@${right}>`;
  if (!isMsgId(id)) throw inputError(`"${domain}" cannot be the right-hand side of a Message-ID`);
  return id;
}

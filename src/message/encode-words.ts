/**
 * RFC 2047 encoded-words in UTF-8, for unstructured text (Subject, §5(1)) and display names (§5(3)).
 *
 * Each word is at most 75 characters (§2) and holds whole characters only: a UTF-8 sequence is never
 * split across two words (§5: "each encoded-word MUST represent an integral number of characters").
 * Q words use only the characters §5(3) allows in a phrase (letters, digits, "!*+-/", "_" for space),
 * so the same words are valid in a Subject and in a display name.
 */

/** "B" (base64) or "Q" (quoted-printable-like), RFC 2047 §4. */
export type WordEncoding = "B" | "Q";

/** The longest an encoded-word may be (RFC 2047 §2). */
export const MAX_WORD_LENGTH = 75;
/** Room below which a caller should start a new line: enough for any one character in either encoding. */
export const MIN_WORD_LENGTH = 24;

const PREFIX_LENGTH = "=?UTF-8?B?".length;
const OVERHEAD = PREFIX_LENGTH + "?=".length;
const HEX = "0123456789ABCDEF";

// RFC 5322 atext without non-ASCII, for deciding whether a display name can stay as atoms.
const ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
const PRINTABLE_ASCII = /^[\u0020-\u007e]*$/;

/** True when a byte may appear as itself in a Q-encoded word in a phrase (RFC 2047 §5(3)). */
function qLiteral(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    b === 0x21 ||
    b === 0x2a ||
    b === 0x2b ||
    b === 0x2d ||
    b === 0x2f
  );
}

/** The UTF-8 bytes of one code point (a lone surrogate becomes U+FFFD, as TextEncoder does). */
function utf8(cp: number): number[] {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}

/** Picks the shorter encoding for `text`: Q for mostly-ASCII text, B otherwise. */
export function chooseEncoding(text: string): WordEncoding {
  const bytes = Buffer.from(text, "utf8");
  let q = 0;
  for (const b of bytes) q += b === 0x20 || qLiteral(b) ? 1 : 3;
  const b64 = Math.ceil(bytes.length / 3) * 4;
  return q <= b64 ? "Q" : "B";
}

/**
 * Encodes the longest run of whole characters of `text`, from UTF-16 index `start`, that fits in one
 * encoded-word of at most `maxLength` characters (clamped to 24..75). Returns the word and the index
 * after the last character it holds.
 */
export function encodeWord(
  text: string,
  start: number,
  maxLength: number,
  encoding: WordEncoding,
): { word: string; end: number } {
  const budget = Math.min(MAX_WORD_LENGTH, Math.max(MIN_WORD_LENGTH, maxLength)) - OVERHEAD;
  const bytes: number[] = [];
  let qLength = 0;
  let i = start;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const b = utf8(cp);
    let added = 0;
    for (const x of b) added += x === 0x20 || qLiteral(x) ? 1 : 3;
    const length = encoding === "Q" ? qLength + added : Math.ceil((bytes.length + b.length) / 3) * 4;
    if (length > budget && i > start) break;
    bytes.push(...b);
    qLength += added;
    i += units;
  }
  let body = "";
  if (encoding === "B") {
    body = Buffer.from(bytes).toString("base64");
  } else {
    for (const x of bytes) {
      if (x === 0x20) body += "_";
      else if (qLiteral(x)) body += String.fromCharCode(x);
      else body += `=${HEX[x >> 4]}${HEX[x & 15]}`;
    }
  }
  return { word: `=?UTF-8?${encoding}?${body}?=`, end: i };
}

/**
 * Encodes all of `text` as encoded-words of at most `maxLength` (≤ 75) characters each. Join them with
 * single spaces (or folding whitespace): a decoder drops the whitespace between adjacent encoded-words
 * (RFC 2047 §6.2), so the spaces of `text` are carried inside the words.
 */
export function encodeWords(
  text: string,
  encoding = chooseEncoding(text),
  maxLength = MAX_WORD_LENGTH,
): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const { word, end } = encodeWord(text, i, maxLength, encoding);
    words.push(word);
    i = end;
  }
  return words;
}

/**
 * True when a word of unstructured text (no whitespace inside) cannot be written as it is: it holds
 * non-ASCII, or looks like the start of an encoded-word ("=?"), which a reader would try to decode.
 */
export function wordNeedsEncoding(word: string): boolean {
  return !PRINTABLE_ASCII.test(word) || word.includes("=?");
}

/** How a display name is written (RFC 5322 §3.2.5 phrase). */
export type PhraseForm =
  | { kind: "atoms"; text: string }
  | { kind: "quoted"; text: string }
  | { kind: "encoded" };

/**
 * Decides how to write a display name: as atoms when it is atext words with single spaces, as a
 * quoted-string (with `"` and `\` escaped) when it is other printable ASCII, and as encoded-words
 * otherwise (non-ASCII, or text such as "=?" that a reader would mistake for an encoded-word).
 */
export function phraseForm(name: string): PhraseForm {
  if (ATOMS.test(name) && !name.includes("=?")) return { kind: "atoms", text: name };
  if (PRINTABLE_ASCII.test(name) && !name.includes("=?")) {
    return { kind: "quoted", text: `"${name.replace(/(["\\])/g, "\\$1")}"` };
  }
  return { kind: "encoded" };
}

/** A display name as one string: atoms, a quoted-string, or encoded-words joined by spaces. */
export function encodePhrase(name: string): string {
  const form = phraseForm(name);
  return form.kind === "encoded" ? encodeWords(name).join(" ") : form.text;
}

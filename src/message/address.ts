/**
 * Strict single-mailbox parsing (RFC 5322 §3.4) and envelope address conversion (RFC 5321 §4.1.2,
 * RFC 6531, IDNA). Everything that is not exactly one mailbox is refused with `EINPUT` — a list, a
 * group, a comment, `<`/`>` inside, trailing text — and nothing is ever split into several addresses
 * (API.md §4 rule 5).
 *
 * Accepted: `user@host`, `<user@host>`, `Name <user@host>` (atoms, and dots as RFC 5322 §4.1 obs-phrase
 * allows), `"Quoted, \"Name\"" <user@host>`. The local part is a dot-atom or a quoted-string; UTF-8 is
 * accepted in both and in the name (RFC 6532 §3.2). The domain is a host name (IDN allowed) or an
 * address literal `[192.0.2.1]` / `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
 */
import { isIPv4, isIPv6 } from "node:net";
import { domainToASCII, domainToUnicode } from "node:url";
import { inputError, SMTPError } from "../errors.js";
import { unsafeCharacter } from "./characters.js";

/** One mailbox: the display name (unquoted, unescaped), if any, and the bare address `local@domain`. */
export interface Mailbox {
  name?: string;
  address: string;
}

// RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6532 §3.2).
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+$/;
const NON_ASCII = /[^\u0000-\u007f]/;
// RFC 5321 §4.1.2 Let-dig / Ldh-str, checked on the A-label form.
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/**
 * Parses exactly one mailbox. Throws `EINPUT` with the reason for anything else.
 * The returned address keeps the domain as given (Unicode stays Unicode; see `toEnvelopeAddress`).
 */
export function parseMailbox(input: string): Mailbox {
  if (typeof input !== "string") throw inputError("an address must be a string");
  const unsafe = unsafeCharacter(input, { allowTab: false });
  if (unsafe !== undefined) throw inputError(`an address contains ${unsafe}`);
  const text = input.trim();
  if (text === "") throw inputError("an address is empty");
  const angle = findOutsideQuotes(text, "<");
  if (angle < 0) {
    if (text.includes(">")) throw inputError(`"${input}" has a ">" without "<"`);
    if (findOutsideQuotes(text, ",") >= 0)
      throw inputError(`"${input}" is a list; give one address per entry`);
    const colon = findOutsideQuotes(text, ":");
    if (findOutsideQuotes(text, ";") >= 0 || (colon >= 0 && colon < text.indexOf("@"))) {
      throw inputError(`"${input}" uses group syntax, which is not accepted`);
    }
    return { address: parseAddrSpec(text, input) };
  }
  const close = text.indexOf(">", angle + 1);
  if (close < 0) throw inputError(`"${input}" has a "<" without ">"`);
  const inner = text.slice(angle + 1, close).trim();
  if (inner.includes("<")) throw inputError(`"${input}" has "<" inside <...>`);
  const name = parsePhrase(text.slice(0, angle), input);
  const rest = text.slice(close + 1).trim();
  if (rest !== "") {
    throw inputError(
      rest.startsWith(",")
        ? `"${input}" is a list; give one address per entry`
        : `"${input}" has text after ">"`,
    );
  }
  const address = parseAddrSpec(inner, input);
  return name === "" ? { address } : { name, address };
}

/** Index of `ch` outside double-quoted strings (honouring backslash escapes), or -1. */
function findOutsideQuotes(text: string, ch: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === ch) return i;
  }
  return -1;
}

/**
 * Splits an address-list header value ("a@x, \"B, C\" <b@y>") into its entries at the commas outside
 * quotes and angle brackets. Each entry is then parsed with `parseMailbox` (group syntax is refused there).
 */
export function splitAddressList(value: string): string[] {
  const entries: string[] = [];
  let quoted = false;
  let angle = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "<") angle = true;
    else if (!quoted && c === ">") angle = false;
    else if (!quoted && !angle && c === ",") {
      entries.push(value.slice(start, i));
      start = i + 1;
    }
  }
  entries.push(value.slice(start));
  return entries.map((e) => e.trim()).filter((e) => e !== "");
}

/** Parses a display name (RFC 5322 §3.2.5 phrase, with obs-phrase dots); returns it unquoted. */
function parsePhrase(phrase: string, input: string): string {
  const words: string[] = [];
  let i = 0;
  while (i < phrase.length) {
    const c = phrase[i]!;
    if (c === " ") {
      i++;
    } else if (c === '"') {
      const { value, end } = readQuoted(phrase, i, input);
      if (/[<>]/.test(value)) throw inputError(`"${input}" has "<" or ">" inside its display name`);
      words.push(value);
      i = end;
    } else {
      let j = i;
      while (j < phrase.length && phrase[j] !== " " && phrase[j] !== '"') j++;
      const word = phrase.slice(i, j);
      for (const ch of word) {
        if (ch === ".") continue;
        if (ATEXT.test(ch)) continue;
        if (ch === ",") throw inputError(`"${input}" looks like a list; quote a name with a comma`);
        if (ch === ":" || ch === ";") throw inputError(`"${input}" uses group syntax, which is not accepted`);
        if (ch === "(" || ch === ")") throw inputError(`"${input}" has a comment, which is not accepted`);
        if (ch === "@") throw inputError(`"${input}" has "@" in an unquoted name, or more than one address`);
        throw inputError(`"${input}" has "${ch}" in an unquoted display name; put the name in quotes`);
      }
      words.push(word);
      i = j;
    }
  }
  return words.join(" ");
}

/** Reads a quoted-string starting at `start` (the opening quote); returns its unescaped content. */
function readQuoted(text: string, start: number, input: string): { value: string; end: number } {
  let value = "";
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') return { value, end: i + 1 };
    if (c === "\\") {
      i++;
      if (i >= text.length) break;
      value += text[i];
    } else {
      value += c;
    }
  }
  throw inputError(`"${input}" has an unterminated quoted string`);
}

/** Validates `local@domain` (RFC 5321 §4.1.2 Mailbox) and returns it in canonical form. */
function parseAddrSpec(spec: string, input: string): string {
  let local: string;
  let rest: string;
  if (spec.startsWith('"')) {
    const { value, end } = readQuoted(spec, 0, input);
    if (spec[end] !== "@") throw inputError(`"${input}" has no "@" after its quoted local part`);
    if (/[<>]/.test(value)) throw inputError(`"${input}" has "<" or ">" inside its address`);
    if (value === "") throw inputError(`"${input}" has an empty local part`);
    // Keep the quotes only when the content is not a dot-atom (RFC 5321 §4.1.2: prefer the unquoted form).
    local = isDotAtom(value) ? value : `"${value.replace(/(["\\])/g, "\\$1")}"`;
    rest = spec.slice(end + 1);
  } else {
    const at = spec.indexOf("@");
    if (at < 0) {
      if (/[\s,;]/.test(spec))
        throw inputError(`"${input}" is not one address; a name needs <...> around the address`);
      throw inputError(`"${input}" has no "@"`);
    }
    local = spec.slice(0, at);
    rest = spec.slice(at + 1);
    if (local === "") throw inputError(`"${input}" has an empty local part`);
    if (/[\s,;:]/.test(local))
      throw inputError(`"${input}" is not one address (space, comma or colon before "@")`);
    if (!isDotAtom(local)) throw inputError(`"${input}" has an invalid local part "${local}"`);
  }
  if (rest.includes("@")) throw inputError(`"${input}" has more than one "@"`);
  if (rest === "") throw inputError(`"${input}" has an empty domain`);
  // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
  if (Buffer.byteLength(local) > 64) throw inputError(`"${input}" has a local part over 64 octets`);
  checkDomain(rest, input);
  return `${local}@${rest}`;
}

function isDotAtom(text: string): boolean {
  const atoms = text.split(".");
  return atoms.every((a) => a !== "" && ATEXT.test(a));
}

/** Throws `EINPUT` unless `domain` is a host name or an address literal. */
function checkDomain(domain: string, input: string): void {
  if (domain.startsWith("[")) {
    if (!domain.endsWith("]")) throw inputError(`"${input}" has an unterminated address literal`);
    const literal = domain.slice(1, -1);
    if (isIPv4(literal)) return;
    if (/^IPv6:/i.test(literal) && isIPv6(literal.slice(5))) return;
    throw inputError(`"${input}" has an address literal that is not [IPv4] or [IPv6:...]`);
  }
  const reason = hostnameProblem(domain);
  if (reason !== undefined) throw inputError(`"${input}" has an invalid domain: ${reason}`);
}

/**
 * Why `domain` is not a valid host name, or undefined when it is. Checked on its A-label form
 * (`url.domainToASCII`, which accepts "-ab.com" and "a..b" itself): labels 1–63 octets of letters, digits
 * and inner hyphens (RFC 1035 §2.3.1, RFC 5321 §4.1.2), at most 253 octets in all, no trailing dot, and
 * a last label that is not all digits (that would be an IP address without brackets).
 */
function hostnameProblem(domain: string): string | undefined {
  if (domain.endsWith(".")) return "it ends with a dot";
  let ascii = domain;
  if (NON_ASCII.test(domain)) {
    // url.domainToASCII is a URL host parser: it stops at "/", "?", "#" and "\\", decodes "%41" and maps
    // full-width letters and ideographic full stops. None of that may change where mail goes, so the
    // ASCII part of an IDN may only be letters, digits, hyphens and ".", and the domain must come back
    // from its A-label form unchanged (but for case and Unicode normalisation).
    if (/[\u0000-\u002c\u002f\u003a-\u0040\u005b-\u0060\u007b-\u007f]/.test(domain)) {
      return "it holds characters a domain name cannot hold";
    }
    if (/[\u3002\uff0e\uff61]/.test(domain)) return 'write "." between its labels';
    // RFC 5891 §4.2.3.1: a U-label must not begin or end with a hyphen; its A-label ("xn---...")
    // would pass the LDH check below, so look at the Unicode labels.
    for (const label of domain.split(".")) {
      if (label.startsWith("-") || label.endsWith("-"))
        return `label "${label}" begins or ends with a hyphen`;
    }
    ascii = domainToASCII(domain);
    if (ascii === "") return "it is not a valid internationalized domain name";
    const back = domainToUnicode(ascii);
    if (back !== domain.normalize("NFC").toLowerCase()) {
      return `it is not in the form IDNA keeps (it would be sent as "${back}")`;
    }
  }
  if (ascii.length > 253) return "it is longer than 253 characters";
  const labels = ascii.split(".");
  for (const label of labels) {
    if (label === "") return "it has an empty label";
    if (label.length > 63) return "a label is longer than 63 characters";
    if (!LDH_LABEL.test(label)) return `label "${label}" is not letters, digits and inner hyphens`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "an IP address must be written as [a.b.c.d]";
  return undefined;
}

/**
 * The domain as A-labels (IDNA, via `url.domainToASCII`) after the checks of `hostnameProblem`.
 * ASCII domains and address literals are returned unchanged. Throws `EINPUT` for an invalid domain.
 */
export function domainToAscii(domain: string): string {
  if (domain.startsWith("[") || !NON_ASCII.test(domain)) return domain;
  const reason = hostnameProblem(domain);
  if (reason !== undefined) throw inputError(`invalid domain "${domain}": ${reason}`);
  return domainToASCII(domain);
}

/**
 * The form of a bare address (`parseMailbox(...).address`) to send in MAIL FROM / RCPT TO.
 * With SMTPUTF8 (RFC 6531) the address goes as it is. Without it, an IDN domain becomes its A-labels
 * (RFC 5890), and a non-ASCII local part cannot be carried: that throws `EENVELOPE` (not temporary)
 * before anything is sent (API.md §1, send()).
 */
export function toEnvelopeAddress(address: string, smtputf8: boolean): string {
  if (smtputf8 || !NON_ASCII.test(address)) return address;
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  if (at < 0 || NON_ASCII.test(local)) {
    throw new SMTPError(
      "EENVELOPE",
      `the address "${address}" has a non-ASCII local part, and the server does not offer SMTPUTF8`,
      { temporary: false },
    );
  }
  return `${local}@${domainToAscii(address.slice(at + 1))}`;
}

/**
 * True when the address, as it will be sent, holds non-ASCII and so needs the SMTPUTF8 parameter on
 * MAIL FROM (RFC 6531 §3.4). Apply it to the result of `toEnvelopeAddress`: without SMTPUTF8 that has
 * already turned an IDN domain into A-labels, so only a non-ASCII local part is left to need it.
 */
export function needsSmtpUtf8(address: string): boolean {
  return NON_ASCII.test(address);
}

/**
 * RFC 3461 §4 xtext, the encoding of the DSN parameters ENVID (§4.4) and ORCPT (§4.2):
 *
 *     xtext   = *( xchar / hexchar )
 *     xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except for "+" and "="
 *     hexchar = "+" followed by two upper-case hexadecimal digits
 *
 * Only ORCPT's `rfc822` address type is produced. RFC 6533's `utf-8` type (for addresses with a
 * non-ASCII local part, on SMTPUTF8 sessions) is not: such an address is refused rather than sent in
 * a form the receiver would misread.
 */
import { inputError } from "../errors.js";

const HEX = "0123456789ABCDEF";

/**
 * Encodes a value as xtext. Printable ASCII other than "+" and "=" is kept; "+", "=" and the space
 * become "+2B", "+3D" and "+20". Control characters (CR, LF, NUL, TAB, DEL, ...) and non-ASCII text
 * cannot be carried in ENVID or an rfc822 ORCPT, and throw `EINPUT` (API.md §4 rule 5).
 */
export function encodeXtext(value: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x20 && c < 0x7f && c !== 0x2b && c !== 0x3d) continue;
    if (c < 0x20 || c === 0x7f) throw inputError("a DSN value (ENVID or ORCPT) contains a control character");
    if (c > 0x7f)
      throw inputError("a DSN value (ENVID or ORCPT) contains non-ASCII text, which xtext cannot carry");
    out += `${value.slice(start, i)}+${HEX[c >> 4]}${HEX[c & 15]}`;
    start = i + 1;
  }
  return start === 0 ? value : out + value.slice(start);
}

/**
 * Decodes xtext (for tests and logs). Throws `EINPUT` on a malformed "+" escape or a character outside
 * the xtext alphabet.
 */
export function decodeXtext(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b) {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw inputError("malformed xtext escape");
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else if (c > 0x20 && c < 0x7f && c !== 0x3d) {
      out += value[i];
    } else {
      throw inputError("invalid xtext character");
    }
  }
  return out;
}

/**
 * The ORCPT parameter value for an address: `rfc822;` followed by the xtext of the bare address
 * (RFC 3461 §4.2), e.g. `rfc822;user+tag@example.com` → `rfc822;user+2Btag@example.com`.
 * Give the address as it goes into RCPT TO (IDN domains already as A-labels). A non-ASCII address
 * throws `EINPUT`.
 */
export function encodeOrcpt(address: string): string {
  if (address === "") throw inputError("ORCPT needs an address");
  return `rfc822;${encodeXtext(address)}`;
}

/** The ENVID parameter value (RFC 3461 §4.4): at most 100 characters before encoding. */
export function encodeEnvid(envid: string): string {
  if (envid === "") throw inputError("ENVID is empty");
  // §4.4: "the ENVID ... MUST NOT exceed 100 characters in length".
  if (envid.length > 100) throw inputError("ENVID is longer than 100 characters (RFC 3461 §4.4)");
  return encodeXtext(envid);
}

/**
 * SASLprep (RFC 4013), the stringprep (RFC 3454) profile for user names and passwords, as SCRAM
 * needs it (RFC 5802 §2.2 and §5.1). Only the "query" variant is offered: unassigned code points
 * are allowed (RFC 3454 §7), which is what RFC 5802 asks of a client.
 */

import { isLCat } from "./saslprep-tables.js";

/** Thrown when a string holds a character SASLprep prohibits or fails the bidi rule. */
export class SASLprepError extends Error {
  override readonly name = "SASLprepError";
}

// RFC 4013 §2.1: non-ASCII space characters (RFC 3454 C.1.2) are mapped to SPACE. This runs before
// the B.1 step below, so U+200B (in both tables) becomes a space.
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/gu;

// RFC 4013 §2.1: the "commonly mapped to nothing" characters (RFC 3454 B.1) are removed.
// biome-ignore lint/suspicious/noMisleadingCharacterClass: code points are listed one by one, on purpose.
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/gu;

// RFC 4013 §2.3: prohibited output. The \p{} classes are exactly the RFC 3454 tables they stand for:
// Co = C.3 private use, Noncharacter_Code_Point = C.4, Cs = C.5 surrogates (lone ones in a JS string).
const PROHIBITED = new RegExp(
  [
    "[\\u00a0\\u1680\\u2000-\\u200b\\u202f\\u205f\\u3000]", // C.1.2 non-ASCII space
    "[\\u0000-\\u001f\\u007f]", // C.2.1 ASCII control
    // C.2.2 non-ASCII control
    "[\\u0080-\\u009f\\u06dd\\u070f\\u180e\\u200c\\u200d\\u2028\\u2029\\u2060-\\u2063\\u206a-\\u206f\\ufeff\\ufff9-\\ufffc\\u{1d173}-\\u{1d17a}]",
    "\\p{Co}", // C.3 private use
    "\\p{Noncharacter_Code_Point}", // C.4 non-character code points
    "\\p{Cs}", // C.5 surrogate codes
    "[\\ufff9-\\ufffd]", // C.6 inappropriate for plain text
    "[\\u2ff0-\\u2ffb]", // C.7 inappropriate for canonical representation
    "[\\u0340\\u0341\\u200e\\u200f\\u202a-\\u202e\\u206a-\\u206f]", // C.8 change display properties
    "[\\u{e0001}\\u{e0020}-\\u{e007f}]", // C.9 tagging characters
  ].join("|"),
  "u",
);

// RFC 3454 Appendix D.1: characters with bidirectional property "R" or "AL" (RandALCat), Unicode 3.2.
const RANDALCAT = new RegExp(
  "[\\u05be\\u05c0\\u05c3\\u05d0-\\u05ea\\u05f0-\\u05f4\\u061b\\u061f\\u0621-\\u063a\\u0640-\\u064a" +
    "\\u066d-\\u066f\\u0671-\\u06d5\\u06dd\\u06e5\\u06e6\\u06fa-\\u06fe\\u0700-\\u070d\\u0710" +
    "\\u0712-\\u072c\\u0780-\\u07a5\\u07b1\\u200f\\ufb1d\\ufb1f-\\ufb28\\ufb2a-\\ufb36\\ufb38-\\ufb3c" +
    "\\ufb3e\\ufb40\\ufb41\\ufb43\\ufb44\\ufb46-\\ufbb1\\ufbd3-\\ufd3d\\ufd50-\\ufd8f\\ufd92-\\ufdc7" +
    "\\ufdf0-\\ufdfc\\ufe70-\\ufe74\\ufe76-\\ufefc]",
  "u",
);

/**
 * Prepares `input` with the SASLprep profile (RFC 4013 §2), treating it as a query (unassigned code
 * points allowed). Throws `SASLprepError` for prohibited output or a bidi violation; the message
 * names the rule, never the input (it may be a password).
 */
export function saslprep(input: string): string {
  // §2.1 mapping, then §2.2 normalization form KC.
  const mapped = input.replace(NON_ASCII_SPACE, " ").replace(MAPPED_TO_NOTHING, "");
  const output = mapped.normalize("NFKC");
  if (PROHIBITED.test(output)) {
    throw new SASLprepError("contains a character SASLprep prohibits (RFC 4013 §2.3)");
  }
  checkBidi(output);
  return output;
}

/** RFC 4013 §2.4, which applies RFC 3454 §6. */
function checkBidi(text: string): void {
  const chars = Array.from(text);
  const isRandAL = (c: string | undefined): boolean => c !== undefined && RANDALCAT.test(c);
  if (!chars.some((c) => isRandAL(c))) return;
  // RFC 3454 §6 rule 2: RandALCat and LCat never mix.
  if (chars.some((c) => isLCat(c.codePointAt(0) ?? 0))) {
    throw new SASLprepError("mixes right-to-left and left-to-right characters (RFC 3454 §6)");
  }
  // Rule 3: a string holding RandALCat must begin and end with one.
  if (!isRandAL(chars[0]) || !isRandAL(chars[chars.length - 1])) {
    throw new SASLprepError(
      "right-to-left text must begin and end with a right-to-left character (RFC 3454 §6)",
    );
  }
}

/**
 * The one rule for characters that may never appear in a header we write (a value, a display name, an
 * address): C0 controls (TAB only where the caller allows it: folding whitespace in a value), DEL, C1
 * controls (U+0080–U+009F, invisible and read by some terminals and parsers as line breaks: U+0085 is NEL),
 * and lone UTF-16 surrogates (not Unicode: UTF-8 would carry U+FFFD instead of what the caller wrote).
 */

const CONTROL_WITH_TAB = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_BUT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Cs}/u;

/** Why `text` cannot be written in a header ("a control character (U+000A)"), or undefined when it can. */
export function unsafeCharacter(text: string, options: { allowTab: boolean }): string | undefined {
  const control = (options.allowTab ? CONTROL_BUT_TAB : CONTROL_WITH_TAB).exec(text);
  if (control) return `a control character (${codePoint(control[0])})`;
  const surrogate = LONE_SURROGATE.exec(text);
  if (surrogate) return `a lone UTF-16 surrogate (${codePoint(surrogate[0])}), which is not a character`;
  return undefined;
}

function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

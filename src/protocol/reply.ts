import type { Reply } from "../types.js";

/**
 * Builds a Reply from its code and the text of each line (after "250-" / "250 ").
 * The RFC 2034 enhanced status code is recognised on each line and stripped from it once, here,
 * only when its class agrees with the reply code's first digit.
 */
export function buildReply(code: number, rawLines: readonly string[]): Reply {
  const codeClass = Math.floor(code / 100);
  if (rawLines.length === 1) {
    // one line (nearly every reply of a transaction): no array work, no regular expression
    const line = rawLines[0]!;
    const prefix = enhancedPrefix(line, codeClass);
    if (prefix === 0) return { code, lines: rawLines as string[], text: line };
    const text = line.slice(prefix);
    return { code, lines: [text], text, enhancedCode: line.slice(0, prefix).trimEnd() };
  }
  let enhancedCode: string | undefined;
  const lines = rawLines.map((line) => {
    const prefix = enhancedPrefix(line, codeClass);
    if (prefix === 0) return line;
    enhancedCode ??= line.slice(0, prefix).trimEnd();
    return line.slice(prefix);
  });
  const reply: Reply = { code, lines, text: lines.join("\n") };
  if (enhancedCode !== undefined) reply.enhancedCode = enhancedCode;
  return reply;
}

/**
 * The length of the RFC 3463 enhanced status code at the start of `line` with the space after it
 * ("2.1.0 " is 6), or 0 when there is none or its class is not `codeClass` (RFC 2034 §4: it must agree
 * with the reply code). class "." subject "." detail, subject and detail 1-3 digits, then a space or the end.
 */
function enhancedPrefix(line: string, codeClass: number): number {
  if (line.charCodeAt(1) !== 0x2e || line.charCodeAt(0) - 0x30 !== codeClass || codeClass === 3) return 0;
  let i = 2;
  const subject = digits(line, i);
  if (subject === 0 || line.charCodeAt(i + subject) !== 0x2e) return 0;
  i += subject + 1;
  const detail = digits(line, i);
  if (detail === 0) return 0;
  i += detail;
  if (i === line.length) return i;
  return line.charCodeAt(i) === 0x20 ? i + 1 : 0;
}

/** How many ASCII digits (1-3, else 0) start at `at`; 0 also when a fourth digit follows. */
function digits(line: string, at: number): number {
  let n = 0;
  while (n < 4) {
    const c = line.charCodeAt(at + n);
    if (!(c >= 0x30 && c <= 0x39)) break; // (NaN past the end)
    n++;
  }
  return n > 3 ? 0 : n;
}

/** True for 2xx. */
export function isPositive(reply: Reply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

/** The reply as the server sent it, for the transcript: "250-first", "250 last". */
export function replyWireLines(reply: Reply): string[] {
  const last = reply.lines.length - 1;
  return reply.lines.map((line, i) => {
    const text = i === 0 && reply.enhancedCode ? `${reply.enhancedCode} ${line}`.trimEnd() : line;
    return `${reply.code}${i === last ? " " : "-"}${text}`;
  });
}

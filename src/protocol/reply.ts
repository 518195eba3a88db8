import type { Reply } from "../types.js";

// RFC 3463 §2: class.subject.detail, class 2, 4 or 5; subject 1-3 digits; detail 1-3 digits.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

/**
 * Builds a Reply from its code and the text of each line (after "250-" / "250 ").
 * The RFC 2034 enhanced status code is recognised on each line and stripped from it once, here,
 * only when its class agrees with the reply code's first digit.
 */
export function buildReply(code: number, rawLines: readonly string[]): Reply {
  const codeClass = String(Math.floor(code / 100));
  let enhancedCode: string | undefined;
  if (rawLines.length === 1 && rawLines[0]!.charCodeAt(1) !== 0x2e) {
    // one line, no enhanced code (the common 250 / 354 of a plain server)
    return { code, lines: rawLines as string[], text: rawLines[0]! };
  }
  const lines = rawLines.map((line) => {
    if (line.charCodeAt(1) !== 0x2e) return line; // no "d." in front: no enhanced code
    const match = ENHANCED.exec(line);
    if (match === null || match[1] !== codeClass) return line;
    enhancedCode ??= `${match[1]}.${match[2]}.${match[3]}`;
    return line.slice(match[0].length);
  });
  const reply: Reply = { code, lines, text: lines.join("\n") };
  if (enhancedCode !== undefined) reply.enhancedCode = enhancedCode;
  return reply;
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

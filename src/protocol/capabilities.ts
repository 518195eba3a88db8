import type { Reply } from "../types.js";

/** What an EHLO (or LHLO) reply says the server offers. */
export interface Capabilities {
  /** The extension lines as sent, without the first (greeting) line and without empty lines. */
  readonly lines: readonly string[];
  /** Upper-cased keyword -> its parameters. */
  readonly keywords: ReadonlyMap<string, readonly string[]>;
  /** SASL mechanisms, upper-cased, from "AUTH ..." and the old "AUTH=..." form. */
  readonly authMechanisms: ReadonlySet<string>;
  /** RFC 1870 SIZE limit; 0 means "no fixed limit"; undefined when SIZE is not offered. */
  readonly maxSize: number | undefined;
  readonly pipelining: boolean;
  readonly chunking: boolean;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly dsn: boolean;
  readonly starttls: boolean;
  readonly requireTls: boolean;
  readonly enhancedStatusCodes: boolean;
}

// RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Capabilities of a server that answered HELO (no extensions). */
export const NO_CAPABILITIES: Capabilities = parseCapabilities({ code: 250, lines: [""], text: "" });

/** Parses an EHLO reply. Lines that are not an ehlo-line are kept in `lines` but give no keyword. */
export function parseCapabilities(reply: Reply): Capabilities {
  const lines: string[] = [];
  const keywords = new Map<string, string[]>();
  const authMechanisms = new Set<string>();
  for (const raw of reply.lines.slice(1)) {
    const line = raw.trim();
    if (line === "") continue; // "250 " is not an option
    lines.push(line);
    // The old "AUTH=PLAIN LOGIN" form some servers still send next to "AUTH PLAIN LOGIN".
    const oldAuth = /^AUTH=(.*)$/i.exec(line);
    if (oldAuth) {
      for (const m of oldAuth[1]!.split(/\s+/)) if (m) authMechanisms.add(m.toUpperCase());
      continue;
    }
    const [keyword, ...params] = line.split(/\s+/);
    if (keyword === undefined || !KEYWORD.test(keyword)) continue;
    const key = keyword.toUpperCase();
    keywords.set(key, params);
    if (key === "AUTH") for (const m of params) authMechanisms.add(m.toUpperCase());
  }
  let maxSize: number | undefined;
  const size = keywords.get("SIZE");
  if (size !== undefined) {
    const n = size[0] === undefined ? 0 : Number(size[0]);
    maxSize = Number.isSafeInteger(n) && n >= 0 ? n : 0;
  }
  return {
    lines,
    keywords,
    authMechanisms,
    maxSize,
    pipelining: keywords.has("PIPELINING"),
    chunking: keywords.has("CHUNKING"),
    eightBitMime: keywords.has("8BITMIME"),
    smtpUtf8: keywords.has("SMTPUTF8"),
    dsn: keywords.has("DSN"),
    starttls: keywords.has("STARTTLS"),
    requireTls: keywords.has("REQUIRETLS"),
    enhancedStatusCodes: keywords.has("ENHANCEDSTATUSCODES"),
  };
}

/**
 * Pure command formatters. Each returns the wire line (with CRLF) and the form the transcript shows.
 * This module is the only place that checks arguments for CR, LF, NUL and other control characters:
 * every formatter runs its arguments through `checkArgument`, so nothing else can build a command line.
 */

/** A command ready to write: `wire` goes to the socket, `log` to the transcript and errors. */
export interface Command {
  readonly wire: string;
  readonly log: string;
  /** The verb, for error stages and transcripts ("MAIL", "AUTH", ...). */
  readonly verb: string;
}

/** Thrown by formatters on an argument that could inject a second command; the caller maps it to EINPUT. */
export class CommandArgumentError extends Error {
  override readonly name = "CommandArgumentError";
}

// C0 controls (incl. CR, LF, NUL, TAB) and DEL. TAB is refused too: no SMTP argument needs it.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Rejects any argument that holds a control character; returns it unchanged otherwise. */
export function checkArgument(value: string, what: string): string {
  if (CONTROL.test(value)) {
    throw new CommandArgumentError(`${what} contains a control character (CR, LF, NUL or similar)`);
  }
  return value;
}

function make(verb: string, line: string, log?: string): Command {
  return { verb, wire: `${line}\r\n`, log: log ?? line };
}

export function ehlo(name: string): Command {
  return make("EHLO", `EHLO ${checkArgument(name, "client name")}`);
}

export function helo(name: string): Command {
  return make("HELO", `HELO ${checkArgument(name, "client name")}`);
}

export function lhlo(name: string): Command {
  return make("LHLO", `LHLO ${checkArgument(name, "client name")}`);
}

export function starttls(): Command {
  return make("STARTTLS", "STARTTLS");
}

/** ESMTP parameters as "KEY=VALUE" or "KEY"; each is checked too. */
function params(list: readonly string[]): string {
  let out = "";
  for (const p of list) {
    checkArgument(p, "parameter");
    if (p === "" || p.includes(" ")) throw new CommandArgumentError(`invalid ESMTP parameter "${p}"`);
    out += ` ${p}`;
  }
  return out;
}

/** `MAIL FROM:<address> params`. An empty address is the null reverse-path. */
export function mailFrom(address: string, parameters: readonly string[] = []): Command {
  checkArgument(address, "sender address");
  if (/[<>\s]/.test(address)) throw new CommandArgumentError("sender address contains <, > or a space");
  return make("MAIL", `MAIL FROM:<${address}>${params(parameters)}`);
}

/** `RCPT TO:<address> params`. */
export function rcptTo(address: string, parameters: readonly string[] = []): Command {
  checkArgument(address, "recipient address");
  if (address === "" || /[<>\s]/.test(address)) {
    throw new CommandArgumentError("recipient address is empty or contains <, > or a space");
  }
  return make("RCPT", `RCPT TO:<${address}>${params(parameters)}`);
}

export function data(): Command {
  return make("DATA", "DATA");
}

/** `BDAT size [LAST]`: only the command line; the chunk bytes follow it on the wire. */
export function bdat(size: number, last: boolean): Command {
  if (!Number.isSafeInteger(size) || size < 0) throw new CommandArgumentError(`invalid BDAT size ${size}`);
  return make("BDAT", `BDAT ${size}${last ? " LAST" : ""}`);
}

/**
 * `AUTH mechanism [initial-response]`. The log form never shows the initial response.
 * An empty initial response is sent as "=" (RFC 4954 §4).
 */
export function auth(mechanism: string, initialResponse?: string): Command {
  checkArgument(mechanism, "mechanism");
  if (!/^[A-Z0-9_-]{1,20}$/i.test(mechanism))
    throw new CommandArgumentError(`invalid mechanism "${mechanism}"`);
  if (initialResponse === undefined) return make("AUTH", `AUTH ${mechanism}`);
  checkArgument(initialResponse, "initial response");
  const ir = initialResponse === "" ? "=" : initialResponse;
  return make("AUTH", `AUTH ${mechanism} ${ir}`, `AUTH ${mechanism} <redacted>`);
}

/** A SASL continuation line (base64, or "*" to cancel). Always redacted in the log. */
export function saslResponse(base64: string): Command {
  checkArgument(base64, "SASL response");
  return make("AUTH", base64, base64 === "*" ? "*" : "<redacted>");
}

export function rset(): Command {
  return make("RSET", "RSET");
}

export function noop(): Command {
  return make("NOOP", "NOOP");
}

export function quit(): Command {
  return make("QUIT", "QUIT");
}

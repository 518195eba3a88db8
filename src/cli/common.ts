// What the subcommands share: the connection flags, reading files, the transcript, and the one stderr line.
import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { ConnectOptions, Security } from "../api/connect.js";
import { SMTP } from "../client/smtp.js";
import { SMTPError } from "../errors.js";
import type { TranscriptEntry } from "../types.js";
import { ADVICE, EXIT, exitCodeFor, stageName } from "./exit-codes.js";

/** A failure the CLI reports with its own exit status and message (usage, unreadable file, configuration). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The flags every networked subcommand takes. */
export const CONNECTION_FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  security: { type: "string" },
  "tls-ca": { type: "string" },
  insecure: { type: "boolean" },
  timeout: { type: "string" },
  "client-name": { type: "string" },
  lmtp: { type: "boolean" },
  verbose: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** Help text for CONNECTION_FLAGS. */
export const CONNECTION_HELP = `  --host H               server host name or IP address (required)
  --port P               default 587, or 465 with --security tls
  --security MODE        starttls (default; required) | tls (default on 465) | starttls-if-offered | none
  --tls-ca FILE          trust this CA (PEM) for the server's certificate, e.g. a private CA
  --insecure             do NOT verify the server's certificate (says so loudly; avoid)
  --timeout MS           connect, greeting and per-command deadline (default 60000)
  --client-name NAME     EHLO name (default: this host's FQDN, else its address literal)
  --lmtp                 speak LMTP (LHLO; one reply per recipient), e.g. to Dovecot or Cyrus on port 24
  --verbose              print the transcript (passwords redacted) on stderr
  --json                 print the result as JSON on stdout (on failure: {"error": {...}})`;

/** An interactive tool should report a dead server within a minute (swaks waits 30 s); the library's
 * RFC 5321 defaults (5 minutes) suit unattended relays better. Message data keeps the library's 10 minutes. */
const CLI_TIMEOUT_MS = 60_000;

const SECURITY: readonly Security[] = ["starttls", "tls", "starttls-if-offered", "none"];

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** parseArgs, strict, with its errors turned into usage errors; no positional arguments. */
export function parse(argv: string[], options: NonNullable<ParseArgsConfig["options"]>): Values {
  return parseWithPositionals(argv, options, false).values;
}

/** parse() for a command that also takes positional arguments (when `allowPositionals`). */
export function parseWithPositionals(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  allowPositionals = true,
): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new CliError(EXIT.USAGE, `${(error as Error).message} (see --help)`);
  }
}

/** A string flag's value. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable string flag's values. */
export function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v)
    ? v.filter((x): x is string => typeof x === "string")
    : typeof v === "string"
      ? [v]
      : [];
}

/** A string flag that must be given (usage error otherwise). */
export function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === "") throw new CliError(EXIT.USAGE, `--${name} is required (see --help)`);
  return v;
}

/** Reads a file the user named; EX_NOINPUT when it cannot be read. */
export function readInputFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CliError(
      EXIT.NO_INPUT,
      `cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}

/** The ConnectOptions the connection flags describe (no auth, no logger). */
export function connectionOptions(values: Values, stderr: NodeJS.WritableStream): ConnectOptions {
  const host = required(values, "host");
  const portText = str(values, "port");
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new CliError(EXIT.USAGE, `--port ${portText} is not a TCP port (1-65535)`);
  }
  const security = str(values, "security");
  if (security !== undefined && !SECURITY.includes(security as Security)) {
    throw new CliError(EXIT.USAGE, `--security must be one of ${SECURITY.join(", ")}`);
  }
  const timeoutText = str(values, "timeout");
  const timeout = timeoutText === undefined ? CLI_TIMEOUT_MS : Number(timeoutText);
  if (!(Number.isFinite(timeout) && timeout > 0)) {
    throw new CliError(EXIT.USAGE, `--timeout ${timeoutText} is not a positive number of milliseconds`);
  }
  const tls: NonNullable<ConnectOptions["tls"]> = {};
  const caFile = str(values, "tls-ca");
  if (caFile !== undefined) tls.ca = readInputFile(caFile, "--tls-ca");
  if (values.insecure === true) {
    tls.rejectUnauthorized = false;
    stderr.write(
      "smtpkit: WARNING: --insecure: the server's certificate is NOT verified. Anyone on the network path can " +
        "pose as the server and read the password and the message.\n",
    );
  }
  return {
    host,
    port,
    security: security as Security | undefined,
    tls,
    connectTimeout: timeout,
    timeouts: { greeting: timeout, command: timeout },
    clientName: str(values, "client-name"),
    lmtp: values.lmtp === true,
  };
}

/** How long a silent server may take before the CLI says what might be wrong (the greeting timeout is longer). */
const SILENCE_HINT_MS = 3_000;

/**
 * On a port that expects implicit TLS, a client that waits for a greeting in clear hears nothing until the
 * greeting timeout. After a few seconds of silence, say what to try; returns the function that cancels it.
 */
export function hintOnSilence(
  transcript: Transcript,
  options: ConnectOptions,
  stderr: NodeJS.WritableStream,
): () => void {
  if (options.security === "tls" || (options.security === undefined && options.port === 465)) return () => {};
  const timer = setTimeout(() => {
    if (transcript.heardServer) return;
    const port = options.port ?? 587;
    stderr.write(
      `smtpkit: no greeting from port ${port} after ${SILENCE_HINT_MS / 1000} s; still waiting. If this port ` +
        `expects TLS first (as 465 does), use --security tls\n`,
    );
  }, SILENCE_HINT_MS);
  timer.unref();
  return () => clearTimeout(timer);
}

/** AUTH mechanism names the CLI accepts for --auth, to SMTP.AUTH_* constants. */
export const AUTH_BY_NAME: ReadonlyMap<string, number> = new Map([
  ["PLAIN", SMTP.AUTH_PLAIN],
  ["LOGIN", SMTP.AUTH_LOGIN],
  ["CRAM-MD5", SMTP.AUTH_CRAM_MD5],
  ["XOAUTH2", SMTP.AUTH_XOAUTH2],
  ["OAUTHBEARER", SMTP.AUTH_OAUTHBEARER],
  ["SCRAM-SHA-1", SMTP.AUTH_SCRAM_SHA_1],
  ["SCRAM-SHA-256", SMTP.AUTH_SCRAM_SHA_256],
  ["SCRAM-SHA-256-PLUS", SMTP.AUTH_SCRAM_SHA_256_PLUS],
]);

/** The mechanism name of an AUTH_* constant. */
export function authName(type: number): string {
  for (const [name, value] of AUTH_BY_NAME) if (value === type) return name;
  return `#${type}`;
}

/**
 * Collects the transcript: prints it on stderr with --verbose, remembers whether TLS came up (for exit 32),
 * and scrubs the secrets it was given from every line as a second guard (the library already redacts).
 */
export class Transcript {
  readonly lines: string[] = [];
  tlsUp = false;
  /** True once the server has sent anything (a greeting, or any reply). */
  heardServer = false;
  readonly #echo: NodeJS.WritableStream | undefined;
  /** Each secret as given and base64-encoded (as AUTH sends it): encoded once here, not for every line. */
  readonly #secrets: string[] = [];

  constructor(echo: NodeJS.WritableStream | undefined, secrets: (string | undefined)[] = []) {
    this.#echo = echo;
    for (const secret of secrets) this.addSecret(secret);
  }

  /** Scrubs `secret` from every line from now on (e.g. an access token fetched during the session). */
  addSecret(secret: string | undefined): void {
    // very short secrets would scrub ordinary text; the library's redaction covers them
    if (typeof secret !== "string" || secret.length < 4) return;
    for (const form of [secret, Buffer.from(secret).toString("base64")])
      if (!this.#secrets.includes(form)) this.#secrets.push(form);
  }

  readonly logger = (entry: TranscriptEntry): void => {
    if (entry.direction === "C" && entry.line.startsWith("(TLS established")) this.tlsUp = true;
    if (entry.direction === "S") this.heardServer = true;
    const line = `${entry.direction}: ${this.scrub(entry.line)}`;
    this.lines.push(line);
    this.#echo?.write(`${line}\n`);
  };

  scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.replaceAll(secret, "<redacted>");
    return out;
  }
}

/**
 * The one stderr line for a failure and its exit status: which step failed, the server's reply (in the
 * error's message), and what to change.
 */
export function describeFailure(
  command: string,
  error: unknown,
  transcript: Transcript | undefined,
): { line: string; exitCode: number } {
  if (error instanceof CliError)
    return { line: `smtpkit ${command}: ${error.message}`, exitCode: error.exitCode };
  const exitCode = exitCodeFor(error, transcript?.tlsUp ?? false);
  const raw = error instanceof Error ? error.message : String(error);
  let message = forTheCommandLine(raw.replace(/\s*[\r\n]+\s*/g, " / "));
  if (transcript) message = transcript.scrub(message);
  const lmtp = lmtpAdvice(error, transcript);
  // the library's advice for a refused hello is about the client name; for the wrong protocol it misleads
  if (lmtp !== undefined) message = message.replace(/; use --client-name with .*$/, "");
  const advice = lmtp ?? ADVICE[exitCode];
  const hasAdvice = /\b(use|check|set|pass|retry|raise|connect by)\b/i.test(message);
  // bad input is no failed stage: say what is wrong, as for the CLI's own usage errors
  let line =
    exitCode === EXIT.USAGE
      ? `smtpkit ${command}: ${message}`
      : `smtpkit ${command}: ${stageName(exitCode)} failed: ${message}`;
  if (advice && (!hasAdvice || advice.includes("--lmtp"))) line += ` (${advice})`;
  if (error instanceof SMTPError) {
    const code = error.reply?.code ?? 0;
    if (error.deliveryUnknown) line += " [the message may have been delivered: check before sending again]";
    else if (code >= 400 && code < 500) line += " [temporary (4xx): may work later]";
  }
  return { line, exitCode };
}

/**
 * The advice for a hello refused by a server of the other protocol: an LMTP server (its greeting or reply
 * says LMTP or LHLO, or port 24) refusing EHLO, or an SMTP server refusing LHLO under --lmtp.
 */
function lmtpAdvice(error: unknown, transcript: Transcript | undefined): string | undefined {
  if (!(error instanceof SMTPError) || error.stage !== "EHLO" || transcript === undefined) return undefined;
  const lhlo = transcript.lines.some((l) => l.startsWith("C: LHLO "));
  if (lhlo) return "the server did not take LHLO: drop --lmtp if it speaks SMTP";
  const saysLmtp = transcript.lines.some((l) => l.startsWith("S: ") && /\b(LMTP|LHLO)\b/i.test(l));
  if (saysLmtp) return "this server speaks LMTP: use --lmtp";
  // HELO refused as an unknown command (500/502; a refused name is 501 or 550): not an SMTP server
  const code = error.reply?.code;
  if ((code === 500 || code === 502) && transcript.lines.some((l) => l.startsWith("C: HELO "))) {
    return "the server knows neither EHLO nor HELO: if it is an LMTP server (Dovecot, Cyrus, port 24), use --lmtp";
  }
  return undefined;
}

/** A failure as --json prints it on stdout: {"error": {code, stage, message, reply, ..., exitStatus}}. */
export function failureJson(
  error: unknown,
  line: string,
  exitCode: number,
  scrub: (text: string) => string = (text) => text,
): string {
  const message = line.replace(/^smtpkit [a-z]+: /, "");
  if (!(error instanceof SMTPError)) {
    const code = error instanceof CliError ? (CLI_ERROR_CODES[error.exitCode] ?? "EOTHER") : "EOTHER";
    return JSON.stringify({ error: { code, message, exitStatus: exitCode } }, null, 2);
  }
  const reply = error.reply;
  return JSON.stringify(
    {
      error: {
        code: error.code,
        stage: error.stage ?? null,
        message,
        reply: reply
          ? { code: reply.code, enhancedCode: reply.enhancedCode ?? null, lines: reply.lines.map(scrub) }
          : null,
        temporary: error.temporary,
        deliveryUnknown: error.deliveryUnknown,
        ...(error.rejected
          ? { rejected: error.rejected.map((r) => ({ recipient: r.recipient, reply: r.reply })) }
          : {}),
        exitStatus: exitCode,
      },
    },
    null,
    2,
  );
}

/** --json codes for the CLI's own failures, by exit status. */
const CLI_ERROR_CODES: Readonly<Record<number, string>> = {
  [EXIT.USAGE]: "EUSAGE",
  [EXIT.NO_INPUT]: "ENOINPUT",
  [EXIT.CONFIG]: "ECONFIG",
  130: "EINTERRUPTED",
};

/** Prints a failure: one line on stderr, and with --json the error object on stdout. Returns the exit status. */
export function reportFailure(
  command: string,
  error: unknown,
  transcript: Transcript | undefined,
  json: boolean,
): number {
  const { line, exitCode } = describeFailure(command, error, transcript);
  process.stderr.write(`${line}\n`);
  if (json) {
    const scrub = (text: string): string => transcript?.scrub(text) ?? text;
    process.stdout.write(`${failureJson(error, line, exitCode, scrub)}\n`);
  }
  return exitCode;
}

/** The library's advice names options; on the command line the same advice names flags. */
export function forTheCommandLine(message: string): string {
  return message
    .replace(/\bsecurity "([a-z-]+)"/g, "--security $1")
    .replace(/"(starttls-if-offered|none)"/g, "$1")
    .replace(/\bin tls\.ca\b/g, "with --tls-ca")
    .replace(/\bset clientName to\b/g, "use --client-name with")
    .replace(/\bset clientName\b/g, "use --client-name")
    .replace(/\bclientName\b/g, "--client-name")
    .replace(/\bfromAddr\b/g, "--from")
    .replace(/^recipient: /, "--to/--cc/--bcc: ")
    .replace(/\braise connectTimeout\b/g, "raise --timeout")
    .replace(/, or set allowInsecureAuth if you accept that anyone on the path can read the password/g, "");
}

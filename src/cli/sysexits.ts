// sendmail(8)'s exit statuses (sysexits.h), which MUAs, git send-email and cron read to tell a failure
// worth retrying (75) from a permanent one. API.md §3.1.
import { SMTPError } from "../errors.js";
import { CliError } from "./common.js";
import { EXIT } from "./exit-codes.js";

/**
 * The statuses of sysexits.h that sendmail mode uses. USAGE, NOINPUT and CONFIG are EXIT's own: a CliError
 * thrown by the code both modes share (flags, accounts, input files) carries its status to sysexitFor as it is.
 */
export const SYSEXIT = {
  OK: EXIT.OK,
  USAGE: EXIT.USAGE,
  DATAERR: 65,
  NOINPUT: EXIT.NO_INPUT,
  NOUSER: 67,
  NOHOST: 68,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: EXIT.CONFIG,
} as const;

/** The table `smtpkit sendmail --help` shows. */
export const SYSEXIT_HELP: readonly [number, string][] = [
  [SYSEXIT.OK, "sent: the server accepted the message (for at least one recipient)"],
  [SYSEXIT.USAGE, "usage: unknown option, no recipient, a recipient or -f that is not an address"],
  [SYSEXIT.DATAERR, "data error: stdin holds no RFC 5322 message (header fields, empty line, body)"],
  [SYSEXIT.NOINPUT, "an input file named by the account (tls_trust_file) cannot be read"],
  [SYSEXIT.NOUSER, "no recipient accepted: every RCPT refused permanently (5xx)"],
  [SYSEXIT.NOHOST, "host not found: the server's name does not resolve"],
  [SYSEXIT.UNAVAILABLE, "unavailable: another permanent refusal (5xx), or TLS/certificate failure"],
  [SYSEXIT.SOFTWARE, "internal error (a bug in smtpkit)"],
  [
    SYSEXIT.TEMPFAIL,
    "temporary: 4xx, timeout, connection refused or lost before the end of data; retry later",
  ],
  [
    SYSEXIT.PROTOCOL,
    "protocol error: the server broke SMTP, or the connection was lost after the end of data",
  ],
  [SYSEXIT.NOPERM, "authentication refused (wrong user or password, or no usable mechanism)"],
  [SYSEXIT.CONFIG, "configuration: the config file, the account, the password command or the keyring"],
];

const RESOLVE_FAILURES = new Set(["ENOTFOUND", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA"]);

/** The sysexits status for a failure of `smtpkit sendmail`. */
export function sysexitFor(error: unknown): number {
  if (error instanceof CliError) return error.exitCode === EXIT.OTHER ? SYSEXIT.SOFTWARE : error.exitCode;
  if (!(error instanceof SMTPError)) return SYSEXIT.SOFTWARE;
  if (error.deliveryUnknown) return SYSEXIT.PROTOCOL; // not 75: a retry could deliver it twice
  if (error.code === "EINPUT") return SYSEXIT.DATAERR;
  if (error.code === "EPROTOCOL") return SYSEXIT.PROTOCOL;
  if (error.stage === "CONNECT" && RESOLVE_FAILURES.has(causeCode(error) ?? "")) return SYSEXIT.NOHOST;
  if (error.code === "EENVELOPE" && error.stage === "RCPT" && error.rejected && error.rejected.length > 0)
    return error.rejected.every((r) => r.reply.code >= 500) ? SYSEXIT.NOUSER : SYSEXIT.TEMPFAIL;
  const reply = error.reply?.code;
  if (reply !== undefined && reply >= 400 && reply < 500) return SYSEXIT.TEMPFAIL;
  if (error.code === "EAUTH") return SYSEXIT.NOPERM;
  if (reply !== undefined && reply >= 500) return SYSEXIT.UNAVAILABLE;
  if (error.temporary) return SYSEXIT.TEMPFAIL;
  if (error.code === "EMESSAGE") return SYSEXIT.DATAERR; // refused before sending (SIZE), or stdin failed
  return SYSEXIT.UNAVAILABLE;
}

function causeCode(error: Error): string | undefined {
  for (let e: unknown = error.cause, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

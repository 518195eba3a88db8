// Exit statuses of the smtpkit CLI. The SMTP stage numbers are swaks's (its users know them); the rest
// are sysexits.h values.
import { SMTPError } from "../errors.js";

/** Every exit status the CLI uses. */
export const EXIT = {
  OK: 0,
  /** A failure that fits no stage below (a bug, an unexpected error). */
  OTHER: 1,
  CONNECT: 2,
  GREETING: 21,
  HELLO: 22,
  SENDER: 23,
  RECIPIENTS: 24,
  DATA: 25,
  END_OF_DATA: 26,
  AUTH: 28,
  TLS: 29,
  HELLO_AFTER_TLS: 32,
  /** sysexits EX_USAGE: the command line is wrong. */
  USAGE: 64,
  /** sysexits EX_NOINPUT: an input file (body, password, CA) cannot be read. */
  NO_INPUT: 66,
  /** sysexits EX_CONFIG: the environment is wrong (a --password-env variable that is not set). */
  CONFIG: 78,
} as const;

/** The table shown by `smtpkit --help`. */
export const EXIT_HELP: readonly [number, string][] = [
  [EXIT.OK, "success"],
  [EXIT.OTHER, "unexpected failure"],
  [EXIT.CONNECT, "connect: no TCP connection (host, port, DNS, firewall)"],
  [EXIT.GREETING, "greeting: the server declined, timed out, or did not speak SMTP"],
  [EXIT.HELLO, "hello: EHLO/HELO refused"],
  [EXIT.SENDER, "sender: MAIL FROM refused"],
  [EXIT.RECIPIENTS, "recipients: no recipient accepted"],
  [EXIT.DATA, "data: DATA (or BDAT) refused, or the message could not be sent"],
  [EXIT.END_OF_DATA, "end of data: the message was refused, or the reply never came"],
  [EXIT.AUTH, "auth: credentials declined, or no usable mechanism"],
  [EXIT.TLS, "TLS: STARTTLS missing or refused, handshake or certificate failure, wrong TLS mode"],
  [EXIT.HELLO_AFTER_TLS, "hello after TLS: EHLO refused once TLS was up"],
  [EXIT.USAGE, "usage: bad or missing options (also --password on the command line)"],
  [EXIT.NO_INPUT, "an input file (--body-file, --password-file, --tls-ca) cannot be read"],
  [EXIT.CONFIG, "configuration: the --password-env variable is not set, or smtp-server (demo) is missing"],
];

/** Exit status by the stage that failed (CONNECT and EHLO depend on the error too: see exitCodeFor). */
const BY_STAGE: ReadonlyMap<string, number> = new Map([
  ["GREETING", EXIT.GREETING],
  ["STARTTLS", EXIT.TLS],
  ["AUTH", EXIT.AUTH],
  ["MAIL", EXIT.SENDER],
  ["RCPT", EXIT.RECIPIENTS],
  ["DATA", EXIT.DATA],
  ["BDAT", EXIT.DATA],
  ["END", EXIT.END_OF_DATA],
]);

/** Exit status by error code, for an error without a known stage. */
const BY_CODE: ReadonlyMap<string, number> = new Map([
  ["ECONNECTION", EXIT.CONNECT],
  ["ETIMEDOUT", EXIT.CONNECT],
  ["ETLS", EXIT.TLS],
  ["EAUTH", EXIT.AUTH],
  ["EENVELOPE", EXIT.SENDER],
]);

/**
 * Maps a failure to its exit status. `afterTls` tells a hello refused after STARTTLS/implicit TLS (32)
 * from one in clear (22); the CLI knows it from the transcript.
 */
export function exitCodeFor(error: unknown, afterTls = false): number {
  if (!(error instanceof SMTPError)) return EXIT.OTHER;
  if (error.code === "EINPUT") return EXIT.USAGE;
  // A message refused before DATA (SIZE over the server's limit, stage MAIL) is still "the message could
  // not be sent", not a refused sender. (EMESSAGE at END is refused end of data, by stage below.)
  if (error.code === "EMESSAGE" && error.stage !== "END") return EXIT.DATA;
  if (error.stage === "CONNECT") return error.code === "ETLS" ? EXIT.TLS : EXIT.CONNECT;
  if (error.stage === "EHLO") return afterTls || error.code === "ETLS" ? EXIT.HELLO_AFTER_TLS : EXIT.HELLO;
  return BY_STAGE.get(error.stage ?? "") ?? BY_CODE.get(error.code) ?? EXIT.OTHER;
}

/** What the user should look at, by exit status (added to the one stderr line when the error says less). */
export const ADVICE: Readonly<Partial<Record<number, string>>> = {
  [EXIT.CONNECT]: "check --host and --port",
  [EXIT.GREETING]: "check --port and --security",
  [EXIT.HELLO]: "try --client-name with this host's fully qualified name",
  [EXIT.SENDER]: "check --from (many servers require it to match --user)",
  [EXIT.RECIPIENTS]: "check the --to/--cc/--bcc addresses",
  [EXIT.AUTH]: "check --user, the password and --auth",
  [EXIT.TLS]: 'check --security and --port (465 is "tls", 587 is "starttls"), or --tls-ca',
  [EXIT.HELLO_AFTER_TLS]: "try --client-name with this host's fully qualified name",
};

/** The name of a stage, for the stderr line. */
export function stageName(code: number): string {
  const row = EXIT_HELP.find(([n]) => n === code);
  return row ? row[1].split(":")[0]! : "error";
}

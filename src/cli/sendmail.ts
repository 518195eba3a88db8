// `smtpkit sendmail` (also the program started as "sendmail"): a complete message on stdin, sendmail(8)
// conventions, msmtp's accounts, sysexits. The message streams from stdin into sendRaw; only its header
// block is read ahead (to find -t recipients, a Bcc to remove, a missing Date or Message-ID).
import { parseMailbox, splitAddressList } from "../message/address.js";
import { phraseForm } from "../message/encode-words.js";
import { fieldValue, peekHeaderBlock, type RawField, replay } from "../message/header-block.js";
import { foldHeader, formatDate, generateMessageId, type HeaderPart } from "../message/headers.js";
import type { SendResult } from "../types.js";
import { ACCOUNT_HELP, applyAccount, PASSWORD_COMMAND_HELP, passwordFromSources } from "./account.js";
import { CliError, connectionOptions, describeFailure, str, Transcript, type Values } from "./common.js";
import { mechanismOf } from "./credentials.js";
import { openSession } from "./session.js";
import { SYSEXIT, SYSEXIT_HELP, sysexitFor } from "./sysexits.js";

/** `smtpkit sendmail --help`. */
export const SENDMAIL_HELP = `smtpkit sendmail: send the message on stdin, as sendmail(8) and msmtp do

  smtpkit sendmail [-t] [-i | -oi] [-f FROM] [-F NAME] [-v] [--account NAME] [--config FILE] [--] [recipient...]
  (the same when this program is started under the name "sendmail", e.g. through a symlink)

  -t                     also send to the To, Cc and Bcc addresses of the message
  -i, -oi                accepted: input always ends at the end of stdin, never at a lone "." line
  -f FROM, -r FROM       envelope sender (default: the account's "from", else the message's From)
  -F NAME                full name for a From header that smtpkit adds (set_from_header)
  -v                     print the SMTP transcript (passwords redacted) on stderr
  -a NAME, -C FILE       msmtp's spellings of --account and --config
  --                     the end of options: everything after it is a recipient
${ACCOUNT_HELP}
${PASSWORD_COMMAND_HELP}

The connection comes from the account (host, port, tls, tls_starttls, tls_trust_file, tls_fingerprint,
tls_certcheck, auth, user, password/passwordeval/keyring, domain, timeout, dsn_notify, dsn_return,
set_from_header, from). The message is sent as it is, except: Bcc and Resent-Bcc headers are removed,
and a Date and a Message-ID are added when missing (a From too, per set_from_header).
Options MUAs pass that do not apply here (-oem, -odi, -om, -bm, -B 8BITMIME, -N, -R, -V, -X ...) are accepted
and ignored.

Exit status (sysexits.h, as sendmail and msmtp):
${SYSEXIT_HELP.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`).join("\n")}`;

/** What the command line asked for. */
export interface SendmailArgs {
  recipients: string[];
  readRecipients: boolean;
  from: string | undefined;
  fullName: string | undefined;
  verbose: boolean;
  help: boolean;
  /** The account flags (account, config, password-command), as parseArgs would give them. */
  values: Record<string, string | boolean | undefined>;
}

/** Options that take a value (as the next argument or attached: -fFROM). Ignored ones included. */
const WITH_VALUE: Record<string, string | null> = {
  "-f": "from",
  "-r": "from",
  "-F": "fullName",
  "-a": "account",
  "-C": "config",
  "-B": null, // body type (7BIT/8BITMIME): the server is told by the content itself
  "-N": null, // DSN notify: set dsn_notify in the account
  "-R": null, // DSN return: set dsn_return in the account
  "-V": null, // DSN envelope id
  "-X": null, // traffic log file
  "-L": null, // syslog tag
  "-O": null, // long-form sendmail option
  "-h": null, // hop count
};

/** Long options: --name VALUE or --name=VALUE. */
const LONG_WITH_VALUE: Record<string, string> = {
  "--account": "account",
  "--config": "config",
  "--file": "config", // msmtp
  "--from": "from", // msmtp
  "--password-command": "password-command",
};

/** Parses sendmail-style arguments (getopt-like, as MUAs pass them). CliError 64 on anything unknown. */
export function parseSendmailArgs(argv: string[]): SendmailArgs {
  const out: SendmailArgs = {
    recipients: [],
    readRecipients: false,
    from: undefined,
    fullName: undefined,
    verbose: false,
    help: false,
    values: {},
  };
  const usage = (what: string): never => {
    throw new CliError(SYSEXIT.USAGE, `${what} (see smtpkit sendmail --help)`);
  };
  const set = (name: string | null, value: string): void => {
    if (name === "from") out.from = value;
    else if (name === "fullName") out.fullName = value;
    else if (name !== null) out.values[name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.recipients.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "--help" || arg === "-help") {
      out.help = true;
      continue;
    }
    if (arg === "--read-recipients") {
      out.readRecipients = true;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const target = LONG_WITH_VALUE[name];
      if (target === undefined) {
        if (name === "--password" || name === "--pass")
          usage("--password is refused: the argument list is visible to every user of this machine");
        usage(`unknown option ${name}`);
      }
      const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) usage(`${name} needs a value`);
      set(target!, value!);
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") {
      out.recipients.push(arg);
      continue;
    }
    const flag = arg.slice(0, 2);
    if (flag in WITH_VALUE) {
      const value = arg.length > 2 ? arg.slice(2) : argv[++i];
      if (value === undefined) usage(`${flag} needs a value`);
      set(WITH_VALUE[flag]!, value!);
      continue;
    }
    if (flag === "-o" || flag === "-e") continue; // -oi, -oem, -odi, -om, -oQ..., -em, -ep ...: sendmail options
    if (flag === "-b") {
      // -bm is "deliver mail" (the default); -bp, -bs, -bd, -bi, -bv ... are not a message to send
      if (arg !== "-bm") usage(`${arg}: only -bm (send a message) is supported`);
      continue;
    }
    if (/^-[tivUmnd]+$/.test(arg) && !/d./.test(arg)) {
      for (const c of arg.slice(1)) {
        if (c === "t") out.readRecipients = true;
        else if (c === "v") out.verbose = true;
        // -i: input never ends at a "." line; -U (initial submission), -m (me too), -n (no aliases): no effect
      }
      continue;
    }
    if (arg.startsWith("-d")) continue; // sendmail debug flags
    usage(`unknown option ${arg}`);
  }
  return out;
}

/** Runs `smtpkit sendmail`; resolves with a sysexits status. */
export async function runSendmail(argv: string[]): Promise<number> {
  let transcript: Transcript | undefined;
  try {
    const args = parseSendmailArgs(argv);
    if (args.help) {
      process.stdout.write(`${SENDMAIL_HELP}\n`);
      return SYSEXIT.OK;
    }
    const values: Values = { ...args.values, verbose: args.verbose };
    const use = applyAccount(values, true)!;
    const options = connectionOptions(values, process.stderr);
    const user = str(values, "user");
    const password =
      user === undefined ? undefined : await passwordFromSources(values, use, user, options.host);
    if (user !== undefined && password === undefined)
      throw new CliError(
        SYSEXIT.CONFIG,
        `${use.file}:${use.account.line}: account "${use.account.name}" authenticates as "${user}" but has no password: ` +
          `add "passwordeval CMD", store it with "secret-tool store --label=msmtp host ${options.host} service smtp user ${user}", ` +
          "or pass --password-command",
      );
    transcript = new Transcript(args.verbose ? process.stderr : undefined, [password]);

    const message = await readMessage(process.stdin);
    const envelopeFrom = envelopeSender(args.from, str(values, "from"), message.fields);
    const recipients = recipientsOf(args, message.fields);
    const head = rewriteHeader(message.fields, {
      envelopeFrom,
      fullName: args.fullName,
      setFromHeader: use.setFromHeader,
    });

    const smtp = await openSession(
      {
        ...options,
        logger: transcript.logger,
        auth:
          user === undefined || password === undefined
            ? undefined
            : {
                username: user,
                password,
                type: mechanismOf(str(values, "auth")), // the account's auth (checked by parseConfig)
              },
      },
      use,
    );
    let result: SendResult;
    try {
      const chunks = replay(Buffer.concat([head, message.bodyStart]), message.rest);
      result = await smtp.sendRaw(envelopeFrom, recipients, chunks, { dsn: use.dsn });
    } finally {
      await smtp.close().catch(() => undefined);
    }
    for (const { recipient, reply } of result.rejected) {
      process.stderr.write(
        `smtpkit sendmail: not accepted: ${recipient}: ${reply.code} ${reply.text.replace(/\n/g, " / ")} (sent to the others)\n`,
      );
    }
    return SYSEXIT.OK;
  } catch (error) {
    const { line } = describeFailure("sendmail", error, transcript);
    const code = sysexitFor(error);
    const note =
      code === SYSEXIT.TEMPFAIL && !line.includes("temporary") ? " [temporary: try again later]" : "";
    process.stderr.write(`${line}${note}\n`);
    return code;
  }
}

/** The message's header fields, the start of the body read with them, and the rest of stdin (streamed). */
interface StdinMessage {
  fields: RawField[];
  bodyStart: Uint8Array;
  rest: AsyncIterator<Uint8Array> | undefined;
}

/** Reads stdin up to the end of the header block (at most 64 KiB); 65 when it does not start with one. */
async function readMessage(stdin: AsyncIterable<Uint8Array>): Promise<StdinMessage> {
  const { head, scan, rest } = await peekHeaderBlock(stdin);
  if (scan.kind !== "headers") {
    throw new CliError(
      SYSEXIT.DATAERR,
      head.length === 0
        ? "stdin is empty: give the whole message (header fields, an empty line, the body) on stdin"
        : "stdin does not start with a header block (RFC 5322: header fields, an empty line, the body; at most 64 KiB of header)",
    );
  }
  return { fields: scan.fields, bodyStart: head.subarray(scan.bodyStart), rest };
}

/** The envelope sender: -f, else the account's from, else the message's From. */
function envelopeSender(flag: string | undefined, account: string | undefined, fields: RawField[]): string {
  const candidates: [string | undefined, string][] = [
    [flag, "-f"],
    [account, "the account's from"],
    [fieldValue(fields, "From"), "the From header"],
  ];
  for (const [value, what] of candidates) {
    if (value === undefined || value === "") continue;
    try {
      return parseMailbox(value).address;
    } catch (error) {
      throw new CliError(
        what === "the From header" ? SYSEXIT.DATAERR : SYSEXIT.USAGE,
        `${what} "${value}" is not one address: ${(error as Error).message}`,
      );
    }
  }
  throw new CliError(SYSEXIT.USAGE, 'no envelope sender: pass -f FROM or set "from" in the account');
}

/** Command-line recipients (each may be a comma list) and, with -t, those of To, Cc and Bcc; each once. */
function recipientsOf(args: SendmailArgs, fields: RawField[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (entry: string, where: string, exit: number): void => {
    let address: string;
    try {
      address = parseMailbox(entry).address;
    } catch (error) {
      throw new CliError(exit, `${where}: "${entry}" is not an address: ${(error as Error).message}`);
    }
    const key = address.toLowerCase();
    if (!seen.has(key)) {
      seen.add(key);
      out.push(address);
    }
  };
  for (const arg of args.recipients)
    for (const entry of splitAddressList(arg)) add(entry, "recipient", SYSEXIT.USAGE);
  if (args.readRecipients) {
    for (const field of fields) {
      const name = field.name.toLowerCase();
      if (name !== "to" && name !== "cc" && name !== "bcc") continue;
      const value = field.raw.slice(field.raw.indexOf(":") + 1).replace(/\r\n/g, "");
      for (const entry of groupMembers(value)) add(entry, `the ${field.name} header`, SYSEXIT.DATAERR);
    }
  }
  if (out.length === 0)
    throw new CliError(SYSEXIT.USAGE, "no recipients: give them as arguments, or pass -t to read To/Cc/Bcc");
  return out;
}

/** The mailboxes of an address-list value, with RFC 5322 groups ("Team: a@x, b@y;", "undisclosed:;") opened. */
function groupMembers(value: string): string[] {
  const out: string[] = [];
  for (let entry of splitAddressList(value)) {
    // "Name: first@x" starts a group (a colon outside quotes before any "<" or "@")
    const group = /^(?:[^"<@:]|"(?:[^"\\]|\\.)*")*:/.exec(entry);
    if (group !== null && !entry.slice(0, group[0].length).includes("@"))
      entry = entry.slice(group[0].length);
    entry = entry.replace(/;\s*$/, "").trim();
    if (entry !== "") out.push(...splitAddressList(entry));
  }
  return out;
}

/** The header block to send: Bcc/Resent-Bcc removed, From per set_from_header, Date and Message-ID when missing. */
function rewriteHeader(
  fields: RawField[],
  options: { envelopeFrom: string; fullName: string | undefined; setFromHeader: "auto" | "on" | "off" },
): Buffer {
  const has = (name: string): boolean => fields.some((f) => f.name.toLowerCase() === name);
  const setFrom = options.setFromHeader === "on" || (options.setFromHeader === "auto" && !has("from"));
  const kept = fields.filter((f) => {
    const name = f.name.toLowerCase();
    return name !== "bcc" && name !== "resent-bcc" && !(setFrom && name === "from");
  });
  const parts: Buffer[] = kept.map((f) => Buffer.from(`${f.raw}\r\n`, "latin1"));
  const added: string[] = [];
  if (setFrom) added.push(fromHeader(options.envelopeFrom, options.fullName));
  if (!has("date")) added.push(`Date: ${formatDate(new Date())}\r\n`);
  // the envelope sender passed parseMailbox: it has an "@" and a domain
  const domain = options.envelopeFrom.slice(options.envelopeFrom.lastIndexOf("@") + 1);
  if (!has("message-id")) added.push(`Message-ID: ${generateMessageId(domain)}\r\n`);
  parts.push(Buffer.from(`${added.join("")}\r\n`, "utf8"));
  return Buffer.concat(parts);
}

function fromHeader(address: string, fullName: string | undefined): string {
  if (fullName === undefined || fullName.trim() === "") return foldHeader("From", [address]);
  const form = phraseForm(fullName.trim());
  const name: HeaderPart = form.kind === "encoded" ? { encode: fullName.trim() } : form.text;
  return foldHeader("From", [name, ` <${address}>`]);
}

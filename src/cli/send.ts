// `smtpkit send`: one message from the command line.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { checkSendInput } from "../client/send.js";
import { SMTPError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import type { Attachment, MailOptions } from "../mime/types.js";
import type { Content, SendResult } from "../types.js";
import { ACCOUNT_FLAGS, ACCOUNT_HELP, applyAccount } from "./account.js";
import {
  CliError,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionOptions,
  forTheCommandLine,
  hintOnSilence,
  list,
  parse,
  readInputFile,
  reportFailure,
  required,
  str,
  Transcript,
  type Values,
} from "./common.js";
import {
  CREDENTIAL_FLAGS,
  CREDENTIAL_HELP,
  credentialFlags,
  credentials,
  NO_PASSWORD_FLAG,
  refusePasswordFlag,
} from "./credentials.js";
import { EXIT } from "./exit-codes.js";
import { sendMailFor } from "./session.js";

/** `smtpkit send --help`. */
export const SEND_HELP = `smtpkit send: send one message

  smtpkit send --host H [--port P] [--security MODE] [--tls-ca FILE] [--insecure] [--timeout MS]
               [--client-name NAME] [--lmtp]
               [--user U [--password-env VAR | --password-file F | --password-command CMD | --oauth2-...]]
               [--auth MECH] --from A --to B [--to C] [--cc D] [--bcc E] --subject S
               [--body TEXT | --body-file F | (stdin)] [--verbose] [--json]
               [--account NAME] [--config FILE] [--html-file F]
               [--attach FILE[;type=T][;name=N]]... [--inline FILE;cid=ID]...
               [--header "Name: value"]... [--reply-to A]...
               [--dkim-domain D --dkim-selector S --dkim-key FILE]

${CONNECTION_HELP}
${CREDENTIAL_HELP}
  --from A               sender, also the envelope sender (MAIL FROM)
  --to, --cc, --bcc      recipients; repeat for more (Bcc appears in no header)
  --subject S            the subject (may be empty: --subject "")
  --body TEXT | --body-file F    the body (plain text, or a ready MIME message); else read from stdin
                         (with --html-file, --attach or --inline: the text/plain part, stdin not read)
  --html-file F          an HTML part (multipart/alternative with the text)
  --attach FILE[;type=T][;name=N]   attach a file (read while sending); repeat for more
  --inline FILE;cid=ID   an inline part the HTML shows as <img src="cid:ID">
  --header "Name: value" an extra header field; repeat for more
  --reply-to A           a Reply-To address; repeat for more
  --dkim-domain D --dkim-selector S --dkim-key FILE
                         sign with DKIM (RSA or Ed25519 PEM key; relaxed/relaxed)
${ACCOUNT_HELP}

${NO_PASSWORD_FLAG}`;

const SEND_FLAGS = {
  ...CONNECTION_FLAGS,
  ...CREDENTIAL_FLAGS,
  from: { type: "string" },
  to: { type: "string", multiple: true },
  cc: { type: "string", multiple: true },
  bcc: { type: "string", multiple: true },
  subject: { type: "string" },
  body: { type: "string" },
  "body-file": { type: "string" },
  "html-file": { type: "string" },
  attach: { type: "string", multiple: true },
  inline: { type: "string", multiple: true },
  header: { type: "string", multiple: true },
  "reply-to": { type: "string", multiple: true },
  "dkim-domain": { type: "string" },
  "dkim-selector": { type: "string" },
  "dkim-key": { type: "string" },
  ...ACCOUNT_FLAGS,
} as const;

/** Runs `smtpkit send`; resolves with the exit status. */
export async function runSend(argv: string[]): Promise<number> {
  refusePasswordFlag(argv);
  const values = parse(argv, SEND_FLAGS);
  if (values.help === true) {
    process.stdout.write(`${SEND_HELP}\n`);
    return EXIT.OK;
  }
  const json = values.json === true;
  let transcript: Transcript | undefined;
  let body: { content: Content; close(): Promise<void> } | undefined;
  try {
    const account = applyAccount(values); // --account/--config fill the flags not given
    const options = connectionOptions(values, process.stderr);
    const mail = mailOf(values);
    const composed = composedMailOptions(values);
    const login = credentialFlags(values, account, options.host);
    if (str(values, "body") !== undefined && str(values, "body-file") !== undefined) {
      throw new CliError(EXIT.USAGE, "give --body or --body-file, not both");
    }
    // a --body-file that cannot be read is exit 66 before the password prompt; stdin is read after it
    if (str(values, "body-file") !== undefined) body = await openBody(values);
    transcript = new Transcript(values.verbose === true ? process.stderr : undefined);
    const auth = login === undefined ? undefined : await credentials(values, login, transcript);
    // with parts (--html-file, --attach, --inline) the text part is optional: stdin is read only for --body-less plain mail
    if (!composed.hasParts || values.body !== undefined) body ??= await openBody(values);
    const cancelHint = hintOnSilence(transcript, options, process.stderr);
    try {
      const result = await sendMailFor(account)({
        ...options,
        auth,
        logger: transcript.logger,
        ...mail,
        ...composed.mail,
        ...(composed.hasParts ? { text: body?.content } : { content: body?.content }),
      });
      printResult(result, json);
      return EXIT.OK;
    } finally {
      cancelHint();
    }
  } catch (thrown) {
    // a --password-command that failed while the library asked it for a token is reported as itself
    let error = thrown instanceof SMTPError && thrown.cause instanceof CliError ? thrown.cause : thrown;
    // an --attach/--inline file that cannot be opened is an unreadable input file, like --body-file
    if (error instanceof SMTPError && /^attachments\[\d+\]\.path/.test(error.message))
      error = new CliError(EXIT.NO_INPUT, error.message);
    return reportFailure("send", error, transcript, json);
  } finally {
    await body?.close();
  }
}

/**
 * The message flags, checked before anything else happens (no password prompt, no connection): each
 * address is exactly one mailbox, and every rule send() applies without a server (header characters,
 * a Bcc header...) holds. Errors name the flag.
 */
function mailOf(values: Values): {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
} {
  const from = required(values, "from");
  const subject = str(values, "subject");
  if (subject === undefined) {
    throw new CliError(EXIT.USAGE, '--subject is required (see --help; --subject "" sends an empty one)');
  }
  const lists = { to: [] as string[], cc: [] as string[], bcc: [] as string[] };
  for (const flag of ["to", "cc", "bcc"] as const) {
    lists[flag] = list(values, flag);
  }
  if (lists.to.length + lists.cc.length + lists.bcc.length === 0)
    throw new CliError(EXIT.USAGE, "give at least one --to, --cc or --bcc");
  for (const [flag, entries] of [["from", [from]], ...Object.entries(lists)] as [string, string[]][]) {
    for (const entry of entries) {
      try {
        parseMailbox(entry);
      } catch (error) {
        throw flagError(`--${flag}`, error);
      }
    }
  }
  try {
    checkSendInput({ from, ...lists, subject, options: {} });
  } catch (error) {
    throw flagError(undefined, error);
  }
  return { from, ...lists, subject };
}

/** An input error as a usage error that names the flag. */
function flagError(flag: string | undefined, error: unknown): unknown {
  if (!(error instanceof SMTPError) || error.code !== "EINPUT") return error;
  const message = forTheCommandLine(error.message)
    .replace(/^(From|To|Cc): /, (_, field: string) => `--${field.toLowerCase()}: `)
    .replace(/\bthe value of header Subject\b/, "--subject");
  return new CliError(EXIT.USAGE, flag === undefined ? message : `${flag}: ${message}`);
}

/** The body: --body, --body-file (streamed; checked readable before connecting) or all of stdin. */
async function openBody(values: Values): Promise<{ content: Content; close(): Promise<void> }> {
  const text = str(values, "body");
  if (text !== undefined) return { content: text, close: async () => undefined };
  const file = str(values, "body-file");
  if (file !== undefined) {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, "r");
    } catch (error) {
      throw new CliError(
        EXIT.NO_INPUT,
        `cannot read --body-file ${file}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
    const stat = await handle.stat();
    if (!stat.isFile() && !stat.isFIFO()) {
      await handle.close();
      const what = stat.isDirectory() ? "it is a directory" : "it is not a regular file";
      throw new CliError(EXIT.NO_INPUT, `cannot read --body-file ${file}: ${what}`);
    }
    const stream = handle.createReadStream({ autoClose: false });
    return { content: stream, close: () => handle.close().catch(() => undefined) };
  }
  // stdin is read whole before connecting, so the server is not kept waiting on a human typing
  if (process.stdin.isTTY) process.stderr.write("(reading the body from the terminal; end it with Ctrl-D)\n");
  return { content: await readAll(process.stdin), close: async () => undefined };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

function printResult(result: SendResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const reply = `${result.reply.code}${result.reply.enhancedCode ? ` ${result.reply.enhancedCode}` : ""} ${result.reply.text}`;
  process.stdout.write(
    `sent ${result.messageId} to ${result.accepted.join(", ")}: ${reply.replace(/\n/g, " / ")}\n`,
  );
  for (const { recipient, reply: refused } of result.rejected) {
    process.stdout.write(
      `not accepted: ${recipient}: ${refused.code} ${refused.text.replace(/\n/g, " / ")}\n`,
    );
  }
}

/**
 * The composed-mail flags (API.md §3.1) as MailOptions: --html-file (read now), --attach and --inline (files
 * opened and checked by composeMail before connecting, read while sending), --header, --reply-to and DKIM.
 * `hasParts`: the message is built from parts (the body, if any, becomes the text/plain part).
 */
function composedMailOptions(values: Values): {
  mail: Partial<MailOptions>;
  hasParts: boolean;
} {
  const mail: Partial<MailOptions> = {};
  const htmlFile = str(values, "html-file");
  if (htmlFile !== undefined) mail.html = readInputFile(htmlFile, "--html-file");
  const attachments: Attachment[] = [];
  const fileWithOptions = (
    spec: string,
    flag: string,
    keys: readonly string[],
  ): [string, Map<string, string>] => {
    // FILE, then ;key=value options (a ";" that does not start a known option stays in the file name)
    const pattern = new RegExp(`^(.*?)((?:;(?:${keys.join("|")})=[^;]*)*)$`);
    const [, path = "", rest = ""] = pattern.exec(spec) ?? [];
    if (path === "") throw new CliError(EXIT.USAGE, `${flag} ${spec}: no file name`);
    const options = new Map(
      rest
        .split(";")
        .slice(1)
        .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as [string, string]),
    );
    return [path, options];
  };
  for (const spec of list(values, "attach")) {
    const [path, options] = fileWithOptions(spec, "--attach", ["type", "name"]);
    attachments.push({ path, contentType: options.get("type"), filename: options.get("name") });
  }
  for (const spec of list(values, "inline")) {
    const [path, options] = fileWithOptions(spec, "--inline", ["cid"]);
    const cid = options.get("cid");
    if (cid === undefined || cid === "") throw new CliError(EXIT.USAGE, `--inline ${spec}: give ;cid=ID`);
    attachments.push({ path, cid });
  }
  if (attachments.length > 0) mail.attachments = attachments;
  const headers: Record<string, string[]> = {};
  for (const field of list(values, "header")) {
    const colon = field.indexOf(":");
    if (colon <= 0)
      throw new CliError(EXIT.USAGE, `--header ${JSON.stringify(field)}: expected "Name: value"`);
    const name = field.slice(0, colon).trim();
    const existing = Object.keys(headers).find((n) => n.toLowerCase() === name.toLowerCase()) ?? name;
    headers[existing] = [...(headers[existing] ?? []), field.slice(colon + 1).trim()];
  }
  if (Object.keys(headers).length > 0) mail.headers = headers;
  const replyTo = list(values, "reply-to");
  if (replyTo.length > 0) mail.replyTo = replyTo;
  const dkim = ["dkim-domain", "dkim-selector", "dkim-key"].map((flag) => str(values, flag));
  if (dkim.some((v) => v !== undefined)) {
    const [domainName, keySelector, keyFile] = dkim;
    if (domainName === undefined || keySelector === undefined || keyFile === undefined) {
      throw new CliError(EXIT.USAGE, "--dkim-domain, --dkim-selector and --dkim-key go together");
    }
    mail.dkim = {
      domainName,
      keySelector,
      privateKey: readInputFile(keyFile, "--dkim-key").toString("utf8"),
    };
  }
  return { mail, hasParts: mail.html !== undefined || attachments.length > 0 };
}

// `smtpkit send`: one message from the command line.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { ConnectOptions } from "../api/connect.js";
import { checkSendInput } from "../client/send.js";
import { SMTP } from "../client/smtp.js";
import { SMTPError } from "../errors.js";
import { parseMailbox } from "../message/address.js";
import type { Attachment, MailOptions } from "../mime/types.js";
import type { Content, SendResult } from "../types.js";
import {
  ACCOUNT_FLAGS,
  ACCOUNT_HELP,
  type AccountUse,
  applyAccount,
  passwordFromSources,
} from "./account.js";
import {
  AUTH_BY_NAME,
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
import { EXIT } from "./exit-codes.js";
import { hasOAuth2Flags, OAUTH2_FLAGS, OAUTH2_HELP, oauth2FromFlags } from "./oauth2-flags.js";
import { passwordFromCommand } from "./secrets.js";
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
  --user U               authenticate as U (after TLS; never in clear)
  --password-env VAR     the password is in environment variable VAR
  --password-file F      the password is the first line of file F
  --password-command CMD the password is the first line CMD prints (run by /bin/sh, as msmtp's
                         passwordeval); with --auth xoauth2|oauthbearer it prints an access token, and it
                         is run again when the server refuses the token
                         (none of these: a prompt without echo when stdin is a terminal)
${OAUTH2_HELP}
  --auth MECH            ${[...AUTH_BY_NAME.keys()].join(" | ").toLowerCase()} (default: the strongest offered)
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

There is no --password: a password in the argument list is visible to every user of the machine (ps).`;

const SEND_FLAGS = {
  ...CONNECTION_FLAGS,
  user: { type: "string" },
  "password-env": { type: "string" },
  "password-file": { type: "string" },
  ...OAUTH2_FLAGS,
  auth: { type: "string" },
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
    const user = str(values, "user");
    const authType = mechanismOf(str(values, "auth"));
    const secretSources = ["password-env", "password-file", "password-command"].filter(
      (f) => values[f] !== undefined,
    );
    if (hasOAuth2Flags(values)) secretSources.push("--oauth2-*");
    if (user === undefined && (secretSources.length > 0 || authType !== undefined)) {
      throw new CliError(
        EXIT.USAGE,
        "--password-env, --password-file, --password-command, --oauth2-* and --auth need --user",
      );
    }
    if (secretSources.length > 1)
      throw new CliError(
        EXIT.USAGE,
        "give one of --password-env, --password-file, --password-command or --oauth2-*",
      );
    if (str(values, "body") !== undefined && str(values, "body-file") !== undefined) {
      throw new CliError(EXIT.USAGE, "give --body or --body-file, not both");
    }
    // a --body-file that cannot be read is exit 66 before the password prompt; stdin is read after it
    if (str(values, "body-file") !== undefined) body = await openBody(values);
    transcript = new Transcript(values.verbose === true ? process.stderr : undefined);
    const auth =
      user === undefined
        ? undefined
        : await credentials(
            values,
            { username: user, type: authType, account, host: options.host },
            transcript,
          );
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

/** `--password` (in any spelling parseArgs would take) is refused before anything else is looked at. */
export function refusePasswordFlag(argv: string[]): void {
  for (const arg of argv) {
    if (arg === "--") return;
    if (
      arg === "--password" ||
      arg.startsWith("--password=") ||
      arg === "--pass" ||
      arg.startsWith("--pass=")
    ) {
      throw new CliError(
        EXIT.USAGE,
        "--password is refused: a password in the argument list is visible to every user of this machine " +
          "(ps, /proc/PID/cmdline) and stays in shell history; use --password-env VAR or --password-file FILE, " +
          "or leave both out to be prompted",
      );
    }
  }
}

/** Who authenticates, and where the secret may come from besides the flags. */
interface Login {
  username: string;
  type: number | undefined;
  account: AccountUse | undefined;
  host: string;
}

/**
 * The credentials the flags (or the account) describe; every secret is also given to the transcript to
 * scrub. With --auth xoauth2|oauthbearer a password command (--password-command, or the account's
 * passwordeval) prints an access token, and is run again when the server refuses one.
 */
async function credentials(
  values: Record<string, unknown>,
  { username, type, account, host }: Login,
  transcript: Transcript,
): Promise<ConnectOptions["auth"]> {
  const tokenMechanism = type === SMTP.AUTH_XOAUTH2 || type === SMTP.AUTH_OAUTHBEARER;
  if (hasOAuth2Flags(values as Parameters<typeof hasOAuth2Flags>[0])) {
    if (type !== undefined && !tokenMechanism)
      throw new CliError(
        EXIT.USAGE,
        "--oauth2-* sends a token: use --auth xoauth2 or oauthbearer, or leave --auth out",
      );
    const oauth2 = oauth2FromFlags(values as Parameters<typeof oauth2FromFlags>[0], () =>
      process.stderr.write(
        "smtpkit: the token endpoint rotated the refresh token; the one you gave may stop working " +
          "(the new one is not printed: sign in again when it does)\n",
      ),
    );
    transcript.addSecret(oauth2.clientSecret);
    transcript.addSecret(oauth2.refreshToken);
    const onToken = oauth2.onToken;
    oauth2.onToken = (token) => {
      transcript.addSecret(token.accessToken);
      transcript.addSecret(token.refreshToken);
      onToken?.(token);
    };
    return { username, type, oauth2 };
  }
  const tokenCommand = tokenMechanism ? tokenCommandOf(values, account) : undefined;
  if (tokenCommand !== undefined) {
    // called when a token is needed, and again when the server refuses one (the command may refresh it)
    const accessToken = async (): Promise<string> => {
      const token = await passwordFromCommand(tokenCommand.command, tokenCommand.source);
      transcript.addSecret(token);
      return token;
    };
    return { username, type, accessToken };
  }
  const password =
    (await passwordFromSources(
      values as Parameters<typeof passwordFromSources>[0],
      account,
      username,
      host,
    )) ?? (await readPassword(values));
  transcript.addSecret(password);
  return { username, password, type };
}

/** The command that prints an access token: --password-command, else the account's passwordeval. */
function tokenCommandOf(
  values: Record<string, unknown>,
  use: AccountUse | undefined,
): { command: string; source: string } | undefined {
  const flag = values["password-command"];
  if (typeof flag === "string") return { command: flag, source: "--password-command" };
  const evaluated = use?.account.settings.passwordeval;
  if (evaluated === undefined || use?.account.settings.password !== undefined) return undefined;
  return { command: evaluated.value, source: `passwordeval (${use?.file}:${evaluated.line})` };
}

export function mechanismOf(name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  const type = AUTH_BY_NAME.get(name.toUpperCase());
  if (type === undefined) {
    throw new CliError(
      EXIT.USAGE,
      `--auth ${name}: unknown mechanism (${[...AUTH_BY_NAME.keys()].join(", ")})`,
    );
  }
  return type;
}

export async function readPassword(values: Record<string, unknown>): Promise<string> {
  const envName = typeof values["password-env"] === "string" ? values["password-env"] : undefined;
  const file = typeof values["password-file"] === "string" ? values["password-file"] : undefined;
  if (envName !== undefined && file !== undefined) {
    throw new CliError(EXIT.USAGE, "give --password-env or --password-file, not both");
  }
  if (envName !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) {
      // probably the password itself: never echo it
      throw new CliError(
        EXIT.USAGE,
        "--password-env takes the name of an environment variable, and the value given is not an environment " +
          "variable name (it is not shown, in case it is the password)",
      );
    }
    const value = process.env[envName];
    if (value === undefined || value === "") {
      throw new CliError(EXIT.CONFIG, `--password-env ${envName}: the environment variable is not set`);
    }
    return value;
  }
  if (file !== undefined) {
    // the first line: files written with `echo` end in a newline that is not part of the password
    const text = readInputFile(file, "--password-file").toString("utf8");
    return text.split(/\r?\n/, 1)[0] ?? "";
  }
  if (!process.stdin.isTTY) {
    throw new CliError(
      EXIT.USAGE,
      "--user needs a password: use --password-env VAR or --password-file FILE (stdin is not a terminal to prompt on)",
    );
  }
  return promptHidden("Password: ");
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    const done = (): void => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          done();
          resolve(chars.join(""));
          return;
        }
        if (ch === "\u0003") {
          done();
          reject(new CliError(130, "cancelled")); // 128 + SIGINT, as a shell reports Ctrl-C
          return;
        }
        if (ch === "\u007f" || ch === "\b") chars = chars.slice(0, -1);
        else chars.push(ch);
      }
    };
    stdin.on("data", onData);
  });
}

/** The body: --body, --body-file (streamed; checked readable before connecting) or all of stdin. */
async function openBody(
  values: Record<string, unknown>,
): Promise<{ content: Content; close(): Promise<void> }> {
  if (typeof values.body === "string") return { content: values.body, close: async () => undefined };
  const file = values["body-file"];
  if (typeof file === "string") {
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
function composedMailOptions(values: Parameters<typeof list>[0]): {
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

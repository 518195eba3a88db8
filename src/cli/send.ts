// `smtpkit send`: one message from the command line.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { sendMail } from "../api/send-mail.js";
import type { Content, SendResult } from "../types.js";
import {
  AUTH_BY_NAME,
  CliError,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionOptions,
  describeFailure,
  list,
  parse,
  readInputFile,
  required,
  str,
  Transcript,
} from "./common.js";
import { EXIT } from "./exit-codes.js";

/** `smtpkit send --help`. */
export const SEND_HELP = `smtpkit send: send one message

  smtpkit send --host H [--port P] [--security MODE] [--user U [--password-env VAR | --password-file F]]
               [--auth MECH] --from A --to B [--to C] [--cc D] [--bcc E] --subject S
               [--body TEXT | --body-file F | (stdin)]

${CONNECTION_HELP}
  --user U               authenticate as U (after TLS; never in clear)
  --password-env VAR     the password is in environment variable VAR
  --password-file F      the password is the first line of file F
                         (neither: a prompt without echo when stdin is a terminal)
  --auth MECH            ${[...AUTH_BY_NAME.keys()].join(" | ").toLowerCase()} (default: the strongest offered)
  --from A               sender, also the envelope sender (MAIL FROM)
  --to, --cc, --bcc      recipients; repeat for more (Bcc appears in no header)
  --subject S
  --body TEXT | --body-file F    the body (plain text, or a ready MIME message); else read from stdin

There is no --password: a password in the argument list is visible to every user of the machine (ps).`;

const SEND_FLAGS = {
  ...CONNECTION_FLAGS,
  user: { type: "string" },
  "password-env": { type: "string" },
  "password-file": { type: "string" },
  auth: { type: "string" },
  from: { type: "string" },
  to: { type: "string", multiple: true },
  cc: { type: "string", multiple: true },
  bcc: { type: "string", multiple: true },
  subject: { type: "string" },
  body: { type: "string" },
  "body-file": { type: "string" },
} as const;

/** Runs `smtpkit send`; resolves with the exit status. */
export async function runSend(argv: string[]): Promise<number> {
  refusePasswordFlag(argv);
  const values = parse(argv, SEND_FLAGS);
  if (values.help === true) {
    process.stdout.write(`${SEND_HELP}\n`);
    return EXIT.OK;
  }
  const options = connectionOptions(values, process.stderr);
  const from = required(values, "from");
  const subject = required(values, "subject");
  const to = list(values, "to");
  const cc = list(values, "cc");
  const bcc = list(values, "bcc");
  if (to.length + cc.length + bcc.length === 0)
    throw new CliError(EXIT.USAGE, "give at least one --to, --cc or --bcc");
  const user = str(values, "user");
  const authType = mechanismOf(str(values, "auth"));
  if (user === undefined && (values["password-env"] || values["password-file"] || authType !== undefined)) {
    throw new CliError(EXIT.USAGE, "--password-env, --password-file and --auth need --user");
  }
  if (str(values, "body") !== undefined && str(values, "body-file") !== undefined) {
    throw new CliError(EXIT.USAGE, "give --body or --body-file, not both");
  }
  const password = user === undefined ? undefined : await readPassword(values);
  const transcript = new Transcript(values.verbose === true ? process.stderr : undefined, [password]);
  const body = await openBody(values);
  try {
    const result = await sendMail({
      ...options,
      auth:
        user === undefined || password === undefined
          ? undefined
          : { username: user, password, type: authType },
      logger: transcript.logger,
      from,
      to,
      cc,
      bcc,
      subject,
      content: body.content,
    });
    printResult(result, values.json === true);
    return EXIT.OK;
  } catch (error) {
    const { line, exitCode } = describeFailure("send", error, transcript);
    process.stderr.write(`${line}\n`);
    return exitCode;
  } finally {
    await body.close();
  }
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

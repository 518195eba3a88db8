// The credential flags of the commands that log in (send, outbox work): --user with one secret source
// (--password-env, --password-file, --password-command, --oauth2-*, or the account's password, passwordeval
// or keyring), --auth, and the refusal of --password. One place, so that every command reads secrets alike.
import type { ConnectOptions } from "../api/connect.js";
import { SMTP } from "../client/smtp.js";
import { type AccountUse, passwordFromSources } from "./account.js";
import { AUTH_BY_NAME, CliError, readInputFile, str, type Transcript, type Values } from "./common.js";
import { EXIT } from "./exit-codes.js";
import { hasOAuth2Flags, OAUTH2_FLAGS, OAUTH2_HELP, oauth2FromFlags } from "./oauth2-flags.js";
import { passwordFromCommand } from "./secrets.js";

/** parseArgs options for the credential flags (--password-command comes with ACCOUNT_FLAGS). */
export const CREDENTIAL_FLAGS = {
  user: { type: "string" },
  "password-env": { type: "string" },
  "password-file": { type: "string" },
  ...OAUTH2_FLAGS,
  auth: { type: "string" },
} as const;

/** Help text for CREDENTIAL_FLAGS and --password-command. */
export const CREDENTIAL_HELP = `  --user U               authenticate as U (after TLS; never in clear)
  --password-env VAR     the password is in environment variable VAR
  --password-file F      the password is the first line of file F
  --password-command CMD the password is the first line CMD prints (run by /bin/sh, as msmtp's
                         passwordeval); with --auth xoauth2|oauthbearer it prints an access token, and it
                         is run again when the server refuses the token
                         (none of these: the account's password, or a prompt without echo on a terminal)
${OAUTH2_HELP}
  --auth MECH            ${[...AUTH_BY_NAME.keys()].join(" | ").toLowerCase()} (default: the strongest offered)`;

/** The last line of the help of every command with CREDENTIAL_FLAGS. */
export const NO_PASSWORD_FLAG =
  "There is no --password: a password in the argument list is visible to every user of the machine (ps).";

/**
 * Who logs in (--user, --auth, and where else the secret may come from), or undefined without --user;
 * after checking that at most one secret source is given, and only with --user.
 */
export function credentialFlags(
  values: Values,
  account: AccountUse | undefined,
  host: string,
): Login | undefined {
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
  return user === undefined ? undefined : { username: user, type: authType, account, host };
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
export interface Login {
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
export async function credentials(
  values: Values,
  { username, type, account, host }: Login,
  transcript: Transcript,
): Promise<ConnectOptions["auth"]> {
  const tokenMechanism = type === SMTP.AUTH_XOAUTH2 || type === SMTP.AUTH_OAUTHBEARER;
  if (hasOAuth2Flags(values)) {
    if (type !== undefined && !tokenMechanism)
      throw new CliError(
        EXIT.USAGE,
        "--oauth2-* sends a token: use --auth xoauth2 or oauthbearer, or leave --auth out",
      );
    const oauth2 = oauth2FromFlags(values, () =>
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
    (await passwordFromSources(values, account, username, host)) ?? (await readPassword(values));
  transcript.addSecret(password);
  return { username, password, type };
}

/** The command that prints an access token: --password-command, else the account's passwordeval. */
function tokenCommandOf(
  values: Values,
  use: AccountUse | undefined,
): { command: string; source: string } | undefined {
  const flag = str(values, "password-command");
  if (flag !== undefined) return { command: flag, source: "--password-command" };
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

async function readPassword(values: Values): Promise<string> {
  const envName = str(values, "password-env");
  const file = str(values, "password-file");
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

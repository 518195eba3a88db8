// `--account NAME` / `--config FILE`: loads an msmtprc-syntax file, checks it, and turns the chosen
// account into the same flags a user could have typed (command-line flags win), plus what flags cannot
// carry: where the password comes from, a pinned certificate, DSN and From-header settings.
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { DSNNotify, SendOptions } from "../types.js";
import { CliError, str, type Values } from "./common.js";
import { type Account, ConfigError, parseConfig, selectAccount } from "./config.js";
import { EXIT } from "./exit-codes.js";
import { passwordFromCommand, passwordFromKeyring } from "./secrets.js";

/** The flags that choose an account and a password command. */
export const ACCOUNT_FLAGS = {
  account: { type: "string" },
  config: { type: "string" },
  "password-command": { type: "string" },
} as const;

/** Help text for ACCOUNT_FLAGS. */
export const ACCOUNT_HELP = `  --account NAME         use this account of the configuration file (default: "account default : ...")
  --config FILE          msmtprc-syntax file (default $XDG_CONFIG_HOME/smtpkit/config, ~/.config/smtpkit/config);
                         an existing ~/.msmtprc works as it is; command-line flags override the account`;

/** Help text for --password-command where no other text describes it (sendmail, probe). */
export const PASSWORD_COMMAND_HELP = `  --password-command CMD the password is the first line of CMD's output (run by /bin/sh), e.g. "pass show smtp"`;

/** The account in use and what it says beyond connection flags. */
export interface AccountUse {
  file: string;
  account: Account;
  /** tls_fingerprint: the certificate's SHA-256 (64 hex digits) or SHA-1 (40), upper case, no colons. */
  fingerprint: string | undefined;
  dsn: SendOptions["dsn"];
  setFromHeader: "auto" | "on" | "off";
}

/** Where the configuration is looked for when --config is not given. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  return xdg ? join(xdg, "smtpkit", "config") : join(env.HOME ?? homedir(), ".config", "smtpkit", "config");
}

/**
 * When --account or --config is given (or `always`), loads the account and fills every flag the
 * command line left out from it, in `values`. Undefined when no configuration is used. Configuration
 * errors are CliError 78 naming the file, the line and the key.
 */
export function applyAccount(values: Values, always = false): AccountUse | undefined {
  const given = str(values, "config");
  const name = str(values, "account");
  if (given === undefined && name === undefined && !always) return undefined;
  const file = given ?? defaultConfigPath();
  const config = (() => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliError(
        EXIT.CONFIG,
        `cannot read the configuration ${file} (${code})${given === undefined ? ": create it (msmtprc syntax) or pass --config ~/.msmtprc" : ""}`,
      );
    }
    try {
      const parsed = parseConfig(text, file, process.env.HOME ?? homedir());
      if (parsed.hasPassword) refuseReadableByOthers(file);
      return { parsed, account: selectAccount(parsed, name) };
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(EXIT.CONFIG, error.message);
      throw error;
    }
  })();
  const { account } = config;
  const s = account.settings;
  const where = (key: keyof Account["settings"]): string => `${file}:${s[key]?.line ?? account.line}`;
  const fill = (flag: string, value: string | boolean | undefined): void => {
    if (value !== undefined && values[flag] === undefined) values[flag] = value;
  };
  if (s.host === undefined)
    throw new CliError(EXIT.CONFIG, `${file}:${account.line}: account "${account.name}" has no "host"`);
  const tlsOn = s.tls?.value;
  const starttls = s.tls_starttls?.value !== "off";
  fill("host", s.host.value);
  // msmtp's port default: 25, or 465 for TLS without STARTTLS
  fill("port", s.port?.value ?? (tlsOn === "on" && !starttls ? "465" : "25"));
  fill(
    "security",
    tlsOn === undefined ? undefined : tlsOn === "off" ? "none" : starttls ? "starttls" : "tls",
  );
  const trust = s.tls_trust_file?.value;
  if (trust !== undefined && trust !== "" && trust !== "system") fill("tls-ca", trust);
  if (s.tls_certcheck?.value === "off" && s.tls_fingerprint === undefined) fill("insecure", true);
  if (s.timeout !== undefined && s.timeout.value !== "off")
    fill("timeout", String(Number(s.timeout.value) * 1000));
  fill("client-name", s.domain?.value);
  fill("from", s.from?.value);
  const auth = s.auth?.value;
  if (auth !== "off") {
    fill("user", s.user?.value);
    if (auth !== undefined && auth !== "on") fill("auth", auth);
  }
  if (auth !== undefined && auth !== "off" && s.user === undefined && values.user === undefined)
    throw new CliError(EXIT.CONFIG, `${where("auth")}: key "auth": authentication needs a "user"`);
  if (tlsOn === "off" && auth !== undefined && auth !== "off")
    throw new CliError(
      EXIT.CONFIG,
      `${where("tls")}: key "tls": off, but the account authenticates: smtpkit never sends credentials in clear; set "tls on"`,
    );
  return {
    file,
    account,
    fingerprint: s.tls_fingerprint?.value || undefined,
    dsn: dsnOf(s.dsn_notify?.value, s.dsn_return?.value),
    setFromHeader: (s.set_from_header?.value as AccountUse["setFromHeader"] | undefined) ?? "auto",
  };
}

/** ssh's rule for keys: a file holding a password must not be readable by anyone else. */
function refuseReadableByOthers(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      file,
      0,
      `holds a password but its mode is ${mode.toString(8).padStart(4, "0")} (others may read it): run chmod 600 ${file}`,
    );
  }
}

function dsnOf(notify: string | undefined, ret: string | undefined): SendOptions["dsn"] {
  const dsn: NonNullable<SendOptions["dsn"]> = {};
  if (notify !== undefined && notify !== "off")
    dsn.notify = notify.split(",").map((n) => n.toUpperCase() as DSNNotify);
  if (ret === "headers") dsn.ret = "HDRS";
  else if (ret === "full") dsn.ret = "FULL";
  return dsn.notify === undefined && dsn.ret === undefined ? undefined : dsn;
}

/**
 * The password from --password-command or the account (password, passwordeval, then the keyring with
 * msmtp's attributes), or undefined when none of them has one (the caller then takes --password-env,
 * --password-file or the prompt).
 */
export async function passwordFromSources(
  values: Values,
  use: AccountUse | undefined,
  user: string,
  host: string,
): Promise<string | undefined> {
  const command = str(values, "password-command");
  if (command !== undefined) {
    if (values["password-env"] !== undefined || values["password-file"] !== undefined)
      throw new CliError(EXIT.USAGE, "give one of --password-command, --password-env, --password-file");
    return passwordFromCommand(command, "--password-command");
  }
  if (values["password-env"] !== undefined || values["password-file"] !== undefined) return undefined;
  const s = use?.account.settings;
  if (s?.password !== undefined) return s.password.value;
  if (s?.passwordeval !== undefined)
    return passwordFromCommand(s.passwordeval.value, `passwordeval (${use!.file}:${s.passwordeval.line})`);
  if (use !== undefined) return passwordFromKeyring(host, user);
  return undefined;
}

// The msmtprc syntax (msmtp(1), "CONFIGURATION FILES"), parsed without touching the file system: text in,
// accounts out, each setting with the line it came from so that every error can name file, line and key.
//
// Settings before the first `account` or `defaults` line make an account called "default" (as msmtp).
// `defaults` sets values for the accounts defined after it; `account NAME [: PARENT[,PARENT...]]` starts
// from the current defaults and then takes every setting of each parent in order; `account default : NAME`
// names the default account. Arguments may be double-quoted (`\"` and `\\` inside); a key that accepts
// `on` takes an empty argument as `on`; `~` at the start of a file name is $HOME.

/** The keys smtpkit understands, with how their argument is checked. */
const KEYS = {
  host: "text",
  port: "port",
  from: "text",
  user: "any",
  password: "any",
  passwordeval: "any",
  auth: "auth",
  tls: "onoff",
  tls_starttls: "onoff",
  tls_trust_file: "file",
  tls_fingerprint: "fingerprint",
  tls_certcheck: "onoff",
  domain: "text",
  timeout: "timeout",
  dsn_notify: "dsn_notify",
  dsn_return: "dsn_return",
  set_from_header: "set_from_header",
  protocol: "protocol",
} as const;

/** A key smtpkit reads. */
export type AccountKey = keyof typeof KEYS;

/**
 * msmtp keys that only concern msmtp's own logging: accepted and ignored so that an existing ~/.msmtprc
 * works unchanged. Every other msmtp key changes what is sent or how, so it is refused by name rather
 * than silently dropped.
 */
const IGNORED_KEYS = new Set(["logfile", "logfile_time_format", "syslog"]);

/** msmtp keys that smtpkit does not implement (refused with that reason, not as "unknown"). */
const UNSUPPORTED_KEYS = new Set([
  "add_missing_date_header",
  "add_missing_from_header",
  "aliases",
  "allow_from_override",
  "auto_from",
  "eval",
  "keepbcc",
  "maildomain",
  "ntlmdomain",
  "proxy_host",
  "proxy_port",
  "remove_bcc_headers",
  "set_date_header",
  "set_msgid_header",
  "socket",
  "source_ip",
  "tls_cert_file",
  "tls_crl_file",
  "tls_host_override",
  "tls_key_file",
  "tls_min_dh_prime_bits",
  "tls_priorities",
  "undisclosed_recipients",
]);

const AUTH_METHODS = [
  "on",
  "off",
  "plain",
  "login",
  "cram-md5",
  "scram-sha-1",
  "scram-sha-256",
  "xoauth2",
  "oauthbearer",
] as const;
const DSN_NOTIFY = ["never", "failure", "delay", "success"] as const;

/** One setting: its value (after unquoting, `~` expanded for files) and where it was written. */
export interface Setting {
  value: string;
  line: number;
}

/** An account: its settings by key (inherited ones keep the line they were written on). */
export interface Account {
  name: string;
  /** The line of its `account` command. */
  line: number;
  settings: Partial<Record<AccountKey, Setting>>;
}

/** A parsed file. */
export interface Config {
  file: string;
  accounts: Map<string, Account>;
  /** The account `account default : NAME` defines (or one literally called "default"), if any. */
  defaultAccount: string | undefined;
  /** True when some `password` line is in the file (the permission check needs it). */
  hasPassword: boolean;
}

/** A configuration error: the file, the line and the key it concerns, and what is wrong. */
export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, what: string) {
    super(line > 0 ? `${file}:${line}: ${what}` : `${file}: ${what}`);
    this.file = file;
    this.line = line;
  }
}

/** Parses msmtprc text. `file` is only used in messages; `home` expands a leading `~` in file names. */
export function parseConfig(text: string, file: string, home: string): Config {
  const accounts = new Map<string, Account>();
  const defaults: Account = { name: "(defaults)", line: 0, settings: {} };
  let current: Account | undefined;
  let hasPassword = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (what: string): never => {
      throw new ConfigError(file, lineNo, what);
    };
    const trimmed = lines[i]!.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const match = /^(\S+)(?:\s+(.*))?$/.exec(trimmed)!;
    const key = match[1]!;
    const arg = unquote(match[2] ?? "", fail);
    if (key === "defaults") {
      if (arg !== "") fail(`"defaults" takes no argument`);
      current = defaults;
    } else if (key === "account") {
      current = defineAccount(arg, lineNo, defaults, accounts, fail);
    } else if (IGNORED_KEYS.has(key)) {
      // msmtp's own logging: nothing to do
    } else if (UNSUPPORTED_KEYS.has(key)) {
      fail(`key "${key}": an msmtp setting smtpkit does not implement; remove the line`);
    } else if (!(key in KEYS)) {
      fail(`key "${key}": unknown key`);
    } else {
      // as msmtp does, settings before the first "account" or "defaults" line make an account "default"
      current ??= defineAccount("default", lineNo, defaults, accounts, fail);
      const known = key as AccountKey;
      const value = checkValue(known, arg, home, fail);
      if (known === "password" && value !== "") hasPassword = true;
      if (value === "" && (known === "user" || known === "password" || known === "passwordeval"))
        delete current.settings[known]; // an empty argument unsets (msmtp(1))
      else current.settings[known] = { value, line: lineNo };
    }
  }
  const named = accounts.get("default");
  return { file, accounts, defaultAccount: named === undefined ? undefined : "default", hasPassword };
}

/** `account NAME [: PARENT[,PARENT...]]`: the current defaults, then each parent's settings in order. */
function defineAccount(
  arg: string,
  lineNo: number,
  defaults: Account,
  accounts: Map<string, Account>,
  fail: (what: string) => never,
): Account {
  const match = /^([^\s:,]+)\s*(?::\s*(.*))?$/.exec(arg);
  if (match === null) return fail(`"account" needs a name, e.g. "account work" or "account default : work"`);
  const name = match[1]!;
  if (accounts.has(name)) fail(`account "${name}" is defined twice`);
  const account: Account = { name, line: lineNo, settings: { ...defaults.settings } };
  const parents = match[2] === undefined ? [] : match[2].split(",").map((p) => p.trim());
  for (const parentName of parents) {
    const parent = accounts.get(parentName);
    if (parent === undefined)
      fail(`account "${name}": "${parentName}" is not an account defined above this line`);
    Object.assign(account.settings, parent!.settings);
  }
  accounts.set(name, account);
  return account;
}

/** The argument, without its double quotes (msmtp's `\"` and `\\` escapes inside them). */
function unquote(arg: string, fail: (what: string) => never): string {
  if (!arg.startsWith('"')) return arg;
  let out = "";
  for (let i = 1; i < arg.length; i++) {
    const c = arg[i]!;
    if (c === "\\" && i + 1 < arg.length) out += arg[++i];
    else if (c === '"') {
      if (arg.slice(i + 1).trim() !== "") fail("text after the closing double quote");
      return out;
    } else out += c;
  }
  return fail("a double quote that is never closed");
}

/** Checks one value; returns it normalised (lower case for keywords, `~` expanded for files). */
function checkValue(key: AccountKey, arg: string, home: string, fail: (what: string) => never): string {
  const bad = (expected: string): never => fail(`key "${key}": "${arg}" is not ${expected}`);
  if (/[\u0000-\u001f\u007f]/.test(arg)) fail(`key "${key}": control characters in the value`);
  switch (KEYS[key]) {
    case "any":
      return arg;
    case "text":
      if (arg === "") bad("a value (it is empty)");
      if (/\s/.test(arg)) bad("a single word");
      return arg;
    case "port": {
      const port = Number(arg);
      if (!/^\d+$/.test(arg) || port < 1 || port > 65535) bad("a TCP port (1-65535)");
      return String(port);
    }
    case "onoff": {
      const v = arg === "" ? "on" : arg.toLowerCase();
      if (v !== "on" && v !== "off") bad("on or off");
      return v;
    }
    case "auth": {
      const v = arg === "" ? "on" : arg.toLowerCase();
      if (!(AUTH_METHODS as readonly string[]).includes(v)) bad(`one of ${AUTH_METHODS.join(", ")}`);
      return v;
    }
    case "file":
      if (arg === "") return "";
      return arg.startsWith("~") ? `${home}${arg.slice(1)}` : arg;
    case "fingerprint": {
      if (arg === "") return "";
      const hex = arg.replace(/:/g, "");
      if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(arg)) bad("a fingerprint in the form 01:23:45:...");
      if (hex.length === 32)
        fail(`key "${key}": an MD5 fingerprint is not accepted (MD5 is broken); use SHA-256`);
      if (hex.length !== 64 && hex.length !== 40) bad("a SHA-256 (32 bytes) or SHA-1 (20 bytes) fingerprint");
      return hex.toUpperCase();
    }
    case "timeout": {
      const v = arg.toLowerCase();
      if (v === "off") return v;
      if (!/^\d+$/.test(v) || Number(v) === 0) bad(`"off" or a number of seconds`);
      return v;
    }
    case "dsn_notify": {
      const v = arg.toLowerCase();
      if (v === "off") return v;
      const parts = v.split(",");
      if (!parts.every((p) => (DSN_NOTIFY as readonly string[]).includes(p)) || parts.length === 0)
        bad(`"off" or a comma-separated list of ${DSN_NOTIFY.join(", ")}`);
      if (parts.includes("never") && parts.length > 1) bad(`"never" alone`);
      return v;
    }
    case "dsn_return": {
      const v = arg.toLowerCase();
      if (v !== "off" && v !== "headers" && v !== "full") bad("off, headers or full");
      return v;
    }
    case "set_from_header": {
      const v = arg === "" ? "on" : arg.toLowerCase();
      if (v !== "auto" && v !== "on" && v !== "off") bad("auto, on or off");
      return v;
    }
    case "protocol":
      if (arg.toLowerCase() !== "smtp") bad("smtp (smtpkit sendmail speaks SMTP submission)");
      return "smtp";
  }
}

/**
 * The account to use: `name` when given, else the default account. ConfigError (line 0) when there is
 * no such account.
 */
export function selectAccount(config: Config, name: string | undefined): Account {
  const wanted = name ?? config.defaultAccount;
  if (wanted === undefined) {
    const names = [...config.accounts.keys()];
    throw new ConfigError(
      config.file,
      0,
      names.length === 0
        ? "no account is defined"
        : `no default account: add "account default : ${names[0]}" or pass --account (accounts: ${names.join(", ")})`,
    );
  }
  const account = config.accounts.get(wanted);
  if (account === undefined)
    throw new ConfigError(
      config.file,
      0,
      `no account "${wanted}" (accounts: ${[...config.accounts.keys()].join(", ") || "none"})`,
    );
  return account;
}

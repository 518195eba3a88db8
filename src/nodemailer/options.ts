// The options of smtpkitTransport(): every ConnectOptions, `pool`, and the common keys of nodemailer's SMTP
// transport translated to ours, so that a pasted nodemailer config works — except where the translation would
// silently weaken security, which is an EINPUT naming the key and what to write instead. Pure: no I/O.
import type { ConnectOptions, Security } from "../api/connect.js";
import {
  AUTH_CRAM_MD5,
  AUTH_DEFAULT,
  AUTH_LOGIN,
  AUTH_OAUTHBEARER,
  AUTH_PLAIN,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_XOAUTH2,
} from "../auth/mechanism.js";
import { inputError, type SMTPError } from "../errors.js";
import type { PoolOptions } from "../pool/types.js";
import type { SMTPTimeouts } from "../types.js";

/** Pool settings (API.md §6): PoolOptions without the connection's; `pool: true` means the defaults. */
export type TransportPoolOptions = Omit<PoolOptions, keyof ConnectOptions>;

/** nodemailer's `auth` object (user/pass), or ours (username/password). */
export interface TransportAuth {
  /** smtpkit's name for the user. */
  username?: string;
  /** smtpkit's name for the password. */
  password?: string;
  /** An `SMTP.AUTH_*` constant (smtpkit), or nodemailer's "login" / "oauth2" type. */
  type?: number | string;
  /** nodemailer's name for the user. */
  user?: string;
  /** nodemailer's name for the password. */
  pass?: string;
  /** nodemailer's SASL mechanism name ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"). */
  method?: string;
  /** nodemailer's OAuth2 access token (`type: "OAuth2"`); sent with XOAUTH2 as nodemailer does. */
  accessToken?: string;
}

/**
 * What smtpkitTransport() accepts. smtpkit's own ConnectOptions keep their meaning and defaults (STARTTLS
 * required, certificates verified, no AUTH in clear); nodemailer's keys are translated (README: "nodemailer").
 */
export interface SmtpkitTransportOptions extends Omit<ConnectOptions, "auth" | "host"> {
  host: string;
  auth?: TransportAuth;
  /** One connection per message (default), or a pool of connections: `true` or pool settings. */
  pool?: boolean | TransportPoolOptions;
  /** nodemailer: `true` is implicit TLS (security "tls"); `false` is STARTTLS, which smtpkit requires. */
  secure?: boolean;
  /** nodemailer: STARTTLS required — smtpkit's default; `false` keeps it required (never weaker). */
  requireTLS?: boolean;
  /** nodemailer: never STARTTLS. Refused unless `security: "none"` says the same on purpose. */
  ignoreTLS?: boolean;
  /** nodemailer: the EHLO name (smtpkit: clientName). */
  name?: string;
  /** nodemailer: ms to establish the TCP connection (smtpkit: connectTimeout). */
  connectionTimeout?: number;
  /** nodemailer: ms to wait for the greeting (smtpkit: timeouts.greeting). */
  greetingTimeout?: number;
  /** nodemailer: ms of inactivity (smtpkit: timeouts.command, a deadline for each command's reply). */
  socketTimeout?: number;
  /** nodemailer, with pool: connections at once (smtpkit: pool.maxConnections). */
  maxConnections?: number;
  /** nodemailer, with pool: messages per connection (smtpkit: pool.maxMessagesPerConnection). */
  maxMessages?: number;
  /** nodemailer, with pool: at most this many messages per rateDelta ms (smtpkit: pool.rateLimit). */
  rateLimit?: number;
  /** nodemailer: the rateLimit window in ms (default 1000). */
  rateDelta?: number;
}

/** The translated options: what connect() gets, and the pool settings when pooled. */
export interface TranslatedOptions {
  connect: ConnectOptions;
  pool: TransportPoolOptions | undefined;
}

/**
 * nodemailer keys that have no safe translation: each would change what is sent or how, silently, if it
 * were ignored. The value says why and what to use instead.
 */
const UNSUPPORTED: Record<string, string> = {
  service: 'give host and port (nodemailer\'s "well-known services" table is not used)',
  url: "give host, port and security as options",
  proxy: "smtpkit does not connect through proxies",
  opportunisticTLS:
    'it continues in clear when STARTTLS fails; use security "starttls-if-offered" if you accept that (open to downgrade)',
  forceAuth: "smtpkit authenticates whenever auth is given",
  authMethod: "use auth.type (an SMTP.AUTH_* constant) or auth.method",
  debug: "use logger: (entry) => ... (a redacted transcript)",
  transactionLog: "use logger: (entry) => ... (a redacted transcript)",
  localAddress: "smtpkit does not bind a local address",
  dnsTimeout: "connectTimeout covers DNS",
  socket: "use smtpkit's SMTP class with your own socket",
  connection: "use smtpkit's SMTP class with your own socket",
};

const MECHANISMS: Record<string, number> = {
  PLAIN: AUTH_PLAIN,
  LOGIN: AUTH_LOGIN,
  "CRAM-MD5": AUTH_CRAM_MD5,
  XOAUTH2: AUTH_XOAUTH2,
  OAUTHBEARER: AUTH_OAUTHBEARER,
  "SCRAM-SHA-1": AUTH_SCRAM_SHA_1,
  "SCRAM-SHA-256": AUTH_SCRAM_SHA_256,
};

function bad(message: string): SMTPError {
  return inputError(message, "CONNECT");
}

/** Translates the options; EINPUT (stage CONNECT) for anything that cannot be honoured safely. */
export function translateOptions(options: SmtpkitTransportOptions): TranslatedOptions {
  if (options === null || typeof options !== "object")
    throw bad("smtpkitTransport() needs an options object");
  for (const key of Object.keys(options)) {
    const why = UNSUPPORTED[key];
    if (why !== undefined && (options as unknown as Record<string, unknown>)[key] !== undefined)
      throw bad(`the nodemailer option "${key}" is not supported: ${why}`);
  }
  const {
    pool,
    secure,
    requireTLS,
    ignoreTLS,
    name,
    connectionTimeout,
    greetingTimeout,
    socketTimeout,
    maxConnections,
    maxMessages,
    rateLimit,
    rateDelta,
    auth,
    logger,
    ...ours
  } = options;
  if (logger !== undefined && typeof logger !== "function")
    throw bad("logger must be a function (entry) => void: nodemailer's logger objects are not used");
  const connect: ConnectOptions = { ...ours, security: securityFor(options) };
  if (logger !== undefined) connect.logger = logger;
  if (name !== undefined) connect.clientName = pick("clientName", options.clientName, "name", name);
  if (connectionTimeout !== undefined)
    connect.connectTimeout = pick(
      "connectTimeout",
      options.connectTimeout,
      "connectionTimeout",
      connectionTimeout,
    );
  const timeouts: SMTPTimeouts = { ...options.timeouts };
  if (greetingTimeout !== undefined)
    timeouts.greeting = pick("timeouts.greeting", timeouts.greeting, "greetingTimeout", greetingTimeout);
  if (socketTimeout !== undefined)
    timeouts.command = pick("timeouts.command", timeouts.command, "socketTimeout", socketTimeout);
  if (Object.keys(timeouts).length > 0) connect.timeouts = timeouts;
  if (auth !== undefined) connect.auth = translateAuth(auth);
  if (connect.security === undefined) delete connect.security;
  return { connect, pool: poolOptions(pool, { maxConnections, maxMessages, rateLimit, rateDelta }) };
}

/**
 * nodemailer's secure/requireTLS/ignoreTLS as a security mode. Never weaker than what was asked: secure:false
 * and requireTLS:false leave STARTTLS required (nodemailer would go on in clear when it is not offered).
 */
function securityFor(options: SmtpkitTransportOptions): Security | undefined {
  const given = options.security;
  if (options.ignoreTLS === true) {
    if (given !== "none")
      throw bad(
        "ignoreTLS: true would send every message (and the password, with allowInsecureAuth) in clear even " +
          'when the server offers STARTTLS; if that is what you want, say so with security: "none" as well',
      );
    if (options.secure === true) throw bad("secure: true and ignoreTLS: true contradict each other");
    return "none";
  }
  if (options.secure === true) {
    if (given !== undefined && given !== "tls")
      throw bad(`secure: true means implicit TLS, but security is "${given}"`);
    return "tls";
  }
  if (options.secure === false && given === "tls")
    throw bad('secure: false means a plain connection (then STARTTLS), but security is "tls"');
  if (options.requireTLS === true && given !== undefined && given !== "starttls" && given !== "tls")
    throw bad(`requireTLS: true asks for TLS, but security is "${given}"`);
  return given;
}

function translateAuth(auth: TransportAuth): NonNullable<ConnectOptions["auth"]> {
  if (auth === null || typeof auth !== "object") throw bad("auth must be an object");
  const username = pick("auth.username", auth.username, "auth.user", auth.user);
  const oauth2 = typeof auth.type === "string" && auth.type.toLowerCase() === "oauth2";
  let password: string | undefined;
  let type: number = AUTH_DEFAULT;
  if (oauth2) {
    if (typeof auth.accessToken !== "string")
      throw bad('auth type "OAuth2" needs accessToken (token refresh through nodemailer is not supported)');
    if (auth.pass !== undefined || auth.password !== undefined)
      throw bad('auth type "OAuth2" takes accessToken, not a password');
    password = auth.accessToken;
    type = AUTH_XOAUTH2;
  } else {
    if (auth.accessToken !== undefined) throw bad('accessToken needs auth type "OAuth2"');
    password = pick("auth.password", auth.password, "auth.pass", auth.pass);
    if (typeof auth.type === "number") type = auth.type;
    else if (auth.type !== undefined && auth.type.toLowerCase() !== "login")
      throw bad(
        `auth type "${auth.type}" is not supported (use "login", "OAuth2" or an SMTP.AUTH_* constant)`,
      );
  }
  if (auth.method !== undefined) {
    const byName = MECHANISMS[auth.method.toUpperCase()];
    if (byName === undefined) throw bad(`auth.method "${auth.method}" is not a mechanism smtpkit implements`);
    if (typeof auth.type === "number" && auth.type !== byName)
      throw bad(`auth.method "${auth.method}" and auth.type disagree`);
    type = byName;
  }
  if (typeof username !== "string" || typeof password !== "string")
    throw bad("auth needs a user name (username or user) and a password (password or pass)");
  return { username, password, type };
}

/** One value given under two names (ours and nodemailer's): fine when they agree. */
function pick<T>(
  ourName: string,
  ours: T | undefined,
  theirName: string,
  theirs: T | undefined,
): T | undefined {
  if (ours !== undefined && theirs !== undefined && ours !== theirs)
    throw bad(`${ourName} and ${theirName} are the same setting and disagree: give one`);
  return ours ?? theirs;
}

type NodemailerPoolKeys = Pick<
  SmtpkitTransportOptions,
  "maxConnections" | "maxMessages" | "rateLimit" | "rateDelta"
>;

/** The pool settings: ours (`pool: {...}`) and nodemailer's top-level keys, which only mean something pooled. */
function poolOptions(
  pool: SmtpkitTransportOptions["pool"],
  theirs: NodemailerPoolKeys,
): TransportPoolOptions | undefined {
  const given = Object.entries(theirs).filter(([, v]) => v !== undefined);
  if (pool === undefined || pool === false) {
    if (given.length > 0) throw bad(`${given.map(([k]) => k).join(", ")} only apply with pool: true`);
    return undefined;
  }
  if (pool !== true && (typeof pool !== "object" || pool === null))
    throw bad("pool must be true, false or pool options");
  const ours: TransportPoolOptions = pool === true ? {} : { ...pool };
  ours.maxConnections = pick(
    "pool.maxConnections",
    ours.maxConnections,
    "maxConnections",
    theirs.maxConnections,
  );
  ours.maxMessagesPerConnection = pick(
    "pool.maxMessagesPerConnection",
    ours.maxMessagesPerConnection,
    "maxMessages",
    theirs.maxMessages,
  );
  if (theirs.rateLimit !== undefined) {
    if (ours.rateLimit !== undefined)
      throw bad("pool.rateLimit and rateLimit are the same setting: give one");
    ours.rateLimit = { messages: theirs.rateLimit, perMs: theirs.rateDelta ?? 1000 };
  } else if (theirs.rateDelta !== undefined) throw bad("rateDelta needs rateLimit");
  for (const key of Object.keys(ours) as (keyof TransportPoolOptions)[])
    if (ours[key] === undefined) delete ours[key];
  return ours;
}

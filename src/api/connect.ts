// connect(): from a host name to a ready SMTP session — TCP (IPv4 and IPv6), TLS by the chosen security
// mode, and authentication. Where a seed-level call would resolve false, this rejects with the reason.
import net from "node:net";
import type tls from "node:tls";
import type { TokenSource } from "../auth/oauth2/token-source.js";
import { SMTP } from "../client/smtp.js";
import { describeReply, inputError, SMTPError, type SMTPErrorCode, type SMTPStage } from "../errors.js";
import { parseCapabilities } from "../protocol/capabilities.js";
import type { Reply, SMTPOptions } from "../types.js";
import { openSocket } from "./open-socket.js";
import { type AuthOptions, authenticateWithToken, checkAuthOptions } from "./token-login.js";

/**
 * How the channel is secured.
 * - `"tls"`: implicit TLS from the first byte (RFC 8314, port 465).
 * - `"starttls"`: plain connection upgraded with STARTTLS; a server that does not offer it is an ETLS error.
 * - `"starttls-if-offered"`: STARTTLS when the server offers it, else the session goes on in clear — but
 *   credentials are never sent in clear. Open to downgrade: an attacker on the path can hide STARTTLS.
 * - `"none"`: never TLS.
 */
export type Security = "starttls" | "tls" | "starttls-if-offered" | "none";

/** Options of connect(): where to connect, how to secure the channel, how to log in. */
export interface ConnectOptions extends SMTPOptions {
  /** Host name or IP address of the server. */
  host: string;
  /** TCP port. Default 587 (RFC 6409 message submission), or 465 (RFC 8314) when security is "tls". */
  port?: number;
  /** Default "tls" on port 465 (the port's own convention), else "starttls" (required, never silently clear). */
  security?: Security;
  /** TLS options for the handshake. `servername` defaults to `host`; verification stays on unless you turn it off. */
  tls?: tls.ConnectionOptions;
  /** Credentials; authenticate after TLS. Exactly one of password, accessToken (OAuth 2.0) or oauth2 (a token
   * endpoint: tokens fetched, cached, shared and refreshed). `type` is an `SMTP.AUTH_*` constant (default
   * AUTH_DEFAULT: the strongest password mechanism; with a token, OAUTHBEARER when offered, else XOAUTH2). */
  auth?: AuthOptions;
  /** ms to establish the TCP connection (DNS included). Default 30 000: long enough for a slow path, short
   * enough that a dropped SYN is reported before the user gives up. */
  connectTimeout?: number;
}

/** RFC 6409 message submission. */
const SUBMISSION_PORT = 587;
/** RFC 8314 implicit-TLS submission. */
const SUBMISSIONS_PORT = 465;
/** See ConnectOptions.connectTimeout. */
const DEFAULT_CONNECT_TIMEOUT = 30_000;
/** After a failure, how long QUIT may take before the socket is simply destroyed: the caller is waiting. */
const QUIT_GRACE_MS = 2_000;
const SECURITY_MODES: readonly Security[] = ["starttls", "tls", "starttls-if-offered", "none"];

/** The resolved connection plan: defaults applied, input checked. */
export interface ConnectPlan {
  host: string;
  port: number;
  security: Security;
  connectTimeout: number;
  tls: tls.ConnectionOptions;
  /** Where access tokens come from, when auth uses accessToken or oauth2. */
  tokens?: TokenSource | undefined;
}

/**
 * Opens a connected, TLS'd (per `security`) and, when `auth` is given, authenticated SMTP session.
 * Rejects with SMTPError: ECONNECTION (no answer, a declined greeting or hello), ETLS (STARTTLS required but
 * not offered or refused, a failed handshake), EAUTH (credentials declined, or a clear channel), ETIMEDOUT,
 * EINPUT (bad options). On any failure the socket is closed.
 */
export async function connect(options: ConnectOptions): Promise<SMTP> {
  const plan = planConnection(options);
  const smtp = new SMTP({
    clientName: options.clientName,
    lmtp: options.lmtp,
    timeouts: options.timeouts,
    signal: options.signal,
    logger: options.logger,
    // honoured only where the caller chose a clear channel on purpose (API.md §2, §4.4)
    allowInsecureAuth: plan.security === "none" ? options.allowInsecureAuth : false,
  });
  const socket = await openSocket(plan.host, plan.port, plan.connectTimeout, options.signal);
  try {
    await establish(smtp, socket, plan);
    if (options.auth) await login(smtp, plan, options);
    return smtp;
  } catch (error) {
    await discard(smtp, socket);
    throw error;
  }
}

/** Applies the documented defaults and checks the options. EINPUT (stage CONNECT) when they are unusable. */
export function planConnection(options: ConnectOptions): ConnectPlan {
  const bad = (message: string): SMTPError => inputError(message, "CONNECT");
  if (typeof options?.host !== "string" || options.host.length === 0) throw bad("host is required");
  // "[::1]" is how people write IPv6 hosts next to a port; net.connect wants the bare address
  const host = /^\[.*\]$/.test(options.host) ? options.host.slice(1, -1) : options.host;
  if (/[\s\x00-\x1f\x7f]/.test(host))
    throw bad(`host ${JSON.stringify(options.host)} contains spaces or control characters`);
  if (options.security !== undefined && !SECURITY_MODES.includes(options.security)) {
    throw bad(`security must be one of ${SECURITY_MODES.map((m) => `"${m}"`).join(", ")}`);
  }
  const explicitPort = options.port;
  if (
    explicitPort !== undefined &&
    !(Number.isInteger(explicitPort) && explicitPort > 0 && explicitPort < 65536)
  ) {
    throw bad(`port ${String(explicitPort)} is not a TCP port (1-65535)`);
  }
  const port = options.port ?? (options.security === "tls" ? SUBMISSIONS_PORT : SUBMISSION_PORT);
  const security = options.security ?? (port === SUBMISSIONS_PORT ? "tls" : "starttls");
  const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  if (!(Number.isFinite(connectTimeout) && connectTimeout > 0))
    throw bad("connectTimeout must be a positive number of ms");
  const tokens = options.auth === undefined ? undefined : checkAuthOptions(options.auth);
  return { host, port, security, connectTimeout, tls: tlsOptionsFor(host, options.tls), tokens };
}

/**
 * TLS options for a host: SNI and the identity check use the host name (an IP address is checked against
 * the certificate's IP entries and never sent as SNI, RFC 6066 §3); TLS 1.2 is the floor. The caller's
 * options win, so they may pin a `servername`, add a `ca`, or lower `minVersion`.
 */
export function tlsOptionsFor(
  host: string,
  callerTls: tls.ConnectionOptions | undefined,
): tls.ConnectionOptions {
  const name = host.replace(/\.$/, "");
  return {
    ...(net.isIP(name) === 0 ? { servername: name } : {}),
    host: name,
    minVersion: "TLSv1.2",
    ...callerTls,
  };
}

/** What to change, for each refusal connect() turns into an error. */
const ADVICE = {
  hello: "set clientName to a name the server accepts (a fully qualified domain name or an address literal)",
  noStarttls:
    `security "starttls" requires it; use security "tls" (port 465) if the server has implicit TLS, ` +
    `or "starttls-if-offered"/"none" only on a network you trust`,
  starttlsRefused: `retry later, or use security "tls" on port 465 if the server has it`,
  credentials: "check the user name and password (or the mechanism)",
  clearIfOffered:
    `the server does not offer STARTTLS, and "starttls-if-offered" never sends credentials in clear ` +
    `(an attacker who hid STARTTLS would read them): use security "starttls" or "tls"`,
  clearNone:
    `security "none" keeps the channel clear: use "starttls" or "tls", or set allowInsecureAuth ` +
    "if you accept that anyone on the path can read the password",
} as const;

/** Greeting and hello (plain or implicit TLS), then STARTTLS per the security mode. */
async function establish(smtp: SMTP, socket: net.Socket, plan: ConnectPlan): Promise<void> {
  let accepted: boolean;
  try {
    accepted = plan.security === "tls" ? await smtp.connectTLS(socket, plan.tls) : await smtp.connect(socket);
  } catch (error) {
    throw explainOpening(error, plan);
  }
  if (!accepted) {
    // the seed sends QUIT after a declined greeting, so lastReply is the 221 by now: use the greeting
    const first = smtp.greeting;
    if (first && first.code !== 220)
      throw declined("ECONNECTION", "GREETING", "the server declined the session", first);
    throw declined("ECONNECTION", "EHLO", "the server refused EHLO and HELO", smtp.lastReply, ADVICE.hello);
  }
  if (plan.security !== "starttls" && plan.security !== "starttls-if-offered") return;
  const extensions = smtp.getServerOptions();
  // the same parser the session uses (an EHLO reply: the greeting line first, then the extensions)
  if (!parseCapabilities({ code: 250, lines: ["", ...extensions], text: "" }).starttls) {
    if (plan.security === "starttls-if-offered") return; // documented: open to downgrade
    const what = `the server does not offer STARTTLS (its EHLO lists: ${extensions.join(", ") || "nothing"})`;
    throw declined("ETLS", "STARTTLS", what, smtp.lastReply, ADVICE.noStarttls);
  }
  let upgraded: boolean;
  try {
    upgraded = await smtp.startTLS(plan.tls);
  } catch (error) {
    throw explainCertificate(error);
  }
  if (!upgraded)
    throw declined("ETLS", "STARTTLS", "the server refused STARTTLS", smtp.lastReply, ADVICE.starttlsRefused);
}

/**
 * Authenticates an open session as connect() does (clear-channel rule, tokens, the declined error), for
 * callers that must check the channel themselves between TLS and AUTH (the CLI's pinned certificates).
 */
export function authenticateSession(smtp: SMTP, options: ConnectOptions): Promise<void> {
  return login(smtp, planConnection(options), options);
}

/** AUTH, never over a clear channel unless security is "none" and the caller set allowInsecureAuth. */
async function login(smtp: SMTP, plan: ConnectPlan, options: ConnectOptions): Promise<void> {
  const auth = options.auth!;
  if (!smtp.secure && !(plan.security === "none" && options.allowInsecureAuth)) {
    const why = plan.security === "starttls-if-offered" ? ADVICE.clearIfOffered : ADVICE.clearNone;
    const message = `refusing to authenticate over a clear channel: ${why}`;
    throw new SMTPError("EAUTH", message, { stage: "AUTH", temporary: false });
  }
  if (plan.tokens) return authenticateWithToken(smtp, auth, plan.tokens, options.signal);
  const ok = await smtp.authenticate(auth.username, auth.password ?? "", auth.type ?? SMTP.AUTH_DEFAULT);
  if (!ok)
    throw declined(
      "EAUTH",
      "AUTH",
      "the server declined the credentials",
      smtp.lastReply,
      ADVICE.credentials,
    );
}

/** The error for a refusal: what was refused, the server's reply, and what to change. */
function declined(
  code: SMTPErrorCode,
  stage: SMTPStage,
  what: string,
  reply: Reply | undefined,
  advice = "",
) {
  const said = reply ? `: ${describeReply(reply)}` : "";
  return new SMTPError(code, `${what}${said}${advice ? `; ${advice}` : ""}`, { stage, reply });
}

/**
 * Adds "what to change" to a failure while opening the session: the wrong TLS mode for the port (a TLS
 * handshake answered in clear text; no greeting in clear), or a certificate that does not verify.
 */
export function explainOpening(error: unknown, plan: ConnectPlan): unknown {
  if (!(error instanceof SMTPError)) return error;
  if (error.code === "ETLS" && plan.security === "tls" && metPlainText(error)) {
    const what = `port ${plan.port} speaks plain SMTP, not implicit TLS (the TLS handshake got clear text back)`;
    return amend(error, `${what}: use security "starttls"`);
  }
  // no greeting, or the connection closed without one: a server on an implicit-TLS port waits for a ClientHello
  if (error.stage === "GREETING" && error.reply === undefined && plan.security !== "tls") {
    const advice =
      plan.port === SUBMISSIONS_PORT
        ? `port 465 expects the client to start TLS first: use security "tls"`
        : `if port ${plan.port} expects implicit TLS (as 465 does), use security "tls"`;
    return amend(error, `${error.message}; ${advice}`);
  }
  return explainCertificate(error);
}

/** OpenSSL's words for a TLS record that is really text such as "220 mail.example ESMTP". */
function metPlainText(error: SMTPError): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const text = `${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}`;
    if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE/i.test(text))
      return true;
    if (/wrong version number|packet length too long|unknown protocol/i.test(text)) return true;
  }
  return false;
}

const TRUST_ERRORS =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)$/;

function explainCertificate(error: unknown): unknown {
  if (!(error instanceof SMTPError) || error.code !== "ETLS") return error;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code ?? "";
  let advice: string;
  if (TRUST_ERRORS.test(code))
    advice = "the certificate does not chain to a trusted CA: pass the server's CA in tls.ca";
  else if (code === "ERR_TLS_CERT_ALTNAME_INVALID") advice = "connect by a name the certificate carries";
  else if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID")
    advice = "the server must renew its certificate";
  else return error;
  return amend(error, `${error.message} (${code}); ${advice}`);
}

function amend(error: SMTPError, message: string): SMTPError {
  return new SMTPError(error.code, message, {
    stage: error.stage,
    reply: error.reply,
    temporary: error.temporary,
    deliveryUnknown: error.deliveryUnknown,
    cause: error,
  });
}

/** After a failure: QUIT if the session still stands (briefly), then make sure no socket is left open. */
async function discard(smtp: SMTP, socket: net.Socket): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    smtp.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, QUIT_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  smtp.tlsSocket?.destroy();
  socket.destroy();
}

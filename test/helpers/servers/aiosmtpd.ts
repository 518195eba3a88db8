// aiosmtpd (Debian python3-aiosmtpd) started on 127.0.0.1, port chosen by the kernel, for interop tests.
// The Python side is aiosmtpd_server.py next to this file; it reports every accepted message as a JSON line.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  certPaths,
  fixtureCa,
  killQuietly,
  LOOPBACK,
  onExitCleanup,
  TailBuffer,
  type TlsCertChoice,
  waitUntil,
} from "./common.js";

/** Debian's interpreter (the one that has python3-aiosmtpd); override with SMTPKIT_TEST_PYTHON. */
const PYTHON = process.env.SMTPKIT_TEST_PYTHON ?? "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./aiosmtpd_server.py", import.meta.url));

export interface AiosmtpdAuthOptions {
  /** user name -> password (for XOAUTH2/OAUTHBEARER: the access token). Non-ASCII is fine (UTF-8). */
  users: Record<string, string>;
  /** AUTH only after STARTTLS (aiosmtpd's default, true). Ignored with implicitTls (always allowed). */
  requireTls?: boolean;
  /** MAIL/RCPT/DATA refused with 530 until authenticated (default false). */
  required?: boolean;
  /**
   * XOAUTH2/OAUTHBEARER accept a token only when this RFC 7662 introspection endpoint (the test token
   * endpoint's, test/helpers/token-endpoint.ts) says it is active for the user: issued there, not expired,
   * not revoked. Without it, the token is the user's password in `users`.
   */
  tokenIntrospectionUrl?: string;
  /** Mechanisms to offer, from PLAIN, LOGIN, XOAUTH2, OAUTHBEARER (default: all four). */
  mechanisms?: Array<"PLAIN" | "LOGIN" | "XOAUTH2" | "OAUTHBEARER">;
}

export interface AiosmtpdOptions {
  /** Offer STARTTLS with the fixture certificate. */
  starttls?: boolean;
  /** Refuse every command but EHLO/NOOP/STARTTLS/QUIT before STARTTLS (530). Needs starttls. */
  requireStarttls?: boolean;
  /** TLS from the first byte (port-465 style). */
  implicitTls?: boolean;
  auth?: AiosmtpdAuthOptions;
  /** Use aiosmtpd.lmtp.LMTP: LHLO, one reply per accepted recipient after the data. */
  lmtp?: boolean;
  /** Advertise and accept SMTPUTF8 (default true). */
  smtputf8?: boolean;
  /** Message size limit in octets, advertised as SIZE (aiosmtpd default 33554432; 0 = no limit, no SIZE). */
  dataSizeLimit?: number;
  /** Advertise PIPELINING (aiosmtpd handles pipelined commands but does not advertise it by default). */
  pipelining?: boolean;
  /** Certificate to present (default: the ECDSA `localhost` fixture). */
  tlsCert?: TlsCertChoice;
  /** Highest TLS version offered (e.g. "TLSv1.2" to test TLS-1.2-only code paths). */
  tlsMaxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Name in the greeting and EHLO reply (default "localhost"). */
  hostname?: string;
  /** aiosmtpd debug logging on the child's stderr (see `log()`). */
  debug?: boolean;
  /** Start timeout in ms (default 10000). */
  startTimeoutMs?: number;
}

export interface ReceivedRecipient {
  address: string;
  /** RCPT parameters as aiosmtpd records them (upper-cased). */
  options: string[];
}

export interface ReceivedMessage {
  mailFrom: string;
  /** Every recipient accepted at RCPT. */
  rcptTos: string[];
  /** Recipients the message was accepted for after the data (LMTP: minus faildata@ etc.). */
  accepted: string[];
  /** MAIL parameters, upper-cased by aiosmtpd (e.g. ["BODY=8BITMIME", "SMTPUTF8", "SIZE=123"]). */
  mailOptions: string[];
  /** All RCPT parameters, flat, as aiosmtpd records them. */
  rcptOptions: string[];
  recipients: ReceivedRecipient[];
  smtpUtf8: boolean;
  /** The EHLO/LHLO/HELO argument. */
  helo: string | null;
  /** True when the message came over TLS (STARTTLS or implicit). */
  tls: boolean;
  /** The authenticated user, or null. */
  authUser: string | null;
  /** The message exactly as received after dot-unstuffing (CRLF line ends, no final "."). */
  content: Buffer;
  /** The reply line(s) the server sent after the data. */
  replies: string[];
}

/** One XOAUTH2/OAUTHBEARER attempt as the server judged it. */
export interface TokenAuthAttempt {
  mechanism: "XOAUTH2" | "OAUTHBEARER";
  user: string;
  ok: boolean;
  /** The first 16 hex digits of the token's SHA-256 (which token, without the token). */
  tokenSha256: string;
}

export interface AiosmtpdServer {
  host: typeof LOOPBACK;
  port: number;
  /** True with implicitTls. */
  secure: boolean;
  lmtp: boolean;
  /** The CA certificate that signs the server's certificate. */
  ca: Buffer;
  pid: number;
  /** Messages received so far, in order. */
  messages(): ReceivedMessage[];
  /** Resolves with all messages once at least `n` arrived; rejects after `timeoutMs` (default 5000). */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  clearMessages(): void;
  /** XOAUTH2/OAUTHBEARER attempts so far, in order. */
  tokenAuthAttempts(): TokenAuthAttempt[];
  /** The server's stderr (aiosmtpd log), for diagnostics. */
  log(): string;
  stop(): Promise<void>;
}

interface ChildLine {
  event: string;
  port?: number;
  pid?: number;
  message?: string;
  mail_from?: string;
  rcpt_tos?: string[];
  accepted?: string[];
  mail_options?: string[];
  rcpt_options?: string[];
  recipients?: ReceivedRecipient[];
  smtp_utf8?: boolean;
  helo?: string | null;
  tls?: boolean;
  auth_user?: string | null;
  content_b64?: string;
  replies?: string[];
  mechanism?: "XOAUTH2" | "OAUTHBEARER";
  user?: string;
  ok?: boolean;
  token_sha256?: string;
}

function toMessage(line: ChildLine): ReceivedMessage {
  return {
    mailFrom: line.mail_from ?? "",
    rcptTos: line.rcpt_tos ?? [],
    accepted: line.accepted ?? [],
    mailOptions: line.mail_options ?? [],
    rcptOptions: line.rcpt_options ?? [],
    recipients: line.recipients ?? [],
    smtpUtf8: line.smtp_utf8 ?? false,
    helo: line.helo ?? null,
    tls: line.tls ?? false,
    authUser: line.auth_user ?? null,
    content: Buffer.from(line.content_b64 ?? "", "base64"),
    replies: line.replies ?? [],
  };
}

/** Starts aiosmtpd on 127.0.0.1 with a kernel-chosen port. */
export async function startAiosmtpd(options: AiosmtpdOptions = {}): Promise<AiosmtpdServer> {
  const { cert, key } = certPaths(options.tlsCert);
  const config = {
    starttls: options.starttls ?? false,
    require_starttls: options.requireStarttls ?? false,
    implicit_tls: options.implicitTls ?? false,
    auth: options.auth
      ? {
          users: options.auth.users,
          require_tls: options.auth.requireTls ?? true,
          required: options.auth.required ?? false,
          mechanisms: options.auth.mechanisms ?? null,
          introspection_url: options.auth.tokenIntrospectionUrl ?? null,
        }
      : null,
    lmtp: options.lmtp ?? false,
    smtputf8: options.smtputf8 ?? true,
    data_size_limit: options.dataSizeLimit ?? null,
    pipelining: options.pipelining ?? false,
    cert,
    key,
    tls_max_version: options.tlsMaxVersion ?? null,
    hostname: options.hostname ?? "localhost",
    debug: options.debug ?? false,
  };

  const child: ChildProcess = spawn(PYTHON, [SCRIPT], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" },
  });
  const stderr = new TailBuffer();
  const received: ReceivedMessage[] = [];
  const tokenAuths: TokenAuthAttempt[] = [];
  let ready: { port: number } | undefined;
  let failure: Error | undefined;
  let exited = false;

  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      if (!ready) failure ??= new Error(`aiosmtpd exited early (code ${code}, signal ${signal}): ${stderr}`);
      resolve();
    });
  });
  child.once("error", (err) => {
    failure ??= err;
  });

  let pending = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!text.trim()) continue;
      let line: ChildLine;
      try {
        line = JSON.parse(text) as ChildLine;
      } catch {
        stderr.push(`[stdout] ${text}\n`);
        continue;
      }
      if (line.event === "ready" && typeof line.port === "number") ready = { port: line.port };
      else if (line.event === "message") received.push(toMessage(line));
      else if (line.event === "auth" && line.mechanism)
        tokenAuths.push({
          mechanism: line.mechanism,
          user: line.user ?? "",
          ok: line.ok === true,
          tokenSha256: line.token_sha256 ?? "",
        });
      else if (line.event === "error") failure ??= new Error(`aiosmtpd failed to start: ${line.message}`);
    }
  });
  child.stderr?.on("data", (d: Buffer) => stderr.push(d));
  child.stdin?.on("error", () => {});
  child.stdin?.write(`${JSON.stringify(config)}\n`);

  const unregister = onExitCleanup(() => killQuietly(child.pid, "SIGKILL"));
  // Do not keep the test process alive just for this server; waits below hold their own timers.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr])
    (s as unknown as { unref?: () => void })?.unref?.();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return exitPromise;
    stopped = true;
    unregister();
    if (!exited) {
      child.ref(); // unref'd at start: keep the event loop alive until it has exited
      child.stdin?.end();
      killQuietly(child.pid, "SIGTERM");
      const timer = setTimeout(() => killQuietly(child.pid, "SIGKILL"), 2000);
      await exitPromise;
      clearTimeout(timer);
    }
  };

  try {
    const { port } = await waitUntil(
      () => {
        if (failure) throw failure;
        return ready;
      },
      options.startTimeoutMs ?? 10_000,
      "aiosmtpd to report ready",
      10,
    );
    return {
      host: LOOPBACK,
      port,
      secure: options.implicitTls ?? false,
      lmtp: options.lmtp ?? false,
      ca: fixtureCa(),
      pid: child.pid ?? 0,
      messages: () => [...received],
      waitForMessages: (n, timeoutMs = 5000) =>
        waitUntil(
          () => {
            if (received.length >= n) return [...received];
            if (exited) throw new Error(`aiosmtpd exited while waiting for messages: ${stderr}`);
            return undefined;
          },
          timeoutMs,
          `${n} message(s) at aiosmtpd (have ${received.length})`,
          10,
        ),
      clearMessages: () => {
        received.length = 0;
      },
      tokenAuthAttempts: () => [...tokenAuths],
      log: () => stderr.toString(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

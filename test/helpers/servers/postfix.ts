// A private Postfix instance (Debian `postfix`), optionally with Dovecot SASL (Debian `dovecot-core`), on
// 127.0.0.1 with ports chosen at run time. Everything (config, queue, data, pid files, sockets, Maildir, the
// Dovecot base_dir) lives in one temporary directory, so several instances can run side by side.
//
// Needs root: Postfix's master(8) must start as root (it drops privileges per service) and so does Dovecot.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  certPaths,
  fixtureCa,
  freePorts,
  killQuietly,
  LOOPBACK,
  lookupId,
  makeHarnessDir,
  mkdirOwned,
  onExitCleanup,
  removeDirQuietly,
  requireId,
  retryStart,
  sleep,
  splitTraceHeaders,
  startWatchdog,
  TailBuffer,
  waitForListening,
  waitUntil,
} from "./common.js";

const POSTFIX_MASTER = "/usr/lib/postfix/sbin/master";
const DOVECOT = "/usr/sbin/dovecot";
/** Postfix's own services (master.cf lines), shared with bench/lib/servers.mjs. */
const POSTFIX_SERVICES = fileURLToPath(new URL("./postfix-services.cf", import.meta.url));

/** The SASL mechanisms the private Dovecot offers by default (all work with plaintext passwords). */
export const DOVECOT_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] as const;
export type DovecotMechanism = (typeof DOVECOT_MECHANISMS)[number];

export interface PostfixAuthOptions {
  /** user name -> password; passwords may be any Unicode (stored as {PLAIN.b64}). Names: no ":" or controls. */
  users: Record<string, string>;
  /** Mechanisms Dovecot offers (default: all of DOVECOT_MECHANISMS). */
  mechanisms?: DovecotMechanism[];
}

export interface PostfixOptions {
  /** SASL through a private Dovecot (smtpd_sasl_type = dovecot) on every smtpd port. */
  auth?: PostfixAuthOptions;
  /** Main port: AUTH offered only after STARTTLS (smtpd_tls_auth_only; default true). */
  tlsAuthOnly?: boolean;
  /** Main port offers STARTTLS (default true). */
  starttls?: boolean;
  /** Also listen on a port with smtpd_tls_wrappermode=yes (implicit TLS, port-465 style). */
  implicitTls?: boolean;
  /**
   * Also listen on a submission-style port: STARTTLS required before anything else (security level encrypt),
   * AUTH only after TLS, and no recipient accepted without AUTH. Requires `auth`.
   */
  submission?: boolean;
  /** message_size_limit in octets (Postfix default 10240000; 0 = no limit). Advertised as SIZE. */
  messageSizeLimit?: number;
  /** EHLO keywords to hide (smtpd_discard_ehlo_keywords), e.g. ["pipelining", "chunking"]. */
  discardEhloKeywords?: string[];
  /** smtputf8_enable (default true). */
  smtputf8?: boolean;
  /** Highest TLS version smtpd offers. */
  tlsMaxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Extra main.cf parameters, written last (they win). */
  mainCf?: Record<string, string>;
  /** Start timeout in ms (default 15000). */
  startTimeoutMs?: number;
}

export interface DeliveredMessage {
  /** The Maildir file. */
  path: string;
  /** The file as Postfix's virtual(8) wrote it: LF line ends, with Return-Path, Delivered-To, Received on top. */
  raw: Buffer;
  /** The envelope recipient (from the Delivered-To header virtual(8) adds). */
  recipient: string | null;
  /** The envelope sender (from Return-Path; "" for the null sender). */
  returnPath: string | null;
  /** `raw` without the trace header fields Postfix prepended (Return-Path, Delivered-To, its own Received). */
  message: Buffer;
}

export interface PostfixServer {
  host: typeof LOOPBACK;
  /** Plain SMTP port: STARTTLS offered (unless starttls: false), AUTH per tlsAuthOnly. */
  port: number;
  /** Implicit-TLS port (with implicitTls). */
  implicitTlsPort?: number;
  /** Submission-style port (with submission). */
  submissionPort?: number;
  /** The CA certificate that signs the server's certificates (ECDSA and RSA, both for "localhost"). */
  ca: Buffer;
  /** The instance's temporary directory (removed by stop()). */
  dir: string;
  users: Record<string, string>;
  /** The SASL mechanisms configured in Dovecot ([] without auth). */
  mechanisms: string[];
  /** Process ids of Postfix's master(8) and (with auth) Dovecot; each leads its own process group. */
  pids: { master: number; dovecot?: number };
  /** Every message delivered so far (one file per recipient), oldest first. */
  delivered(): Promise<DeliveredMessage[]>;
  /** Resolves once at least `n` messages were delivered; rejects after `timeoutMs` (default 10000). */
  waitForDelivery(n: number, timeoutMs?: number): Promise<DeliveredMessage[]>;
  /** Removes every delivered message. */
  clearDelivered(): Promise<void>;
  /** Postfix's log (maillog) and Dovecot's log, for diagnostics. */
  log(): string;
  stop(): Promise<void>;
}

/** Why Postfix cannot run here, or undefined when it can. Use with `test(..., { skip })`. */
export function postfixUnavailableReason(options: { auth?: boolean } = {}): string | undefined {
  if (process.platform !== "linux") return "the Postfix harness needs Linux";
  if (process.getuid?.() !== 0) return "the Postfix harness must run as root (master(8) and Dovecot need it)";
  if (!existsSync(POSTFIX_MASTER)) return `${POSTFIX_MASTER} missing: apt-get install postfix`;
  if (options.auth && !existsSync(DOVECOT)) return `${DOVECOT} missing: apt-get install dovecot-core`;
  if (lookupId("/etc/passwd", "postfix") === undefined) return "no postfix user";
  return undefined;
}

function checkUserName(name: string): void {
  if (name === "" || /[:\x00-\x1f\x7f]/.test(name)) {
    throw new Error(`Postfix harness: user name ${JSON.stringify(name)} cannot go in a Dovecot passwd-file`);
  }
}

function mainCf(settings: Array<[string, string]>): string {
  return `${settings.map(([k, v]) => `${k} = ${v}`).join("\n")}\n`;
}

/**
 * Starts a private Postfix (and Dovecot, with `auth`). Must run as root. Postfix cannot listen on port 0,
 * so the ports are probed free first; if master(8) exits during start-up (another process took a port in
 * between: master cannot even log that), start-up is retried with new ports, up to three times.
 */
export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixServer> {
  // master(8) dies silently (before its logging works) when it cannot bind a port
  return retryStart(() => startPostfixOnce(options), "postfix master exited");
}

async function startPostfixOnce(options: PostfixOptions): Promise<PostfixServer> {
  const reason = postfixUnavailableReason({ auth: !!options.auth });
  if (reason) throw new Error(reason);
  if (options.submission && !options.auth) throw new Error("Postfix harness: submission needs auth");
  const startTimeout = options.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + startTimeout;
  const remaining = (): number => Math.max(500, deadline - Date.now());

  const postfixUid = requireId("/etc/passwd", "postfix");
  const postdropGid = requireId("/etc/group", "postdrop");
  const nobodyUid = lookupId("/etc/passwd", "nobody") ?? 65534;
  const nogroupGid = lookupId("/etc/group", "nogroup") ?? 65534;
  const id = randomBytes(4).toString("hex");

  const { dir, keepDir } = makeHarnessDir("smtpkit-postfix-");
  const etc = join(dir, "etc");
  const spool = join(dir, "spool");
  const data = join(dir, "data");
  const vmail = join(dir, "vmail");
  const maildirNew = join(vmail, "Maildir", "new");
  const dovecotDir = join(dir, "dovecot");

  const processes: ChildProcess[] = [];
  const postfixLog = new TailBuffer();
  // Postfix logs through postlogd(8) into this file (stdout would be a socket, which postlogd cannot open)
  const readLog = (): string => {
    let text = postfixLog.toString();
    try {
      text += readFileSync(join(dir, "maillog"), "utf8");
    } catch {
      // not written yet
    }
    return text.length > 64 * 1024 ? text.slice(-64 * 1024) : text;
  };
  const dovecotLog = new TailBuffer();
  let watchdog: { disarm(): void } | undefined;
  const unregister = onExitCleanup(() => {
    for (const p of processes) {
      if (p.pid) {
        killQuietly(-p.pid, "SIGKILL");
        killQuietly(p.pid, "SIGKILL");
      }
    }
    if (!keepDir) removeDirQuietly(dir);
  });

  const exited = new Map<ChildProcess, Promise<void>>();
  const launch = (cmd: string, args: string[], log: TailBuffer): ChildProcess => {
    // detached: a new session and process group, so the whole server can be signalled as a group
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", "pipe", "pipe"], cwd: dir });
    child.stdout?.on("data", (d: Buffer) => log.push(d));
    child.stderr?.on("data", (d: Buffer) => log.push(d));
    child.on("error", (err) => log.push(`spawn ${cmd} failed: ${err.message}\n`));
    exited.set(child, new Promise((resolve) => child.once("exit", () => resolve())));
    child.unref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void })?.unref?.();
    processes.push(child);
    return child;
  };

  // The instance is thrown away with its directory, so there is nothing to shut down gracefully: SIGKILL
  // the whole process group (master(8)'s own SIGTERM path takes a second).
  const stopProcess = async (child: ChildProcess): Promise<void> => {
    const pid = child.pid;
    if (!pid) return;
    // the child is unref'd: re-ref it, or an otherwise idle event loop ends while we wait for its exit
    child.ref();
    killQuietly(-pid, "SIGKILL");
    killQuietly(pid, "SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await exited.get(child);
    // a member forked while the first signal was delivered (no waiting for the group to drain: killed
    // members stay visible as zombies until init reaps them)
    killQuietly(-pid, "SIGKILL");
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      watchdog?.disarm();
      // Postfix first (it uses Dovecot's socket), then Dovecot
      for (const child of [...processes].reverse()) await stopProcess(child);
      unregister();
      if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  try {
    // ---- directories, as postfix-files(5) would create them
    mkdirOwned(etc, 0, 0, 0o755);
    mkdirOwned(spool, 0, 0, 0o755);
    for (const d of ["active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming"]) {
      mkdirOwned(join(spool, d), postfixUid, 0, 0o700);
    }
    for (const d of ["private", "saved", "trace"]) mkdirOwned(join(spool, d), postfixUid, 0, 0o700);
    mkdirOwned(join(spool, "maildrop"), postfixUid, postdropGid, 0o730);
    mkdirOwned(join(spool, "public"), postfixUid, postdropGid, 0o710);
    mkdirOwned(join(spool, "pid"), 0, 0, 0o755);
    mkdirOwned(data, postfixUid, 0, 0o700);
    mkdirOwned(vmail, nobodyUid, nogroupGid, 0o755);

    const wantPorts = 1 + (options.implicitTls ? 1 : 0) + (options.submission ? 1 : 0);
    const ports = await freePorts(wantPorts);
    const port = ports[0]!;
    const implicitTlsPort = options.implicitTls ? ports[1] : undefined;
    const submissionPort = options.submission ? ports[options.implicitTls ? 2 : 1] : undefined;

    // ---- Dovecot (auth only)
    const users = options.auth?.users ?? {};
    const mechanisms: string[] = options.auth ? [...(options.auth.mechanisms ?? DOVECOT_MECHANISMS)] : [];
    if (options.auth) {
      mkdirOwned(dovecotDir, 0, 0, 0o755);
      mkdirOwned(join(dovecotDir, "run"), 0, 0, 0o755);
      mkdirOwned(join(dovecotDir, "state"), 0, 0, 0o750);
      const passwd = Object.entries(users).map(([user, password]) => {
        checkUserName(user);
        return `${user}:{PLAIN.b64}${Buffer.from(password, "utf8").toString("base64")}\n`;
      });
      writeFileSync(join(dovecotDir, "users"), passwd.join(""), { mode: 0o644 });
      const conf = [
        `base_dir = ${join(dovecotDir, "run")}`,
        `state_dir = ${join(dovecotDir, "state")}`,
        `instance_name = smtpkit-harness-${id}`,
        "protocols =",
        "listen = 127.0.0.1",
        "ssl = no",
        "log_path = /dev/stderr",
        "disable_plaintext_auth = no",
        "auth_failure_delay = 0",
        "auth_verbose = yes",
        `auth_mechanisms = ${mechanisms.map((m) => m.toLowerCase()).join(" ")}`,
        "passdb {",
        "  driver = passwd-file",
        `  args = scheme=PLAIN username_format=%u ${join(dovecotDir, "users")}`,
        "}",
        "userdb {",
        "  driver = static",
        `  args = uid=${nobodyUid} gid=${nogroupGid} home=/nonexistent`,
        "}",
        "service auth {",
        `  unix_listener ${join(spool, "private", "auth")} {`,
        "    mode = 0660",
        "    user = postfix",
        "    group = postfix",
        "  }",
        "}",
        "service anvil {",
        "  unix_listener anvil-auth-penalty {",
        "    mode = 0",
        "  }",
        "}",
        "",
      ].join("\n");
      writeFileSync(join(dovecotDir, "dovecot.conf"), conf);
      launch(DOVECOT, ["-F", "-c", join(dovecotDir, "dovecot.conf")], dovecotLog);
    }

    // ---- Postfix configuration
    const { cert: ecCert, key: ecKey } = certPaths("localhost");
    const { cert: rsaCert, key: rsaKey } = certPaths("localhost-rsa");
    const tlsProtocols = options.tlsMaxVersion === "TLSv1.2" ? ">=TLSv1.2, <=TLSv1.2" : ">=TLSv1.2";
    const settings: Array<[string, string]> = [
      ["compatibility_level", "3.6"],
      ["queue_directory", spool],
      ["data_directory", data],
      ["command_directory", "/usr/sbin"],
      ["daemon_directory", "/usr/lib/postfix/sbin"],
      ["shlib_directory", "/usr/lib/postfix"],
      ["meta_directory", "/etc/postfix"],
      ["mail_owner", "postfix"],
      ["setgid_group", "postdrop"],
      ["myhostname", "mx.example.test"],
      ["mydomain", "example.test"],
      ["myorigin", "$mydomain"],
      ["mydestination", ""],
      ["inet_interfaces", LOOPBACK],
      ["inet_protocols", "ipv4"],
      ["mynetworks", "127.0.0.0/8"],
      ["maillog_file", join(dir, "maillog")],
      ["maillog_file_prefixes", dir],
      ["syslog_name", "postfix-harness"],
      ["smtpd_banner", "$myhostname ESMTP Postfix (smtpkit harness)"],
      ["biff", "no"],
      ["append_dot_mydomain", "no"],
      ["readme_directory", "no"],
      ["alias_maps", ""],
      ["alias_database", ""],
      ["local_recipient_maps", ""],
      // every recipient of example.test and localhost goes to one Maildir; Delivered-To names the recipient
      ["virtual_mailbox_domains", "example.test, localhost"],
      ["virtual_mailbox_base", vmail],
      ["virtual_mailbox_maps", "static:Maildir/"],
      ["virtual_uid_maps", `static:${nobodyUid}`],
      ["virtual_gid_maps", `static:${nogroupGid}`],
      ["virtual_mailbox_limit", "0"],
      ["mailbox_size_limit", "0"],
      // nothing ever leaves the machine: relayed mail (authenticated clients only) lands in the same Maildir
      ["default_transport", "virtual"],
      ["relay_transport", "virtual"],
      ["message_size_limit", String(options.messageSizeLimit ?? 10_240_000)],
      // the client's headers reach the Maildir as sent: no Date/Message-ID/From added for loopback clients
      ["local_header_rewrite_clients", ""],
      ["smtputf8_enable", options.smtputf8 === false ? "no" : "yes"],
      ["smtpd_discard_ehlo_keywords", (options.discardEhloKeywords ?? []).join(", ")],
      ["smtpd_relay_restrictions", "permit_sasl_authenticated, reject_unauth_destination"],
      [
        "smtpd_recipient_restrictions",
        `check_recipient_access texthash:${join(etc, "recipient_access")}, permit`,
      ],
      ["header_checks", `regexp:${join(etc, "header_checks")}`],
      ["smtpd_error_sleep_time", "0"],
      ["smtpd_tls_security_level", "may"],
      ["smtpd_tls_chain_files", `${ecKey}, ${ecCert}, ${rsaKey}, ${rsaCert}`],
      ["smtpd_tls_protocols", tlsProtocols],
      ["smtpd_tls_mandatory_protocols", tlsProtocols],
      ["smtpd_tls_loglevel", "1"],
      ["smtpd_tls_received_header", "yes"],
      ["smtpd_sasl_auth_enable", options.auth ? "yes" : "no"],
      ["smtpd_sasl_type", "dovecot"],
      ["smtpd_sasl_path", "private/auth"],
      ["smtpd_tls_auth_only", options.tlsAuthOnly === false ? "no" : "yes"],
      ...Object.entries(options.mainCf ?? {}),
    ];
    writeFileSync(join(etc, "main.cf"), mainCf(settings));
    writeFileSync(
      join(etc, "recipient_access"),
      "reject@ 550 5.1.1 recipient rejected by harness\ntempfail@ 452 4.2.2 mailbox full (harness)\n",
    );
    writeFileSync(
      join(etc, "header_checks"),
      "/^X-Harness-Reject:/ REJECT message refused by harness (X-Harness-Reject)\n",
    );
    const smtpd = (p: number, overrides: string[]): string =>
      [`${LOOPBACK}:${p} inet n - n - - smtpd`, ...overrides.map((o) => `  -o ${o}`)].join("\n");
    const master = [
      smtpd(port, options.starttls === false ? ["smtpd_tls_security_level=none"] : []),
      implicitTlsPort
        ? smtpd(implicitTlsPort, ["smtpd_tls_wrappermode=yes", "smtpd_tls_security_level=encrypt"])
        : "",
      submissionPort
        ? smtpd(submissionPort, [
            "smtpd_tls_security_level=encrypt",
            "smtpd_sasl_auth_enable=yes",
            "smtpd_tls_auth_only=yes",
            "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
          ])
        : "",
      readFileSync(POSTFIX_SERVICES, "utf8").trimEnd(),
      "",
    ]
      .filter((l) => l !== "")
      .join("\n");
    writeFileSync(join(etc, "master.cf"), `${master}\n`);
    // Postfix re-reads a "hot" file (modified within the last second or so) every 300 ms until it cools
    // down (util/load_file.c): date the files a minute back, or start-up takes ~2 s longer.
    const past = new Date(Date.now() - 60_000);
    for (const f of ["main.cf", "master.cf", "recipient_access", "header_checks"])
      utimesSync(join(etc, f), past, past);

    if (options.auth) {
      const socket = join(spool, "private", "auth");
      await waitUntil(
        () => {
          if (processes[0] && processes[0].exitCode !== null) {
            throw new Error(`dovecot exited (code ${processes[0].exitCode}): ${dovecotLog}`);
          }
          return existsSync(socket) && statSync(socket).isSocket() ? true : undefined;
        },
        remaining(),
        "Dovecot's auth socket",
        10,
      );
    }

    const masterProcess = launch(POSTFIX_MASTER, ["-c", etc, "-d"], postfixLog);
    watchdog = startWatchdog(
      processes.map((p) => p.pid ?? 0).filter((p) => p > 0),
      keepDir ? undefined : dir,
    );

    const checkMaster = (): void => {
      if (masterProcess.exitCode !== null || masterProcess.signalCode !== null) {
        throw new Error(
          `postfix master exited (code ${masterProcess.exitCode}) before listening: a port taken meanwhile, or a ` +
            `configuration error it could not log (SMTPKIT_HARNESS_KEEP=1 keeps ${etc} for "postfix -c DIR check"). ` +
            readLog(),
        );
      }
    };
    const ready = async (p: number, greeting: boolean): Promise<void> => {
      const t = remaining();
      await Promise.race([
        waitForListening(p, t, { expectGreeting: greeting }),
        waitUntil(
          () => {
            checkMaster();
            return undefined;
          },
          t + 1000,
          "master",
          50,
        ),
      ]);
    };
    await ready(port, true);
    if (submissionPort) await ready(submissionPort, true);
    if (implicitTlsPort) await ready(implicitTlsPort, false);

    const delivered = async (): Promise<DeliveredMessage[]> => {
      let names: string[];
      try {
        names = await readdir(maildirNew);
      } catch {
        return [];
      }
      const entries = await Promise.all(
        names.map(async (name) => {
          const path = join(maildirNew, name);
          const [raw, st] = await Promise.all([readFile(path), stat(path)]);
          return { path, raw, mtime: st.mtimeMs, name };
        }),
      );
      entries.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name));
      return entries.map(({ path, raw }) => ({
        path,
        raw,
        ...splitTraceHeaders(raw, (received) => received.includes("(Postfix)")),
      }));
    };

    return {
      host: LOOPBACK,
      port,
      ...(implicitTlsPort ? { implicitTlsPort } : {}),
      ...(submissionPort ? { submissionPort } : {}),
      ca: fixtureCa(),
      dir,
      users,
      mechanisms,
      pids: {
        master: masterProcess.pid ?? 0,
        ...(options.auth && processes[0]?.pid ? { dovecot: processes[0].pid } : {}),
      },
      delivered,
      waitForDelivery: async (n, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const list = await delivered();
          if (list.length >= n) return list;
          if (Date.now() >= deadline) {
            throw new Error(
              `timed out after ${timeoutMs} ms waiting for ${n} delivered message(s) (have ${list.length})\n${readLog().slice(-4000)}`,
            );
          }
          await sleep(25);
        }
      },
      clearDelivered: async () => {
        for (const name of await readdir(maildirNew).catch(() => [] as string[])) {
          await rm(join(maildirNew, name), { force: true });
        }
      },
      log: () => `${readLog()}${options.auth ? `\n--- dovecot ---\n${dovecotLog}` : ""}`,
      stop,
    };
  } catch (err) {
    const logs = `${readLog()}\n${dovecotLog}`;
    await stop();
    if (err instanceof Error && !err.message.includes("exited")) err.message += `\n${logs.slice(-4000)}`;
    throw err;
  }
}

// The benchmark's servers, on 127.0.0.1 with ports chosen at run time:
//  - Postfix's smtp-sink (PIPELINING, no CHUNKING; throws everything away), and
//  - a private Postfix instance (smtpd with PIPELINING, CHUNKING and STARTTLS) whose every transport is
//    discard(8), with its config, queue (on /dev/shm when there is one) and log in one temporary directory.
// Every process is started in its own process group and stopped by stopAll(), on exit and on signals too;
// a detached watchdog shell also stops them if this process dies without running its handlers (SIGKILL).
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const LOOPBACK = "127.0.0.1";
export const SMTP_SINK = "/usr/sbin/smtp-sink";
export const POSTFIX_MASTER = "/usr/lib/postfix/sbin/master";
const FIXTURES = fileURLToPath(new URL("../../test/helpers/fixtures/", import.meta.url));
export const CA_FILE = join(FIXTURES, "ca.pem");
/** Postfix's own services (master.cf lines), the same file as the test harness's Postfix. */
const POSTFIX_SERVICES = fileURLToPath(
  new URL("../../test/helpers/servers/postfix-services.cf", import.meta.url),
);

/** Why the bench cannot start its servers here, or undefined. */
export function serversUnavailableReason() {
  if (process.platform !== "linux") return "the benchmark needs Linux (Postfix's smtp-sink and master)";
  const missing = [SMTP_SINK, POSTFIX_MASTER].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    return `${missing.join(" and ")} missing: install Debian's postfix first, e.g.\n  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix`;
  }
  if (process.getuid?.() !== 0) {
    return "the benchmark must run as root: Postfix's master(8) starts as root and drops privileges, and smtp-sink needs -u";
  }
  if (lookupId("/etc/passwd", "postfix") === undefined)
    return "no postfix user (is the postfix package set up?)";
  if (!existsSync(join(FIXTURES, "localhost.pem"))) return `TLS fixtures missing under ${FIXTURES}`;
  return undefined;
}

// ---- process bookkeeping ----------------------------------------------------------------------------------

/** Process groups and directories to clean up. */
const groups = new Set();
const dirs = new Set();
let hooked = false;
let watchdog;

function cleanupSync() {
  for (const pgid of groups) {
    killQuietly(-pgid, "SIGTERM");
    killQuietly(pgid, "SIGTERM");
  }
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }
  groups.clear();
  dirs.clear();
}

function onSignal(signal) {
  cleanupSync();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

function hook() {
  if (hooked) return;
  hooked = true;
  process.on("exit", cleanupSync);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
}

/** A detached shell that, when this process dies (its stdin pipe closes), kills the groups and removes the dirs. */
function armWatchdog() {
  watchdog?.kill("SIGKILL");
  const script = [
    "read _",
    'for g in $BENCH_GROUPS; do kill -TERM "-$g" 2>/dev/null; done',
    "sleep 1",
    'for g in $BENCH_GROUPS; do kill -KILL "-$g" 2>/dev/null; done',
    'for d in $BENCH_DIRS; do rm -rf -- "$d"; done',
  ].join("\n");
  const child = spawn("/bin/sh", ["-c", script], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      BENCH_GROUPS: [...groups].join(" "),
      BENCH_DIRS: [...dirs].join(" "),
    },
  });
  child.on("error", () => {});
  child.stdin.on("error", () => {});
  child.unref();
  child.stdin.unref?.();
  watchdog = child;
}

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function launch(cmd, args, cwd) {
  hook();
  const log = { text: "" };
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", "pipe", "pipe"], cwd });
  const push = (d) => {
    log.text = (log.text + d.toString("utf8")).slice(-16384);
  };
  child.stdout.on("data", push);
  child.stderr.on("data", push);
  child.on("error", (err) => push(`spawn ${cmd} failed: ${err.message}\n`));
  child.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  if (child.pid) groups.add(child.pid);
  armWatchdog();
  return { child, log };
}

/** Stops a process group: SIGTERM, then SIGKILL after 3 s; waits until nothing of the group is left. */
async function stopGroup(child) {
  const pid = child.pid;
  if (!pid) return;
  if (child.exitCode === null && child.signalCode === null) {
    killQuietly(pid, "SIGTERM");
    const timer = setTimeout(() => killQuietly(-pid, "SIGKILL"), 3000);
    await child.exited;
    clearTimeout(timer);
  }
  for (let i = 0; i < 40 && isAlive(-pid); i++) {
    killQuietly(-pid, i < 20 ? "SIGTERM" : "SIGKILL");
    await sleep(50);
  }
  groups.delete(pid);
}

function lookupId(file, name) {
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name && f[2] !== undefined) return Number(f[2]);
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** A TCP port that was free a moment ago (for servers that cannot listen on port 0 themselves). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ port: 0, host: LOOPBACK, exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const running = (child) => child.exitCode === null && child.signalCode === null;

/**
 * Resolves when host:port accepts a connection and, unless `greeting` is false, answers with a 220 line;
 * rejects at the deadline or once `child` has exited.
 */
async function waitForServer(port, timeoutMs, child, { greeting = true } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = netConnect({ host: LOOPBACK, port });
      let buf = "";
      const done = (v) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(false), 2000);
      sock.once("error", () => done(false));
      sock.once("close", () => done(false));
      if (!greeting) sock.once("connect", () => done(true));
      sock.on("data", (d) => {
        buf += d.toString("latin1");
        if (buf.includes("\n")) {
          if (buf.startsWith("220")) sock.end("QUIT\r\n");
          done(buf.startsWith("220"));
        }
      });
    });
    if (ok) return;
    if (!running(child)) throw new Error("the server exited while starting");
    if (Date.now() > deadline)
      throw new Error(
        `${greeting ? "no SMTP greeting" : "nothing listening"} on ${LOOPBACK}:${port} after ${timeoutMs} ms`,
      );
    await sleep(50);
  }
}

// ---- smtp-sink ----------------------------------------------------------------------------------------------

/** smtp-sink on 127.0.0.1 (IPv4 only), running as nobody. Its EHLO offers PIPELINING but not CHUNKING. */
export async function startSmtpSink() {
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    // -4 IPv4 only, -u nobody (required as root), -h greeting name, -m max concurrent sessions, backlog 1024
    const { child, log } = launch(
      SMTP_SINK,
      ["-4", "-u", "nobody", "-h", "sink.bench.test", "-m", "256", `${LOOPBACK}:${port}`, "1024"],
      "/",
    );
    try {
      await waitForServer(port, 10_000, child);
      return {
        name: "smtp-sink",
        host: LOOPBACK,
        port,
        stop: () => stopGroup(child),
      };
    } catch (err) {
      lastError = new Error(`smtp-sink did not start: ${err.message}\n${log.text}`);
      await stopGroup(child);
    }
  }
  throw lastError;
}

// ---- redis-server -------------------------------------------------------------------------------------------

export const REDIS_SERVER = "/usr/bin/redis-server";

/** A private redis-server on 127.0.0.1 (AOF on, appendfsync everysec, no RDB) in its own directory. */
export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), "smtpkit-bench-redis-"));
  dirs.add(dir);
  const port = await freePort();
  const { child, log } = launch(
    REDIS_SERVER,
    [
      ...["--port", String(port), "--bind", LOOPBACK, "--dir", dir, "--logfile", ""],
      ...["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
    ],
    dir,
  );
  try {
    await waitForServer(port, 10_000, child, { greeting: false });
  } catch (err) {
    await stopGroup(child);
    removeDir(dir);
    throw new Error(`redis-server did not start: ${err.message}\n${log.text}`);
  }
  return {
    url: `redis://${LOOPBACK}:${port}`,
    stop: async () => {
      await stopGroup(child);
      removeDir(dir);
    },
  };
}

// ---- Postfix ------------------------------------------------------------------------------------------------

function mkdirOwned(path, uid, gid, mode) {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
}

/**
 * A private Postfix: smtpd on 127.0.0.1:<free port> with PIPELINING, CHUNKING and STARTTLS (fixture
 * certificate for "localhost", signed by test/helpers/fixtures/ca.pem); every recipient is accepted and
 * every message is queued (on tmpfs) and then goes to discard(8). With `proxyTo` (an smtp-sink port), a
 * second smtpd port passes each transaction straight on to that sink instead (smtpd_proxy_filter).
 * Anti-abuse throttles are off so the benchmark measures the client.
 */
export async function startPostfix(options = {}) {
  const postfixUid = lookupId("/etc/passwd", "postfix");
  const postfixGid = lookupId("/etc/group", "postfix");
  const postdropGid = lookupId("/etc/group", "postdrop") ?? postfixGid;
  if (postfixUid === undefined || postfixGid === undefined) throw new Error("no postfix user or group");
  // the queue on tmpfs: cleanup(8) fsyncs every queue file, and a disk would then measure the disk
  const base = existsSync("/dev/shm") && statSync("/dev/shm").isDirectory() ? "/dev/shm" : tmpdir();
  const dir = mkdtempSync(join(base, "smtpkit-bench-postfix-"));
  hook();
  dirs.add(dir);
  chmodSync(dir, 0o755);
  const etc = join(dir, "etc");
  const spool = join(dir, "spool");
  const data = join(dir, "data");
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

  const port = await freePort();
  let proxyPort;
  while (options.proxyTo && (proxyPort === undefined || proxyPort === port)) proxyPort = await freePort();
  let dataPort;
  while (dataPort === undefined || dataPort === port || dataPort === proxyPort) dataPort = await freePort();
  const settings = [
    ["compatibility_level", "3.6"],
    ["queue_directory", spool],
    ["data_directory", data],
    ["command_directory", "/usr/sbin"],
    ["daemon_directory", "/usr/lib/postfix/sbin"],
    ["shlib_directory", "/usr/lib/postfix"],
    ["meta_directory", "/etc/postfix"],
    ["mail_owner", "postfix"],
    ["setgid_group", "postdrop"],
    ["myhostname", "mx.bench.test"],
    ["mydomain", "bench.test"],
    ["myorigin", "$mydomain"],
    ["mydestination", "bench.test"],
    ["inet_interfaces", LOOPBACK],
    ["inet_protocols", "ipv4"],
    ["mynetworks", "127.0.0.0/8"],
    ["maillog_file", join(dir, "maillog")],
    ["maillog_file_prefixes", dir],
    ["syslog_name", "postfix-bench"],
    ["smtpd_banner", "$myhostname ESMTP Postfix (smtpkit bench)"],
    ["biff", "no"],
    ["append_dot_mydomain", "no"],
    ["readme_directory", "no"],
    ["alias_maps", ""],
    ["alias_database", ""],
    ["local_recipient_maps", ""],
    ["local_header_rewrite_clients", ""],
    // every address class is thrown away
    ["local_transport", "discard:bench"],
    ["default_transport", "discard:bench"],
    ["relay_transport", "discard:bench"],
    ["virtual_transport", "discard:bench"],
    ["message_size_limit", String(100 * 1024 * 1024)],
    ["mailbox_size_limit", "0"],
    ["smtputf8_enable", "yes"],
    ["smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"],
    ["smtpd_recipient_restrictions", "permit"],
    // no throttling of a busy client
    ["in_flow_delay", "0"],
    ["smtpd_error_sleep_time", "0"],
    ["smtpd_soft_error_limit", "1000"],
    ["smtpd_hard_error_limit", "1000"],
    ["smtpd_junk_command_limit", "100000"],
    ["smtpd_recipient_limit", "1000"],
    ["smtpd_client_connection_count_limit", "0"],
    ["smtpd_client_connection_rate_limit", "0"],
    ["smtpd_client_message_rate_limit", "0"],
    ["smtpd_client_recipient_rate_limit", "0"],
    ["smtpd_client_new_tls_session_rate_limit", "0"],
    ["smtpd_peername_lookup", "no"],
    ["default_process_limit", "200"],
    // STARTTLS with the test fixtures
    ["smtpd_tls_security_level", "may"],
    ["smtpd_tls_cert_file", join(FIXTURES, "localhost.pem")],
    ["smtpd_tls_key_file", join(FIXTURES, "localhost.key")],
    ["smtpd_tls_protocols", ">=TLSv1.2"],
    ["smtpd_tls_mandatory_protocols", ">=TLSv1.2"],
    ["smtpd_tls_loglevel", "0"],
    ["smtpd_sasl_auth_enable", "no"],
  ];
  writeFileSync(join(etc, "main.cf"), `${settings.map(([k, v]) => `${k} = ${v}`).join("\n")}\n`);
  const master = [
    `${LOOPBACK}:${port} inet n - n - - smtpd`,
    // the same smtpd, but each transaction goes on to smtp-sink as it arrives (a before-queue proxy
    // filter): no queue file, no cleanup/qmgr/discard work per message
    ...(proxyPort
      ? [
          `${LOOPBACK}:${proxyPort} inet n - n - - smtpd`,
          `  -o smtpd_proxy_filter=${LOOPBACK}:${options.proxyTo}`,
        ]
      : []),
    // the same smtpd and queue without CHUNKING: the client sends DATA (the BDAT vs DATA comparison)
    `${LOOPBACK}:${dataPort} inet n - n - - smtpd`,
    "  -o smtpd_discard_ehlo_keywords=chunking",
    readFileSync(POSTFIX_SERVICES, "utf8").trimEnd(),
  ];
  writeFileSync(join(etc, "master.cf"), `${master.join("\n")}\n`);

  // master -d: stay in the foreground (our child, in its own process group); -c: our config directory
  const { child, log } = launch(POSTFIX_MASTER, ["-c", etc, "-d"], dir);
  const readLog = () => {
    let text = log.text;
    try {
      text += readFileSync(join(dir, "maillog"), "utf8").slice(-8192);
    } catch {
      // not written yet
    }
    return text;
  };
  try {
    await waitForServer(port, 20_000, child);
    if (proxyPort) await waitForServer(proxyPort, 20_000, child);
    await waitForServer(dataPort, 20_000, child);
  } catch (err) {
    const text = readLog();
    await stopGroup(child);
    removeDir(dir);
    throw new Error(`Postfix did not start: ${err.message}\n${text}`);
  }
  let stopping;
  return {
    name: "postfix",
    host: LOOPBACK,
    /** queue → discard(8) */
    port,
    /** before-queue proxy filter → smtp-sink (with options.proxyTo) */
    proxyPort,
    /** queue → discard(8), CHUNKING not offered */
    dataPort,
    dir,
    log: readLog,
    stop() {
      stopping ??= (async () => {
        await stopGroup(child);
        removeDir(dir);
      })();
      return stopping;
    },
  };
}

function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort
  }
  dirs.delete(dir);
}

/** Stops the watchdog once everything was stopped cleanly. */
export function disarmWatchdog() {
  if (groups.size === 0 && dirs.size === 0) {
    watchdog?.kill("SIGKILL");
    watchdog = undefined;
  }
}

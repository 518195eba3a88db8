// `smtpkit probe`: what a server speaks — greeting, extensions and auth before and after TLS, the TLS
// version and cipher, the certificate and whether it verifies, and the SPKI SHA-256 pin.
import { createHash, X509Certificate } from "node:crypto";
import type tls from "node:tls";
import { explainOpening, planConnection } from "../api/connect.js";
import { openSocket } from "../api/open-socket.js";
import { SMTP } from "../client/smtp.js";
import { describeReply, SMTPError } from "../errors.js";
import type { Reply } from "../types.js";
import { ACCOUNT_FLAGS, ACCOUNT_HELP, applyAccount, PASSWORD_COMMAND_HELP } from "./account.js";
import {
  authName,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionOptions,
  describeFailure,
  failureJson,
  hintOnSilence,
  parse,
  Transcript,
} from "./common.js";
import { EXIT } from "./exit-codes.js";

/** `smtpkit probe --help`. */
export const PROBE_HELP = `smtpkit probe: what a server speaks

  smtpkit probe --host H [--port P] [--security MODE] [--tls-ca FILE] [--insecure] [--timeout MS]
                [--client-name NAME] [--lmtp] [--verbose] [--json]
  smtpkit probe --account NAME [--config FILE]

${CONNECTION_HELP}
${ACCOUNT_HELP}
${PASSWORD_COMMAND_HELP}

Reports the greeting, the EHLO extensions and AUTH mechanisms before and after TLS, the TLS version,
cipher and key exchange, the certificate (subject, issuer, validity, names), whether it verifies (and
why not), and the SHA-256 of its public key (SPKI, base64: the value used for key pinning).
probe sends no credentials, so it completes the handshake even when the certificate does not verify,
to report on it; it then exits 29, as it does when required STARTTLS is missing.`;

/** What one session tells about a server's hello. */
export interface HelloReport {
  extensions: string[];
  /** Mechanisms the server advertises. */
  auth: string[];
  /** Of those, the ones smtpkit implements, strongest first. */
  usableAuth: string[];
  starttls: boolean;
}

/** The probe's findings (the --json output). */
export interface ProbeReport {
  host: string;
  port: number;
  address: string | undefined;
  security: string;
  greeting: Reply | undefined;
  /** The hello in clear (null with implicit TLS). */
  beforeTls: HelloReport | null;
  tls: TLSReport | null;
  /** The hello after TLS (null when there was no TLS). */
  afterTls: HelloReport | null;
  /** With --json, when the probe failed: the error object (see `smtpkit send --json`). */
  error?: unknown;
}

/** The TLS channel and the server's certificate. */
export interface TLSReport {
  via: "implicit" | "STARTTLS";
  protocol: string | null;
  cipher: string;
  keyExchange: string | null;
  verified: boolean;
  verificationError: string | null;
  certificate: {
    subject: string;
    issuer: string;
    validFrom: string;
    validTo: string;
    subjectAltName: string | null;
    serialNumber: string;
    fingerprintSha256: string;
    /** base64(SHA-256(SubjectPublicKeyInfo DER)), the HPKP/pinning form. */
    spkiSha256: string;
  } | null;
}

/** Runs `smtpkit probe`; resolves with the exit status. */
export async function runProbe(argv: string[]): Promise<number> {
  const values = parse(argv, { ...CONNECTION_FLAGS, ...ACCOUNT_FLAGS });
  if (values.help === true) {
    process.stdout.write(`${PROBE_HELP}\n`);
    return EXIT.OK;
  }
  applyAccount(values); // --account/--config: the account's host, port, TLS settings (flags win)
  const options = connectionOptions(values, process.stderr);
  const plan = planConnection(options);
  const transcript = new Transcript(values.verbose === true ? process.stderr : undefined);
  const report: ProbeReport = {
    host: plan.host,
    port: plan.port,
    address: undefined,
    security: plan.security,
    greeting: undefined,
    beforeTls: null,
    tls: null,
    afterTls: null,
  };
  let smtp: SMTP | undefined;
  let failure: string | undefined;
  // the probe reports on the certificate instead of refusing it; it sends nothing secret
  const tlsOptions: tls.ConnectionOptions = { ...plan.tls, rejectUnauthorized: false };
  const cancelHint = hintOnSilence(transcript, options, process.stderr);
  try {
    const socket = await openSocket(plan.host, plan.port, plan.connectTimeout);
    report.address = socket.remoteAddress;
    let greeting: Reply | undefined;
    const session: SMTP = new SMTP({
      clientName: options.clientName,
      lmtp: options.lmtp,
      timeouts: options.timeouts,
      logger: (entry) => {
        // the first server reply is the greeting (lastReply moves on if the server declines and QUIT follows)
        if (greeting === undefined && entry.direction === "S") greeting = session.lastReply;
        transcript.logger(entry);
      },
    });
    smtp = session;
    const implicit = plan.security === "tls";
    const greeted = await (implicit ? session.connectTLS(socket, tlsOptions) : session.connect(socket)).catch(
      (error: unknown) => {
        throw explainOpening(error, plan);
      },
    );
    report.greeting = greeting ?? session.lastReply;
    if (!greeted) {
      throw new SMTPError(
        "ECONNECTION",
        `declined: ${describeReply(session.lastReply ?? report.greeting!)}`,
        {
          stage: report.greeting?.code === 220 ? "EHLO" : "GREETING",
        },
      );
    }
    if (implicit) {
      report.tls = tlsReport(session, "implicit");
      report.afterTls = helloReport(session);
    } else {
      report.beforeTls = helloReport(session);
      if (report.beforeTls.starttls && plan.security !== "none") {
        if (!(await session.startTLS(tlsOptions))) {
          throw new SMTPError("ETLS", `STARTTLS refused: ${describeReply(session.lastReply!)}`, {
            stage: "STARTTLS",
          });
        }
        report.tls = tlsReport(session, "STARTTLS");
        report.afterTls = helloReport(session);
      } else if (plan.security === "starttls") {
        failure = `TLS failed: the server does not offer STARTTLS (use --security tls on port 465, if it has one)`;
      }
    }
    if (report.tls && !report.tls.verified && plan.tls.rejectUnauthorized !== false) {
      failure =
        `TLS failed: the certificate does not verify (${report.tls.verificationError}), so a client would ` +
        `refuse it: ${plan.tls.ca ? "" : "pass its CA with --tls-ca if it is a private one, or "}connect by a name it carries`;
    }
  } catch (error) {
    const { line, exitCode } = describeFailure("probe", error, transcript);
    if (values.json === true) {
      report.error = (JSON.parse(failureJson(error, line, exitCode)) as { error: unknown }).error;
    }
    printReport(report, values.json === true);
    process.stderr.write(`${line}\n`);
    return exitCode;
  } finally {
    cancelHint();
    await smtp?.close().catch(() => undefined);
  }
  printReport(report, values.json === true);
  if (failure !== undefined) {
    process.stderr.write(`smtpkit probe: ${failure}\n`);
    return EXIT.TLS;
  }
  return EXIT.OK;
}

function helloReport(smtp: SMTP): HelloReport {
  const extensions = smtp.getServerOptions();
  const authLine = extensions.find((l) => /^AUTH[ =]/i.test(l));
  return {
    extensions,
    auth: authLine ? authLine.slice(5).trim().split(/\s+/).filter(Boolean) : [],
    usableAuth: smtp.getAuthTypes().map(authName),
    starttls: extensions.some((l) => /^STARTTLS$/i.test(l.trim())),
  };
}

function tlsReport(smtp: SMTP, via: TLSReport["via"]): TLSReport {
  const socket = smtp.tlsSocket!;
  const peer = socket.getPeerCertificate();
  const raw = peer && "raw" in peer && peer.raw ? peer.raw : undefined;
  let certificate: TLSReport["certificate"] = null;
  if (raw) {
    const x509 = new X509Certificate(raw);
    const spki = x509.publicKey.export({ type: "spki", format: "der" });
    certificate = {
      subject: x509.subject.replace(/\n/g, ", "),
      issuer: x509.issuer.replace(/\n/g, ", "),
      validFrom: new Date(x509.validFrom).toISOString(),
      validTo: new Date(x509.validTo).toISOString(),
      subjectAltName: x509.subjectAltName ?? null,
      serialNumber: x509.serialNumber,
      fingerprintSha256: x509.fingerprint256,
      spkiSha256: createHash("sha256").update(spki).digest("base64"),
    };
  }
  const ephemeral = socket.getEphemeralKeyInfo();
  const keyExchange =
    ephemeral && "type" in ephemeral && ephemeral.type
      ? `${ephemeral.name ?? ephemeral.type}${ephemeral.size ? ` (${ephemeral.size} bits)` : ""}`
      : null;
  const error = socket.authorizationError as unknown;
  return {
    via,
    protocol: socket.getProtocol(),
    cipher: socket.getCipher()?.standardName ?? socket.getCipher()?.name ?? "?",
    keyExchange,
    // with rejectUnauthorized false Node still checks the chain and the host name; it only does not abort
    verified: socket.authorized,
    verificationError:
      socket.authorized || error === undefined || error === null
        ? null
        : error instanceof Error
          ? ((error as NodeJS.ErrnoException).code ?? error.message)
          : String(error),
    certificate,
  };
}

function printReport(report: ProbeReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const rows: string[] = [];
  const row = (label: string, value: string): number => rows.push(`${label.padEnd(14)}${value}`);
  row(
    "server",
    `${report.host}:${report.port}${report.address ? ` (${report.address})` : ""}, security ${report.security}`,
  );
  if (report.greeting) row("greeting", `${report.greeting.code} ${report.greeting.lines.join(" / ")}`);
  const hello = (title: string, h: HelloReport | null): void => {
    if (!h) return;
    rows.push(title);
    row("  extensions", h.extensions.length > 0 ? h.extensions.join(", ") : "(none: HELO only)");
    row(
      "  auth",
      h.auth.length > 0
        ? `${h.auth.join(" ")} (smtpkit can use: ${h.usableAuth.join(" ") || "none"})`
        : "(not offered)",
    );
  };
  hello("before TLS", report.beforeTls);
  if (report.tls) {
    const t = report.tls;
    rows.push(`TLS (${t.via})`);
    row(
      "  version",
      `${t.protocol ?? "?"}, cipher ${t.cipher}${t.keyExchange ? `, key exchange ${t.keyExchange}` : ""}`,
    );
    if (t.certificate) {
      const c = t.certificate;
      row("  subject", c.subject);
      row("  issuer", c.issuer);
      row("  valid", `${c.validFrom} to ${c.validTo}`);
      row("  names", c.subjectAltName ?? "(no subjectAltName)");
      row("  verifies", t.verified ? "yes (chain and host name)" : `NO: ${t.verificationError ?? "unknown"}`);
      row("  SPKI sha256", c.spkiSha256);
      row("  cert sha256", c.fingerprintSha256);
    }
  } else if (report.beforeTls) {
    row("TLS", report.beforeTls.starttls ? "STARTTLS offered, not used (--security none)" : "not offered");
  }
  hello("after TLS", report.afterTls);
  process.stdout.write(`${rows.join("\n")}\n`);
}

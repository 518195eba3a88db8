#!/usr/bin/env node
// The smtpkit command: dispatch to a subcommand, print one line on stderr on failure, set the exit status.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { CliError, describeFailure, failureJson } from "./common.js";
import { runDemo } from "./demo.js";
import { EXIT, EXIT_HELP } from "./exit-codes.js";
import { runProbe } from "./probe.js";
import { runSend } from "./send.js";
import { runSendmail } from "./sendmail.js";

const HELP = `smtpkit: an SMTP client

  smtpkit send   --host H [--port P] [--security starttls|tls|starttls-if-offered|none]
                 [--tls-ca FILE] [--insecure] [--timeout MS] [--client-name NAME] [--lmtp]
                 [--user U] [--password-env VAR | --password-file F | --password-command CMD]
                 [--oauth2-provider google|microsoft | --oauth2-token-url URL] [--oauth2-client-id ID ...]
                 [--auth plain|login|xoauth2|oauthbearer|...]
                 --from A --to B [--to C] [--cc D] [--bcc E] --subject S
                 [--body TEXT | --body-file F | (stdin)] [--verbose] [--json]
  smtpkit probe  --host H [--port P] [--security ...] [--tls-ca FILE] [--insecure] [--timeout MS]
                 [--client-name NAME] [--lmtp] [--verbose] [--json]
                 greeting, extensions, auth before and after TLS, TLS version/cipher/certificate, SPKI pin
  smtpkit sendmail [-t] [-i] [-f FROM] [-F NAME] [--account NAME] [--config FILE] [recipient...]
                 the message on stdin, sendmail(8) style, msmtprc accounts, sysexits; also the mode
                 when started as "sendmail" (a symlink)
  smtpkit outbox work --redis URL [--concurrency N] (the connection flags of send)
                 a worker for the durable outbox (smtpkit/outbox); smtpkit outbox status ID --redis URL
  smtpkit demo   an embedded loopback SMTP server; one message through STARTTLS + AUTH; prints the
                 transcript and the message as the server received it (no network needed)

  smtpkit COMMAND --help    the options of one command
  smtpkit --version

Security: the default is STARTTLS, required (port 587), or implicit TLS on port 465; certificates are
verified; credentials are never sent in clear; passwords are never taken from the command line.

Exit status (the SMTP stage numbers are swaks's):
${EXIT_HELP.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`).join("\n")}
  130  interrupted at the password prompt`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  send: runSend,
  probe: runProbe,
  demo: runDemo,
  sendmail: runSendmail,
  outbox: async (argv) => (await import("./outbox.js")).runOutbox(argv), // loads bullmq only when used
};

/** Runs the CLI with `argv` (without node and the script); resolves with the exit status. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`${version()}\n`);
    return EXIT.OK;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(
      `smtpkit: unknown command "${command}" (send, probe, sendmail, demo; see smtpkit --help)\n`,
    );
    return EXIT.USAGE;
  }
  try {
    return await run(rest);
  } catch (error) {
    // usage and input errors, and anything unexpected; SMTP failures are reported by the subcommands
    const { line, exitCode } = describeFailure(command, error, undefined);
    process.stderr.write(`${line}\n`);
    // a usage error found while reading the flags: --json still gets its error object
    if (rest.includes("--json")) process.stdout.write(`${failureJson(error, line, exitCode)}\n`);
    if (!(error instanceof CliError) && process.env.SMTPKIT_DEBUG && error instanceof Error) {
      process.stderr.write(`${error.stack}\n`);
    }
    return exitCode;
  }
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return `smtpkit ${pkg.version ?? "?"}`;
  } catch {
    return "smtpkit";
  }
}

/** Started under the name "sendmail" (a symlink, as MUAs and /usr/sbin/sendmail expect): sendmail mode. */
const asSendmail = basename(process.argv[1] ?? "") === "sendmail";

// no top-level await: the package stays loadable through require(esm)
(asSendmail ? runSendmail(process.argv.slice(2)) : main(process.argv.slice(2))).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`smtpkit: ${String(error)}\n`);
    process.exitCode = EXIT.OTHER;
  },
);

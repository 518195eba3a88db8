// `smtpkit outbox work|status`: run an outbox worker (graceful on SIGTERM and SIGINT: messages in flight
// finish, nothing new is picked up), or print one message's status. Loaded on demand by main.ts, so the
// other subcommands never load bullmq.
import { createOutbox, type OutboxEvent, type OutboxEventName } from "../outbox/index.js";
import { ACCOUNT_FLAGS, ACCOUNT_HELP, applyAccount } from "./account.js";
import {
  CliError,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionOptions,
  parse,
  parseWithPositionals,
  str,
  Transcript,
} from "./common.js";
import {
  CREDENTIAL_FLAGS,
  CREDENTIAL_HELP,
  credentialFlags,
  credentials,
  NO_PASSWORD_FLAG,
  refusePasswordFlag,
} from "./credentials.js";
import { EXIT } from "./exit-codes.js";

export const OUTBOX_HELP = `smtpkit outbox: a durable outbox on Redis (BullMQ)

  smtpkit outbox work   (--redis URL | --redis-env VAR) [--queue NAME] [--concurrency N] --host H [--port P] [--security MODE]
                        [--user U [--password-env VAR | --password-file F | --password-command CMD | --oauth2-...]]
                        [--auth MECH] [--account NAME] [--config FILE]
  smtpkit outbox status ID (--redis URL | --redis-env VAR) [--queue NAME]

  --redis URL            redis://host:port (rediss:// for TLS); a URL with a password is refused here
  --redis-env VAR        the Redis URL is in environment variable VAR (the way to give a password)
  --queue NAME           the queue, one per relay (default smtpkit)
  --concurrency N        messages in flight in this worker (default 10)
${CONNECTION_HELP}
${CREDENTIAL_HELP}
${ACCOUNT_HELP}

work runs until SIGTERM or SIGINT, then finishes the messages in flight and exits 0; with --verbose it
prints one line per outcome (sent, retrying, failed, deliveryUnknown). status prints the message's state as
JSON, or exits 1 when no message has that id (never enqueued, or finished more than 24 h ago).

${NO_PASSWORD_FLAG}`;

const WORK_FLAGS = {
  ...CONNECTION_FLAGS,
  redis: { type: "string" },
  "redis-env": { type: "string" },
  queue: { type: "string" },
  concurrency: { type: "string" },
  ...CREDENTIAL_FLAGS,
  ...ACCOUNT_FLAGS,
} as const;

const EVENTS: OutboxEventName[] = ["sent", "retrying", "failed", "deliveryUnknown"];

/** Runs `smtpkit outbox ...`; resolves with the exit status. */
export async function runOutbox(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "work") return work(rest);
  if (sub === "status") return status(rest);
  if (sub === "--help" || sub === "-h" || sub === undefined) {
    process.stdout.write(`${OUTBOX_HELP}\n`);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  throw new CliError(EXIT.USAGE, `unknown outbox command "${sub}" (work, status; see smtpkit outbox --help)`);
}

async function work(argv: string[]): Promise<number> {
  refusePasswordFlag(argv);
  const values = parse(argv, WORK_FLAGS);
  if (values.help === true) {
    process.stdout.write(`${OUTBOX_HELP}\n`);
    return EXIT.OK;
  }
  const redis = redisUrl(str(values, "redis"), str(values, "redis-env"));
  const concurrencyText = str(values, "concurrency") ?? "10";
  const concurrency = Number(concurrencyText);
  if (!(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new CliError(EXIT.USAGE, `--concurrency ${concurrencyText} is not a positive whole number`);
  }
  const account = applyAccount(values); // --account/--config fill the flags not given
  if (account?.fingerprint !== undefined) {
    throw new CliError(
      EXIT.CONFIG,
      `${account.file}: tls_fingerprint is not supported by outbox work (its pool verifies certificates by CA ` +
        "and host name): remove it, or give the CA with tls_trust_file",
    );
  }
  const options = connectionOptions(values, process.stderr);
  const login = credentialFlags(values, account, options.host);
  const verbose = values.verbose === true;
  const transcript = new Transcript(undefined);
  const auth = login === undefined ? undefined : await credentials(values, login, transcript);
  const outbox = createOutbox({ redis, queue: str(values, "queue"), relay: { ...options, auth } });
  if (verbose) {
    for (const name of EVENTS) {
      outbox.on(name, (event: OutboxEvent) => {
        const error = event.error === undefined ? "" : ` ${transcript.scrub(event.error)}`;
        process.stdout.write(`${name} ${event.id} ${event.messageId} attempts=${event.attempts}${error}\n`);
      });
    }
  }
  const worker = outbox.work({ concurrency });
  process.stderr.write(
    `smtpkit outbox: working on queue ${str(values, "queue") ?? "smtpkit"} (concurrency ${concurrency}); SIGTERM or Ctrl-C stops after the messages in flight\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  await worker.close();
  await outbox.close();
  return EXIT.OK;
}

/**
 * The Redis URL from --redis (no password: the argument list is visible to every user, ps) or from the
 * environment variable --redis-env names.
 */
function redisUrl(flag: string | undefined, envName: string | undefined): string {
  if ((flag === undefined) === (envName === undefined)) {
    throw new CliError(EXIT.USAGE, "give --redis URL or --redis-env VAR (see --help)");
  }
  if (envName !== undefined) {
    const value = process.env[envName];
    if (value === undefined || value === "") {
      throw new CliError(EXIT.CONFIG, `--redis-env ${envName}: the environment variable is not set`);
    }
    return value;
  }
  let password = "";
  try {
    password = new URL(flag!).password;
  } catch {
    throw new CliError(EXIT.USAGE, "--redis is not a URL (redis://host:port)");
  }
  if (password !== "") {
    throw new CliError(
      EXIT.USAGE,
      "--redis with a password is refused: the argument list is visible to every user of this machine; put the URL in an environment variable and use --redis-env VAR",
    );
  }
  return flag!;
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parseWithPositionals(argv, STATUS_FLAGS);
  if (values.help === true) {
    process.stdout.write(`${OUTBOX_HELP}\n`);
    return EXIT.OK;
  }
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0) throw new CliError(EXIT.USAGE, "give exactly one message id");
  const redis = redisUrl(str(values, "redis"), str(values, "redis-env"));
  const outbox = createOutbox({ redis, queue: str(values, "queue") });
  try {
    const found = await outbox.status(id);
    if (found === undefined) {
      process.stderr.write(`smtpkit outbox status: no message with id ${JSON.stringify(id)}\n`);
      return EXIT.OTHER;
    }
    process.stdout.write(`${JSON.stringify(found)}\n`);
    return EXIT.OK;
  } finally {
    await outbox.close();
  }
}

const STATUS_FLAGS = {
  redis: { type: "string" },
  "redis-env": { type: "string" },
  queue: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

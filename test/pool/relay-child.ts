// The relay server in a process of its own, for timing tests: its timestamps are not delayed by the
// client's event loop. Forked by startRelayProcess(); answers "mails" with every MAIL FROM's arrival time.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startRelayServer } from "./relay-server.js";

export interface RelayProcess {
  port: number;
  /** Arrival times (the child's clock, ms) and sessions of every MAIL FROM so far. */
  mails(): Promise<{ session: number; at: number }[]>;
  stop(): void;
}

/** Forks this file as a relay server process (default hooks) and waits for its port. */
export async function startRelayProcess(): Promise<RelayProcess> {
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m: { port: number }) => resolve(m.port));
    child.once("exit", (code) => reject(new Error(`relay child exited with ${code}`)));
  });
  return {
    port,
    mails: () =>
      new Promise((resolve) => {
        child.once("message", (m: { mails: { session: number; at: number }[] }) => resolve(m.mails));
        child.send("mails");
      }),
    stop: () => child.kill(),
  };
}

if (process.argv.includes("--serve")) {
  const server = await startRelayServer({}, false);
  process.on("message", () => process.send!({ mails: server.mails }));
  process.on("disconnect", () => process.exit(0));
  process.send!({ port: server.port });
}

// Servers a test file starts, stopped after all its tests: call testServers() once, at the top of the file.
import { after } from "node:test";
import {
  checkScriptsAfterEachTest,
  type ScriptServer,
  type Step,
  startScriptServer,
} from "./script-server.js";
import {
  type SmtpServerHarness,
  type SmtpServerHarnessOptions,
  startSmtpServer,
} from "./servers/smtp-server.js";

export interface TestServers {
  /** An smtp-server harness, stopped after the file's tests. */
  harness(options: SmtpServerHarnessOptions): Promise<SmtpServerHarness>;
  /** A scripted server, closed after the file's tests. */
  script(steps: Step[]): Promise<ScriptServer>;
  /** Anything else to undo after the file's tests. */
  defer(cleanup: () => void | Promise<void>): void;
}

/** Registers an `after` hook that runs every cleanup, the last registered first. */
export function testServers(): TestServers {
  const cleanups: (() => void | Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  checkScriptsAfterEachTest(); // its after-the-file check runs once the servers are closed
  const defer = (cleanup: () => void | Promise<void>): void => {
    cleanups.push(cleanup);
  };
  return {
    async harness(options) {
      const server = await startSmtpServer(options);
      defer(() => server.stop());
      return server;
    },
    async script(steps) {
      const server = await startScriptServer(steps);
      defer(() => server.close());
      return server;
    },
    defer,
  };
}

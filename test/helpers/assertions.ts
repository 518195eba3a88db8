// Assertions shared by the API tests: an SMTPError rejection with a given code and stage, and a server
// whose client has closed its socket.
import assert from "node:assert/strict";
import { SMTPError } from "../../src/index.js";
import { waitUntil } from "./servers/common.js";
import type { SmtpServerHarness } from "./servers/smtp-server.js";

/** `promise` rejects with an SMTPError of `code` (and `stage`, if given); returns that error. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  stage?: string,
): Promise<SMTPError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SMTPError, `expected SMTPError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (stage !== undefined) assert.equal(error.stage, stage, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** The server's open connections drop to zero: the client closed its socket. */
export function noConnectionsLeft(server: SmtpServerHarness): Promise<true> {
  const connections = (server.server as unknown as { connections: Set<unknown> }).connections;
  return waitUntil(() => (connections.size === 0 ? true : undefined), 3000, "the client to close its socket");
}

// A rejection that must arrive inside a time window: the deadline tests of the client.
import assert from "node:assert/strict";
import type { SMTPError } from "../../src/index.js";
import { rejectsWith } from "./assertions.js";

/**
 * `start()` rejects with an SMTPError of `code` (and `stage`, if given) no sooner than `atLeastMs` and
 * before `belowMs` after it was called; returns that error.
 */
export async function rejectsWithin(
  start: () => Promise<unknown>,
  code: string,
  stage: string | undefined,
  atLeastMs: number,
  belowMs: number,
): Promise<SMTPError> {
  const started = Date.now();
  const error = await rejectsWith(start(), code, stage);
  const took = Date.now() - started;
  assert.ok(took >= atLeastMs && took < belowMs, `took ${took} ms`);
  return error;
}

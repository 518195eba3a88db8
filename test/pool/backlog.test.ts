// The pool's waiting messages (src/pool/backlog.ts) on a synthetic clock: submission order kept through
// put-backs, and throttled messages timed out exactly throttleTimeout after they were first held back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Backlog, type Waiting } from "../../src/pool/backlog.js";

const TIMEOUT = 1000;
const job = (seq: number): Waiting => ({ seq });

describe("pool backlog", () => {
  test("a message put back after a throttling reply times out throttleTimeout later, the others stay", () => {
    const backlog = new Backlog<Waiting>(TIMEOUT);
    for (let i = 0; i < 4; i++) backlog.push(job(i));
    assert.equal(backlog.nextTimeout(0), Number.POSITIVE_INFINITY);
    const first = backlog.shift()!;
    // refused by a 454 at t=100: back to the front, throttled
    first.throttledAt = 100;
    first.throttleError = "454";
    backlog.putBack(first);
    assert.equal(backlog.nextTimeout(600), 500);
    assert.deepEqual(backlog.removeTimedOut(1099), []);
    assert.deepEqual(
      backlog.removeTimedOut(1100).map((j) => j.seq),
      [0],
    );
    assert.equal(backlog.nextTimeout(1100), Number.POSITIVE_INFINITY);
    assert.deepEqual(
      backlog.drain().map((j) => j.seq),
      [1, 2, 3],
    );
  });

  test("a refused connection holds back every waiting message once; one that starts is no longer counted", () => {
    const backlog = new Backlog<Waiting>(TIMEOUT);
    for (let i = 0; i < 3; i++) backlog.push(job(i));
    backlog.throttleAll(0, "421");
    backlog.push(job(3)); // submitted after the refusal: not held back
    backlog.throttleAll(500, "421 again"); // only the new one: the others keep their first time
    const started = backlog.shift()!;
    assert.equal(started.throttledAt, 0);
    assert.equal(backlog.timedOut(started, 999), false);
    assert.equal(backlog.timedOut(started, 1000), true);
    const timedOut = backlog.removeTimedOut(1000);
    assert.deepEqual(
      timedOut.map((j) => [j.seq, j.throttleError]),
      [
        [1, "421"],
        [2, "421"],
      ],
    );
    assert.equal(backlog.nextTimeout(1000), 500);
    assert.deepEqual(
      backlog.removeTimedOut(1500).map((j) => j.seq),
      [3],
    );
    assert.equal(backlog.length, 0);
    assert.equal(backlog.nextTimeout(1500), Number.POSITIVE_INFINITY);
  });
});

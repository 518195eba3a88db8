import type { SMTPError } from "../errors.js";
import type { Connection } from "../transport/connection.js";

/** What to do after a chunk: nothing, wait (backpressure), or stop reading the source. */
export type ChunkStep = Promise<void> | undefined | false;

/**
 * Feeds every chunk of a message source to `each`, awaiting what it returns (backpressure). An in-memory
 * source (an array of views) is walked directly. An async source is raced against the connection: if the
 * connection fails (a data deadline, the server gone) while the source is stalled, this rejects with that
 * failure at once instead of waiting for a chunk that may never come, and the source is told to stop.
 * A source error is thrown as it is; the caller decides what it means.
 */
export async function forEachChunk(
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  connection: Connection,
  each: (chunk: Uint8Array) => ChunkStep,
): Promise<void> {
  if (!(Symbol.asyncIterator in source)) {
    for (const chunk of source) {
      const step = each(chunk);
      if (step === false) return;
      if (step) await step;
    }
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  // One failure listener for the whole loop, rejecting only the wait in progress. (Racing every next()
  // against one long-lived "failed" promise would leave a reaction on it per chunk, each holding that
  // chunk: the whole message would stay reachable until the send ended.)
  let abandon: ((error: SMTPError) => void) | undefined;
  const unsubscribe = connection.onFailure((error) => abandon?.(error));
  let finished = false;
  try {
    for (;;) {
      if (connection.failure) throw connection.failure;
      const next = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        abandon = reject;
        iterator.next().then(resolve, reject);
      });
      abandon = undefined;
      if (next.done) {
        finished = true;
        return;
      }
      const step = each(next.value);
      if (step === false) return;
      if (step) await step;
    }
  } finally {
    unsubscribe();
    if (!finished) {
      // Not awaited: a source stalled inside next() would keep return() pending for ever; a stream
      // source is destroyed outright so its file or socket is not held.
      iterator.return?.()?.catch(() => undefined);
      (source as { release?: () => void }).release?.();
    }
  }
}

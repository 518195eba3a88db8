// The worker side of the parent ↔ worker IPC channel of bench/client.mjs and bench/pool-client.mjs (each
// worker is started with child_process.fork). Importing this module installs the one "message" listener:
// messages wait in an inbox until the worker asks for them, so none is lost between two next() calls.
// When the parent goes away the worker exits: there is nothing more to do.

process.on("disconnect", () => process.exit(0));

const inbox = [];
let wake;
process.on("message", (m) => {
  inbox.push(m);
  wake?.();
});

/** The next message from the parent (the next one of `type`, when given). */
export async function next(type) {
  for (;;) {
    const i = inbox.findIndex((m) => type === undefined || m?.type === type);
    if (i >= 0) return inbox.splice(i, 1)[0];
    await new Promise((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
}

/** Sends `message` to the parent; resolves once it was handed to the channel. */
export function send(message) {
  return new Promise((resolve) => process.send(message, () => resolve()));
}

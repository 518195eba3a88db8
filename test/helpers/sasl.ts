// A fake `send` for runSASL and the small pieces its tests share: replies, base64, a channel in clear,
// and a predicate for an SMTPError at the AUTH stage.
import type { ChannelInfo } from "../../src/auth/mechanism.js";
import { SMTPError } from "../../src/errors.js";
import type { Command } from "../../src/protocol/commands.js";
import type { Reply } from "../../src/types.js";

/** A reply with `code` and `lines` (one empty line if none). */
export const reply = (code: number, ...lines: string[]): Reply => {
  const l = lines.length === 0 ? [""] : lines;
  return { code, lines: l, text: l.join("\n") };
};

export const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** A connection without TLS (so no channel binding). */
export const clear: ChannelInfo = { secure: false };

/** A fake `send`: answers from a script and records every command. */
export function fakeSend(...replies: Reply[]) {
  const sent: Command[] = [];
  const send = async (command: Command): Promise<Reply> => {
    sent.push(command);
    const next = replies.shift();
    if (next === undefined) throw new Error(`unexpected command ${command.log}`);
    return next;
  };
  return { send, sent, wire: () => sent.map((c) => c.wire) };
}

/** A predicate for assert.rejects: an SMTPError with `code` at the AUTH stage (and a message matching). */
export const authError = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof SMTPError &&
  error.code === code &&
  error.stage === "AUTH" &&
  (message === undefined || message.test(error.message));

// sendMail(): one message, one connection — connect, send, close.
import { checkMailInput } from "../client/send-mail.js";
import type { MailOptions } from "../mime/types.js";
import type { SendResult } from "../types.js";
import { type ConnectOptions, connect } from "./connect.js";

export type { MailOptions };

/** The MailOptions fields (API.md §5); everything else in sendMail()'s options is for connect(). */
const MAIL_FIELDS = [
  "from",
  "to",
  "cc",
  "bcc",
  "replyTo",
  "sender",
  "subject",
  "text",
  "html",
  "attachments",
  "icalEvent",
  "content",
  "headers",
  "messageId",
  "date",
  "inReplyTo",
  "references",
  "priority",
  "listUnsubscribe",
  "dkim",
  "envelope",
  "options",
] as const satisfies readonly (keyof MailOptions)[];

/**
 * Connects (see connect()), sends one message and closes the connection — also after a failure. Resolves
 * with the SendResult; rejects with the SMTPError of the step that failed (a failure to close afterwards
 * never replaces it, nor fails a send that succeeded). The mail is checked before connecting (bad input,
 * unreadable attachment paths, DKIM keys: EINPUT, no connection opened). A content stream is left as it is
 * when the connection fails before the message is sent: the caller who opened it closes it.
 */
export async function sendMail(options: ConnectOptions & MailOptions): Promise<SendResult> {
  const { mail, connectOptions } = splitMailOptions(options);
  // caught here so that no connection is opened for nothing; the session composes again with its extensions
  checkMailInput(mail);
  const smtp = await connect(connectOptions);
  try {
    return await smtp.sendMail(mail);
  } finally {
    await smtp.close().catch(() => undefined);
  }
}

/** sendMail()'s options, split into the mail (API.md §5 fields) and the connection's options. */
export function splitMailOptions(options: ConnectOptions & MailOptions): {
  mail: MailOptions;
  connectOptions: ConnectOptions;
} {
  const mail: Record<string, unknown> = {};
  const connectOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if ((MAIL_FIELDS as readonly string[]).includes(key)) mail[key] = value;
    else connectOptions[key] = value;
  }
  return {
    mail: mail as unknown as MailOptions,
    connectOptions: connectOptions as unknown as ConnectOptions,
  };
}

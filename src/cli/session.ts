// Opening a session for an account: connect() as usual, or — with a pinned certificate (tls_fingerprint) —
// connect without credentials, check the pin on the established channel, and only then authenticate.
import { authenticateSession, type ConnectOptions, connect } from "../api/connect.js";
import { type MailOptions, sendMail, splitMailOptions } from "../api/send-mail.js";
import type { SMTP } from "../client/smtp.js";
import type { SendResult } from "../types.js";
import type { AccountUse } from "./account.js";
import { verifyPinnedCertificate } from "./pin.js";

/** connect(options), checking the account's tls_fingerprint (if any) before any credential is sent. */
export async function openSession(options: ConnectOptions, use: AccountUse | undefined): Promise<SMTP> {
  const fingerprint = use?.fingerprint;
  if (fingerprint === undefined) return connect(options);
  const { auth, ...rest } = options;
  const smtp = await connect({
    ...rest,
    // the pin replaces CA trust and the name check (msmtp: "trusted regardless of its contents")
    tls: { ...rest.tls, rejectUnauthorized: false, checkServerIdentity: () => undefined },
  });
  try {
    verifyPinnedCertificate(smtp, fingerprint, `${use!.file}:${use!.account.settings.tls_fingerprint!.line}`);
    if (auth !== undefined) await authenticateSession(smtp, options);
    return smtp;
  } catch (error) {
    await smtp.close().catch(() => undefined);
    throw error;
  }
}

/** sendMail(), or for an account with a pinned certificate the same through openSession(). */
export function sendMailFor(
  use: AccountUse | undefined,
): (options: ConnectOptions & MailOptions) => Promise<SendResult> {
  if (use?.fingerprint === undefined) return sendMail;
  return async (options) => {
    const { mail, connectOptions } = splitMailOptions(options);
    const smtp = await openSession(connectOptions, use);
    try {
      return await smtp.sendMail(mail);
    } finally {
      await smtp.close().catch(() => undefined);
    }
  };
}

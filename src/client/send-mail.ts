// SMTP.sendMail(mail) and send() with a MailBody: a composed mail (API.md §5) as one transaction.
import { composeForSending } from "../mime/compose.js";
import type { MailOptions } from "../mime/types.js";
import { ANY_SERVER, buildEnvelope, checkDsn, hostnameForMessageId, SendPlan } from "./send.js";

/** Validates and composes when its turn comes (or early, for pipelining); nothing is written before. */
export function planMail(mail: MailOptions): SendPlan {
  return new SendPlan((session) => {
    const options = mail?.options ?? {};
    checkDsn(options);
    const composed = composeForSending(mail, {
      eightBitMime: session.capabilities.eightBitMime,
      smtpUtf8: session.capabilities.smtpUtf8,
      hostname: hostnameForMessageId(session.clientName),
    });
    const envelope = buildEnvelope(session, composed.rawEnvelope.from, composed.rawEnvelope.to);
    const stream = composed.stream();
    const chunks = {
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
      // lets the data path destroy a stalled attachment stream it gives up on
      release: composed.release,
    };
    return {
      transaction: {
        envelope: { ...envelope, smtpUtf8: envelope.smtpUtf8 || composed.smtpUtf8 },
        message: { chunks, size: composed.size, eightBit: composed.eightBit },
        options,
      },
      messageId: () => composed.messageId,
    };
  });
}

/**
 * Every check of a mail that needs no server (API.md §5 EINPUT rules, the envelope's addresses, DSN), for
 * callers that check before connecting or queueing (sendMail(), the pool). Paths are opened, streams not read.
 */
export function checkMailInput(mail: MailOptions): void {
  const composed = composeForSending(mail, { eightBitMime: true, smtpUtf8: true, hostname: "localhost" });
  buildEnvelope({ capabilities: ANY_SERVER }, composed.rawEnvelope.from, composed.rawEnvelope.to);
  checkDsn(mail.options ?? {});
}

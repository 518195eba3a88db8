// SMTP.sendMail(mail) and send() with a MailBody: a composed mail (API.md §5) as one transaction.
import { inputError } from "../errors.js";
import { composeForSending } from "../mime/compose.js";
import type { MailOptions } from "../mime/types.js";
import { buildEnvelope, checkDsn, hostnameForMessageId, SendPlan } from "./send.js";

/** Validates and composes when its turn comes (or early, for pipelining); nothing is written before. */
export function planMail(mail: MailOptions): SendPlan {
  return new SendPlan((session) => {
    const options = mail?.options ?? {};
    for (const field of ["headers", "messageId", "date"] as const) {
      if (options[field] !== undefined)
        throw inputError(`options.${field}: give it as the mail's own ${field}`);
    }
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

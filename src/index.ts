// The public surface of smtpkit. Everything a user may import is re-exported here and nowhere else.

export type { ConnectOptions, Security } from "./api/connect.js";
export { connect } from "./api/connect.js";
export { sendMail } from "./api/send-mail.js";
export type { AuthOptions } from "./api/token-login.js";
export {
  AUTH_CRAM_MD5,
  AUTH_DEFAULT,
  AUTH_LOGIN,
  AUTH_OAUTHBEARER,
  AUTH_PLAIN,
  AUTH_SCRAM_SHA_1,
  AUTH_SCRAM_SHA_256,
  AUTH_SCRAM_SHA_256_PLUS,
  AUTH_XOAUTH2,
} from "./auth/mechanism.js";
export type {
  AccessTokenFunction,
  IssuedToken,
  OAuth2Options,
  SuppliedToken,
} from "./auth/oauth2/options.js";
export type { RawSendOptions } from "./client/send.js";
export { SMTP } from "./client/smtp.js";
export type { RecipientRefusal, SMTPErrorCode, SMTPStage } from "./errors.js";
export { SMTPError } from "./errors.js";
export { composeMail } from "./mime/compose.js";
export type {
  Attachment,
  CalendarEvent,
  ComposedMail,
  DkimOptions,
  MailBody,
  MailOptions,
} from "./mime/types.js";
export { createPool } from "./pool/pool.js";
export type { PoolMail } from "./pool/send-mail-on.js";
export type { Pool, PoolOptions, PoolStats, RateLimit } from "./pool/types.js";
export type {
  Content,
  DSNNotify,
  Reply,
  SendOptions,
  SendResult,
  SMTPOptions,
  SMTPTimeouts,
  TranscriptEntry,
} from "./types.js";

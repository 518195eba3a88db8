// A real Postfix with PIPELINING and CHUNKING (so MAIL, every RCPT and BDAT LAST go in one flight) and one
// good and 300 refused recipients: it answers 250, 250, 554 x 20, "421 4.7.0 ... too many errors" and
// closes (smtpd_hard_error_limit). That is a temporary failure at RCPT carrying the 421, not "delivery
// unknown" (issue 9 item 3); the session then reports closed, and nothing was delivered.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTP, SMTPError } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type PostfixServer, postfixUnavailableReason, startPostfix } from "../helpers/servers/postfix.js";

describe("Postfix closes with 421 among pipelined RCPT replies", { skip: postfixUnavailableReason() }, () => {
  let postfix: PostfixServer;
  before(async () => {
    postfix = await startPostfix({ starttls: false });
  });
  after(async () => {
    await postfix?.stop();
  });

  for (const chunking of [true, false]) {
    it(`1 good + 300 refused recipients${chunking ? " (BDAT LAST in the envelope's flight)" : " (DATA)"}: ECONNECTION at RCPT with the 421, deliveryUnknown false`, async () => {
      const port = chunking ? postfix.port : (await discardChunking()).port;
      const smtp = new SMTP({ clientName: "client.example" });
      assert.equal(await smtp.connect(await connectTo(port)), true);
      assert.equal(
        smtp.getServerOptions().some((l) => l === "CHUNKING"),
        chunking,
      );
      const recipients = [
        "good@example.test",
        ...Array.from({ length: 300 }, (_, i) => `r${i}@relay-denied.invalid`),
      ];
      const error = await smtp
        .sendRaw("sender@example.test", recipients, "Subject: 421\r\n\r\nbody\r\n")
        .then(
          () => assert.fail("the send succeeded"),
          (e: unknown) => e,
        );
      assert.ok(error instanceof SMTPError, String(error));
      assert.equal(error.code, "ECONNECTION", error.message);
      assert.equal(error.stage, "RCPT");
      assert.equal(error.reply?.code, 421);
      assert.match(error.reply?.text ?? "", /too many errors/);
      assert.equal(error.deliveryUnknown, false);
      assert.equal(error.temporary, true);
      await smtp.close();
      assert.deepEqual(await postfix.delivered(), []);
    });
  }

  let plain: PostfixServer | undefined;
  after(async () => {
    await plain?.stop();
  });
  /** The same Postfix without CHUNKING: MAIL, RCPT... and DATA in one flight. */
  async function discardChunking(): Promise<PostfixServer> {
    plain ??= await startPostfix({ starttls: false, discardEhloKeywords: ["chunking"] });
    return plain;
  }
});

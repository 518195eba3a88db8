// The package as users load it: `import ... from "smtpkit"` (ESM, through the exports map to dist/) and
// `require("smtpkit")` from CommonJS (Node >= 20.19 loads ESM from require()).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";

describe("package entry points", () => {
  it('import from "smtpkit" gives the public API', async () => {
    const smtpkit = await import("smtpkit");
    assert.equal(typeof smtpkit.SMTP, "function");
    assert.equal(typeof smtpkit.connect, "function");
    assert.equal(typeof smtpkit.sendMail, "function");
    assert.equal(typeof smtpkit.SMTPError, "function");
    assert.equal(smtpkit.SMTP.AUTH_DEFAULT, 0);
    assert.equal(smtpkit.SMTP.AUTH_PLAIN, 1);
    assert.equal(smtpkit.SMTP.AUTH_LOGIN, 2);
    assert.equal(smtpkit.SMTP.AUTH_SCRAM_SHA_256_PLUS, 8);
    const error = new smtpkit.SMTPError("EINPUT", "x");
    assert.ok(error instanceof Error);
    assert.equal(error.code, "EINPUT");
    assert.equal(error.temporary, false);
  });

  it('require("smtpkit") works from CommonJS', () => {
    const require = createRequire(import.meta.url);
    const smtpkit = require("smtpkit") as typeof import("smtpkit");
    assert.equal(typeof smtpkit.SMTP, "function");
    assert.equal(typeof smtpkit.sendMail, "function");
  });
});

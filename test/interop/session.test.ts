// The seed's session calls against real servers none of us wrote: aiosmtpd (Python) and smtp-server (npm).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTP, SMTPError, type TranscriptEntry } from "../../src/index.js";
import { connectTo } from "../helpers/script-server.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import { type SmtpServerHarness, startSmtpServer } from "../helpers/servers/smtp-server.js";

describe("session calls against aiosmtpd (STARTTLS)", () => {
  let server: AiosmtpdServer;
  before(async () => {
    server = await startAiosmtpd({
      starttls: true,
      pipelining: true,
      auth: { users: { alice: "wonderland" } },
    });
  });
  after(() => server.stop());

  it("connect, STARTTLS (verified), options replaced, NOOP, RSET, close", async () => {
    const entries: TranscriptEntry[] = [];
    const smtp = new SMTP({ clientName: "client.example", logger: (e) => entries.push(e) });
    assert.equal(await smtp.connect(await connectTo(server.port)), true);
    const before = smtp.getServerOptions();
    assert.ok(before.includes("STARTTLS"), before.join(","));
    assert.equal(await smtp.startTLS({ ca: server.ca, servername: "localhost" }), true);
    assert.equal(smtp.secure, true);
    assert.ok(smtp.tlsSocket?.authorized);
    const afterTls = smtp.getServerOptions();
    assert.ok(!afterTls.includes("STARTTLS"), afterTls.join(","));
    assert.ok(
      afterTls.some((o) => /^AUTH /.test(o)),
      afterTls.join(","),
    );
    assert.equal((await smtp.noop()).code, 250);
    assert.equal((await smtp.reset()).code, 250);
    await smtp.close();
    await smtp.close();
    assert.equal(smtp.lastReply?.code, 221);
    assert.ok(entries.some((e) => /TLS established/.test(e.line)));
  });

  it("STARTTLS with the wrong server name: ETLS", async () => {
    const smtp = new SMTP({ clientName: "client.example" });
    await smtp.connect(await connectTo(server.port));
    await assert.rejects(
      smtp.startTLS({ ca: server.ca, servername: "mail.other.example" }),
      (e: unknown) => e instanceof SMTPError && e.code === "ETLS",
    );
  });
});

describe("session calls against aiosmtpd (implicit TLS) and smtp-server", () => {
  let implicit: AiosmtpdServer;
  let npmServer: SmtpServerHarness;
  before(async () => {
    [implicit, npmServer] = await Promise.all([
      startAiosmtpd({ implicitTls: true }),
      startSmtpServer({ auth: { users: { bob: "builder" } }, size: 1_000_000 }),
    ]);
  });
  after(async () => {
    await implicit.stop();
    await npmServer.stop();
  });

  it("connectTLS to aiosmtpd: greeting and EHLO over TLS", async () => {
    const smtp = new SMTP({ clientName: "client.example" });
    assert.equal(
      await smtp.connectTLS(await connectTo(implicit.port), { ca: implicit.ca, servername: "localhost" }),
      true,
    );
    assert.equal(smtp.secure, true);
    assert.ok(smtp.getServerOptions().length > 0);
    await smtp.close();
  });

  it("smtp-server: EHLO options, STARTTLS, auth types after TLS, close", async () => {
    const smtp = new SMTP({ clientName: "client.example" });
    assert.equal(await smtp.connect(await connectTo(npmServer.port)), true);
    const options = smtp.getServerOptions();
    assert.ok(
      options.includes("PIPELINING") && options.includes("STARTTLS") && options.includes("SIZE 1000000"),
      options.join(","),
    );
    assert.equal(await smtp.startTLS({ ca: npmServer.ca, servername: "localhost" }), true);
    assert.deepEqual(smtp.getAuthTypes(), [SMTP.AUTH_PLAIN, SMTP.AUTH_LOGIN, SMTP.AUTH_XOAUTH2]);
    await smtp.close();
  });
});

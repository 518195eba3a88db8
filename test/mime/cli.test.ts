// `smtpkit send` with the composed-mail flags (API.md §3.1), the built CLI against aiosmtpd: a binary file
// with a non-ASCII name arrives byte for byte, --dkim-* signs (dkimpy verifies), bad flags are usage errors.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { simpleParser } from "mailparser";
import { CA_FILE, smtpkit } from "../helpers/cli-runner.js";
import { type AiosmtpdServer, startAiosmtpd } from "../helpers/servers/aiosmtpd.js";
import {
  dkimpyVerify,
  ed25519Key,
  leavesOf,
  mailauthVerify,
  parseWithPython,
  sha256,
  shapeOf,
} from "./verifiers.js";

const BINARY = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff));

describe("smtpkit send: --html-file --attach --inline --header --reply-to --dkim-*", () => {
  let server: AiosmtpdServer;
  let dir: string;
  let files: { pdf: string; html: string; logo: string; key: string };
  const key = ed25519Key();

  before(async () => {
    server = await startAiosmtpd({ starttls: true });
    dir = mkdtempSync(join(tmpdir(), "smtpkit-mime-cli-"));
    files = {
      pdf: join(dir, "Rechnung März.pdf"),
      html: join(dir, "body.html"),
      logo: join(dir, "logo.png"),
      key: join(dir, "dkim.pem"),
    };
    writeFileSync(files.pdf, BINARY);
    writeFileSync(files.html, '<p>Grüße <img src="cid:logo@cli"></p>');
    writeFileSync(files.logo, BINARY.subarray(0, 1000));
    writeFileSync(files.key, key.pem, { mode: 0o600 });
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `smtpkit send` to the server, from a@ to b@ with a fixed subject, plus `flags`. */
  const send = (flags: string[], options?: Parameters<typeof smtpkit>[1]) =>
    smtpkit(
      [
        "send",
        ...["--host", "127.0.0.1", "--port", String(server.port), "--tls-ca", CA_FILE],
        ...["--from", "a@example.test", "--to", "b@example.test", "--subject", "CLI Grüße"],
        ...flags,
      ],
      options,
    );

  it("attach (binary, non-ASCII name), inline, html, headers, reply-to, DKIM: delivered and verified", async () => {
    server.clearMessages();
    const run = await send([
      "--body",
      "plain text",
      "--html-file",
      files.html,
      "--attach",
      files.pdf,
      "--attach",
      `${files.pdf};type=application/x-custom;name=Отчёт.bin`,
      "--inline",
      `${files.logo};cid=logo@cli`,
      "--header",
      "X-Tag: one",
      "--header",
      "X-Tag: two",
      "--reply-to",
      "Reply Désk <reply@example.test>",
      "--dkim-domain",
      "example.test",
      "--dkim-selector",
      "cli",
      "--dkim-key",
      files.key,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [message] = await server.waitForMessages(1);
    const raw = message!.content;
    const py = parseWithPython(raw);
    assert.equal(
      shapeOf(py.tree),
      "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf,application/x-custom)",
    );
    const [, , logo, pdf, custom] = leavesOf(py.tree);
    assert.deepEqual([pdf?.filename, pdf?.sha256], ["Rechnung März.pdf", sha256(BINARY)]);
    assert.deepEqual([custom?.filename, custom?.sha256], ["Отчёт.bin", sha256(BINARY)]);
    assert.equal(logo?.sha256, sha256(BINARY.subarray(0, 1000)));
    assert.deepEqual(
      py.headers.filter(([k]) => k === "X-Tag").map(([, v]) => v),
      ["one", "two"],
    );
    assert.equal(py.replyTo, "Reply Désk <reply@example.test>");
    const parsed = await simpleParser(raw);
    assert.equal(parsed.text?.trim(), "plain text");
    const records = { "cli._domainkey.example.test": key.record };
    assert.deepEqual(dkimpyVerify(raw, records), [true]);
    assert.deepEqual(await mailauthVerify(raw, records), ["pass"]);
  });

  it("--dkim-* alone signs the plain body", async () => {
    server.clearMessages();
    const run = await send(
      ["--dkim-domain", "example.test", "--dkim-selector", "cli", "--dkim-key", files.key],
      { input: "from stdin\n" },
    );
    assert.equal(run.code, 0, run.stderr);
    const [message] = await server.waitForMessages(1);
    assert.deepEqual(dkimpyVerify(message!.content, { "cli._domainkey.example.test": key.record }), [true]);
  });

  it("an unreadable --attach file is 66 and nothing is sent; incomplete --dkim-* and --inline without cid are 64", async () => {
    server.clearMessages();
    const missing = await send(["--body", "x", "--attach", join(dir, "nope.pdf")]);
    assert.equal(missing.code, 66, missing.stderr);
    assert.match(missing.stderr, /nope\.pdf/);
    const partial = await send(["--body", "x", "--dkim-domain", "example.test"]);
    assert.equal(partial.code, 64, partial.stderr);
    assert.match(partial.stderr, /--dkim-domain, --dkim-selector and --dkim-key go together/);
    const noCid = await send(["--body", "x", "--inline", files.logo]);
    assert.equal(noCid.code, 64, noCid.stderr);
    assert.match(noCid.stderr, /give ;cid=ID/);
    assert.equal(server.messages().length, 0);
  });
});

// smtpkit/outbox as a subpath export whose peers are optional: loadable by import and require when
// bullmq and ioredis are installed; without them `import "smtpkit"` (and the other CLI commands) still
// work, and importing smtpkit/outbox fails with one line that says what to install.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { workDir, writeConfig } from "../cli/sendmail-helpers.js";
import { BIN, oneLine, smtpkit } from "../helpers/cli-runner.js";

const ROOT = join(BIN, "..", "..", "..");

describe("smtpkit/outbox entry point", () => {
  it('import and require "smtpkit/outbox" give createOutbox', async () => {
    const outbox = await import("smtpkit/outbox");
    assert.equal(typeof outbox.createOutbox, "function");
    const require = createRequire(import.meta.url);
    assert.equal(typeof (require("smtpkit/outbox") as typeof outbox).createOutbox, "function");
  });

  it('import "smtpkit" loads neither bullmq nor ioredis', () => {
    const script = `
      import { createRequire } from "node:module";
      await import("smtpkit");
      const require = createRequire(import.meta.url);
      const loaded = Object.keys(require.cache).filter((p) => /node_modules[\\\\/](bullmq|ioredis)[\\\\/]/.test(p));
      console.log(JSON.stringify(loaded));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), []);
    // the guard itself: loading smtpkit/outbox does put bullmq in the cache
    const control = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        script.replace('await import("smtpkit")', 'await import("smtpkit/outbox")'),
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.ok(JSON.parse(control.stdout).length > 0, control.stderr);
  });

  it("smtpkit outbox refuses a Redis password on the command line, without echoing it", async () => {
    const run = await smtpkit([
      "outbox",
      "work",
      "--redis",
      "redis://:s3cret-pw@127.0.0.1:1",
      "--host",
      "127.0.0.1",
    ]);
    assert.equal(run.code, 64);
    const line = oneLine(run);
    assert.match(line, /--redis-env/);
    assert.ok(!line.includes("s3cret-pw"));
    const status = await smtpkit(["outbox", "status", "x", "--redis-env", "SMTPKIT_TEST_UNSET_VARIABLE"]);
    assert.equal(status.code, 78);
    assert.match(oneLine(status), /SMTPKIT_TEST_UNSET_VARIABLE/);
  });

  it("smtpkit outbox work refuses an account with tls_fingerprint (its pool cannot pin), naming the file", async (t) => {
    const work = workDir("smtpkit-outbox-pin-");
    t.after(() => work.remove());
    const config = writeConfig(work.dir, "config", [
      "account pinned",
      "host 127.0.0.1",
      "port 1",
      `tls_fingerprint ${"AB:".repeat(31)}AB`,
    ]);
    const run = await smtpkit([
      "outbox",
      "work",
      "--redis",
      "redis://127.0.0.1:1",
      "--config",
      config,
      "--account",
      "pinned",
    ]);
    assert.equal(run.code, 78, run.stderr);
    assert.match(oneLine(run), /tls_fingerprint is not supported by outbox work/);
    assert.ok(oneLine(run).includes(config));
  });

  describe("installed without bullmq", () => {
    // a project with smtpkit (package.json and dist only) and smtp-server (the CLI's), but no bullmq/ioredis
    const project = mkdtempSync(join(tmpdir(), "smtpkit-nobullmq-"));
    after(() => rmSync(project, { recursive: true, force: true }));
    const modules = join(project, "node_modules");
    mkdirSync(join(modules, "smtpkit"), { recursive: true });
    cpSync(join(ROOT, "package.json"), join(modules, "smtpkit", "package.json"));
    cpSync(join(ROOT, "dist"), join(modules, "smtpkit", "dist"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", "smtp-server"), join(modules, "smtp-server"));
    const node = (code: string) =>
      spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: project, encoding: "utf8" });

    it('import "smtpkit" works', () => {
      const run = node('const s = await import("smtpkit"); console.log(typeof s.sendMail);');
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), "function");
    });

    it('import "smtpkit/outbox" fails with one line naming what to install', () => {
      const run = node(`
        try { await import("smtpkit/outbox"); console.log("loaded"); }
        catch (e) { console.log(e.message); }`);
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trim().split("\n");
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^smtpkit\/outbox needs .*npm install bullmq@\^6 ioredis@\^5$/);
    });

    it("smtpkit outbox work says what to install; smtpkit send does not need bullmq", () => {
      const cli = join(modules, "smtpkit", "dist", "cli", "main.js");
      const work = spawnSync(process.execPath, [cli, "outbox", "work", "--redis", "redis://127.0.0.1:1"], {
        cwd: project,
        encoding: "utf8",
      });
      assert.notEqual(work.status, 0);
      const lines = work.stderr.trim().split("\n");
      assert.equal(lines.length, 1, work.stderr);
      assert.match(lines[0]!, /npm install bullmq@\^6 ioredis@\^5/);
      const send = spawnSync(process.execPath, [cli, "send", "--help"], { cwd: project, encoding: "utf8" });
      assert.equal(send.status, 0, send.stderr);
    });
  });
});

// The package as users load it: "smtpkit/nodemailer" through the exports map, and `import "smtpkit"` never
// loading nodemailer (an optional peer dependency). A resolve hook in a fresh process lists every module
// that gets resolved; nodemailer must not be among them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import nodemailer from "nodemailer";
import { type SmtpkitSentMessageInfo, smtpkitTransport } from "smtpkit/nodemailer";

/** A module of the nodemailer package. */
const NODEMAILER_MODULE = /node_modules\/nodemailer\//;

/** Modules resolved by a fresh node that runs `code`. */
function resolvedBy(code: string): string[] {
  const hook = `
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      process.stderr.write("RESOLVED " + result.url + "\\n");
      return result;
    }`;
  const register = `
    import { register } from "node:module";
    register("data:text/javascript,${encodeURIComponent(hook)}");`;
  const run = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(register)}`, "--input-type=module", "-e", code],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  return run.stderr
    .split("\n")
    .filter((line) => line.startsWith("RESOLVED "))
    .map((line) => line.slice("RESOLVED ".length));
}

/** `code` resolves `entry` (the package's own build, through its exports map) and no module of nodemailer. */
function loadsWithoutNodemailer(code: string, entry: string): void {
  const resolved = resolvedBy(code);
  assert.ok(
    resolved.some((url) => url.endsWith(entry)),
    resolved.join("\n"),
  );
  assert.deepEqual(
    resolved.filter((url) => NODEMAILER_MODULE.test(url)),
    [],
  );
}

describe("smtpkit/nodemailer as a package", () => {
  it('import "smtpkit" loads no nodemailer; neither does "smtpkit/nodemailer" itself', () => {
    loadsWithoutNodemailer(
      'const m = await import("smtpkit"); if (typeof m.SMTP !== "function") process.exit(3);',
      "/dist/index.js",
    );
    loadsWithoutNodemailer(
      'const m = await import("smtpkit/nodemailer"); if (typeof m.smtpkitTransport !== "function") process.exit(3);',
      "/dist/nodemailer/index.js",
    );
    // the hook does see nodemailer when it is loaded: the check above can fail
    assert.ok(resolvedBy('await import("nodemailer");').some((url) => NODEMAILER_MODULE.test(url)));
  });

  it("the one-line switch type-checks and builds a nodemailer transporter", () => {
    const transporter = nodemailer.createTransport(smtpkitTransport({ host: "127.0.0.1", port: 1 }));
    assert.equal(transporter.transporter.name, "smtpkit");
    assert.match(transporter.transporter.version, /^\d+\.\d+\.\d+/);
    // info is typed: nodemailer's fields and ours
    const use = (info: SmtpkitSentMessageInfo) => [info.accepted, info.response, info.smtpkit.reply.code];
    assert.equal(typeof use, "function");
    transporter.close();
  });
});

// The README's CLI section stays complete: every flag `--help` shows and every exit status the CLI uses.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EXIT_HELP } from "../../src/cli/exit-codes.js";
import { REPO_ROOT, smtpkit } from "../helpers/cli-runner.js";

const README = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const CLI_SECTION = README.slice(README.indexOf("## CLI"), README.indexOf("## Development"));

describe("README: the CLI section", () => {
  for (const command of ["send", "probe", "demo"]) {
    it(`lists every flag of \`smtpkit ${command} --help\` in its synopsis`, async () => {
      const help = await smtpkit([command, "--help"]);
      assert.equal(help.code, 0);
      const flags = new Set(help.stdout.match(/--[a-z][a-z-]*/g) ?? []);
      const synopsis = CLI_SECTION.slice(0, CLI_SECTION.indexOf("| flag |"));
      for (const flag of flags) {
        if (flag === "--password") continue; // named in help only to say it is refused
        assert.ok(
          synopsis.includes(flag),
          `${flag} (smtpkit ${command} --help) is not in the README synopsis`,
        );
      }
    });
  }

  it("lists every exit status", () => {
    for (const [status] of [...EXIT_HELP, [130, ""] as const]) {
      assert.match(CLI_SECTION, new RegExp(`^\\| ${status} \\|`, "m"), `exit status ${status} is not listed`);
    }
  });
});

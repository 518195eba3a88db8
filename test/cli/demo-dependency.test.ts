// smtp-server is the demo's server only: no library user installs it (an optional peer dependency, a
// devDependency here), nothing but `smtpkit demo` loads it, and without it the demo says what to install.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { BIN, REPO_ROOT, runProgram } from "../helpers/cli-runner.js";

const DIST = join(REPO_ROOT, "dist");

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return name.endsWith(".js") ? [path] : [];
  });
}

// A resolve hook that makes smtp-server missing, as it is for a user who installed smtpkit alone.
const tmp = mkdtempSync(join(tmpdir(), "smtpkit-no-smtp-server-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
writeFileSync(
  join(tmp, "hooks.mjs"),
  `export async function resolve(specifier, context, next) {
  if (specifier === "smtp-server") {
    throw Object.assign(new Error("Cannot find package 'smtp-server'"), { code: "ERR_MODULE_NOT_FOUND" });
  }
  return next(specifier, context);
}
`,
);
writeFileSync(
  join(tmp, "register.mjs"),
  `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n`,
);
const withoutSmtpServer = ["--import", pathToFileURL(join(tmp, "register.mjs")).href];

describe("smtp-server is not a runtime dependency", () => {
  it("package.json: a devDependency and an optional peer, never a dependency", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as Record<
      string,
      Record<string, unknown> | undefined
    >;
    assert.equal(pkg.dependencies?.["smtp-server"], undefined);
    assert.ok(pkg.devDependencies?.["smtp-server"]);
    assert.ok(pkg.peerDependencies?.["smtp-server"]);
    assert.deepEqual(pkg.peerDependenciesMeta?.["smtp-server"], { optional: true });
  });

  it("no built module imports it statically; the demo server loads it with import()", () => {
    for (const file of jsFiles(DIST)) {
      const text = readFileSync(file, "utf8");
      assert.doesNotMatch(text, /^\s*import\s[^;]*?from\s*["']smtp-server["']/m, file);
    }
    assert.match(readFileSync(join(DIST, "cli", "demo-server.js"), "utf8"), /import\("smtp-server"\)/);
  });

  it("without it, the library loads and `smtpkit demo` says what to install (exit 78)", async () => {
    const library = await runProgram(
      process.execPath,
      [...withoutSmtpServer, "-e", `import(${JSON.stringify(pathToFileURL(join(DIST, "index.js")).href)})`],
      { timeoutMs: 20_000 },
    );
    assert.equal(library.code, 0, library.stderr);
    const demo = await runProgram(process.execPath, [...withoutSmtpServer, BIN, "demo"], {
      timeoutMs: 20_000,
    });
    assert.equal(demo.code, 78, demo.stderr);
    assert.match(demo.stderr, /npm install smtp-server/);
  });
});

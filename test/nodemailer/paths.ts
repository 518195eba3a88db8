// Paths the nodemailer tests use: the repository root (the compiled tests run from build-test/) and fixtures.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || dir.endsWith("build-test")) dir = dirname(dir);
  return dir;
}

export const ROOT = repoRoot();
/** A small real PNG (48 x 48). */
export const LOGO = join(ROOT, "test", "nodemailer", "fixtures", "logo.png");

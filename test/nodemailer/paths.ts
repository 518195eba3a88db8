// Paths the nodemailer tests use: the repository root (the compiled tests run from build-test/) and fixtures.
import { join } from "node:path";
import { BIN } from "../helpers/cli-runner.js";

/** The repository root, found once by the CLI runner (BIN is <root>/dist/cli/main.js). */
export const ROOT = join(BIN, "..", "..", "..");
/** A small real PNG (48 x 48). */
export const LOGO = join(ROOT, "test", "nodemailer", "fixtures", "logo.png");

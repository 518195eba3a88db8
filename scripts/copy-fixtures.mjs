// Copies non-TypeScript test assets (certificates, Python server scripts) next to the compiled tests.
import { cpSync, existsSync } from "node:fs";

for (const dir of ["test/helpers/fixtures", "test/helpers/servers"]) {
  if (existsSync(dir)) {
    cpSync(dir, `build-test/${dir}`, {
      recursive: true,
      filter: (src) => !src.endsWith(".ts"),
    });
  }
}

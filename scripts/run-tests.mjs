// Runs every compiled test file under build-test/test with Node's own test runner.
// Node 20's --test takes explicit paths (globs came later), so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const only = process.argv.slice(2);
const files = findTests("build-test/test")
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  console.error("no test files found under build-test/test");
  process.exit(1);
}
// A hung test fails at this deadline instead of holding the run for minutes. Node 20 applies it to each
// test and to each file as a whole; the slowest file (interop/memory: four 200 MiB sends) took 47 s on a
// 2-core machine shared with seven other test runs (load average 15), so 120 s leaves it 2.5x room.
const TEST_TIMEOUT_MS = 120_000;
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", `--test-timeout=${TEST_TIMEOUT_MS}`, ...files],
  {
    stdio: "inherit",
  },
);
process.exit(result.status ?? 1);

// The client streams a 200 MiB message with backpressure: its peak RSS stays flat. The client runs in a
// child process (so its maxRSS is its own) against Postfix's smtp-sink, a real server none of us wrote.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort, waitForListening } from "../helpers/servers/common.js";

const SMTP_SINK = "/usr/sbin/smtp-sink";
const MIB = 1024 * 1024;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || dir.endsWith("build-test")) dir = dirname(dir);
  return dir;
}

/** Runs `code` in a fresh node and returns what it printed as JSON. */
function runChild(code: string): Record<string, number> {
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

describe("memory: a 200 MiB stream through smtp-sink", () => {
  let sink: ChildProcess;
  let port: number;
  before(async () => {
    port = await freePort();
    // -u: run as this user; -c: count; the backlog is the last argument
    sink = spawn(SMTP_SINK, ["-u", "nobody", `127.0.0.1:${port}`, "16"], { stdio: "ignore" });
    await waitForListening(port, 5000);
  });
  after(() => {
    sink.kill();
  });

  it("peak RSS stays within 64 MiB of a process that only loaded smtpkit", () => {
    const index = pathToFileURL(join(repoRoot(), "dist", "index.js")).href; // built by npm test
    const baseline = runChild(`await import(${JSON.stringify(index)});
      console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }));`);
    const sent = runChild(`
      import net from "node:net";
      const { SMTP } = await import(${JSON.stringify(index)});
      const socket = net.connect({ host: "127.0.0.1", port: ${port} });
      await new Promise((resolve) => socket.once("connect", resolve));
      const smtp = new SMTP({ clientName: "client.example" });
      await smtp.connect(socket);
      const line = Buffer.from(".a line that starts with a dot\\n" + "x".repeat(60) + "\\n");
      const chunk = Buffer.concat(Array.from({ length: Math.floor(65536 / line.length) }, () => line));
      const total = ${200 * MIB};
      async function* body() {
        yield Buffer.from("Subject: 200 MiB\\r\\n\\r\\n");
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      }
      const started = process.hrtime.bigint();
      const result = await smtp.sendRaw("a@example.test", ["b@example.test"], body());
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await smtp.close();
      console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, code: result.reply.code, seconds }));
    `);
    assert.equal(sent.code, 250);
    const growthMiB = (sent.maxRSS! - baseline.maxRSS!) / 1024;
    // the figure for the issue note
    console.log(
      `# 200 MiB stream: peak RSS ${(sent.maxRSS! / 1024).toFixed(1)} MiB, baseline ${(baseline.maxRSS! / 1024).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB, ${(200 / sent.seconds!).toFixed(0)} MiB/s`,
    );
    assert.ok(growthMiB < 64, `peak RSS grew by ${growthMiB.toFixed(1)} MiB`);
  });
});

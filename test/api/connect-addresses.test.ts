// connect() and addresses: IPv6 loopback, every address tried, a silent host, a server that never greets.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import dns from "node:dns";
import net from "node:net";
import { describe, it } from "node:test";
import { connect } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { CA } from "../helpers/script-server.js";
import { freePort } from "../helpers/servers/common.js";
import { testServers } from "../helpers/test-servers.js";

const USERS = { alice: "correct horse battery staple" };
const { harness, script, defer } = testServers();

describe("connect(): addresses", () => {
  it("IPv6 loopback ::1 works (STARTTLS verified against the certificate's ::1 entry)", async () => {
    const server = await harness({ listen: "::1", auth: { users: USERS } });
    const smtp = await connect({
      host: "::1",
      port: server.port,
      tls: { ca: CA },
      auth: { username: "alice", password: USERS.alice },
    });
    assert.equal(smtp.secure, true);
    assert.equal(smtp.tlsSocket?.remoteAddress, "::1");
    await smtp.close();
  });

  it("nothing listening: ECONNECTION at CONNECT, quickly, naming the address tried", async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await rejectsWith(connect({ host: "127.0.0.1", port }), "ECONNECTION", "CONNECT");
    assert.ok(Date.now() - started < 2000);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port} ECONNREFUSED`));
    assert.match(error.message, /check the host and port/);
  });

  it("a name with IPv4 and IPv6 addresses: every address tried is named", async (t) => {
    const port = await freePort();
    const original = dns.lookup;
    // net.connect resolves through dns.lookup; answer for a test name with both families
    t.mock.method(dns, "lookup", ((
      host: string,
      options: unknown,
      callback: (...args: unknown[]) => void,
    ) => {
      if (host !== "dual.test") return (original as (...a: unknown[]) => void)(host, options, callback);
      callback(null, [
        { address: "127.0.0.1", family: 4 },
        { address: "::1", family: 6 },
      ]);
    }) as typeof dns.lookup);
    const error = await rejectsWith(connect({ host: "dual.test", port }), "ECONNECTION", "CONNECT");
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port} ECONNREFUSED`));
    assert.match(error.message, new RegExp(`\\[::1\\]:${port} ECONNREFUSED`));
  });

  it("an address that never answers (SYN dropped): ECONNECTION after connectTimeout", async (t) => {
    const blackhole = await startBlackhole();
    if (blackhole === undefined) {
      t.skip("python3 is not available to hold a full accept queue");
      return;
    }
    defer(() => blackhole.stop());
    const started = Date.now();
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: blackhole.port, connectTimeout: 400 }),
      "ECONNECTION",
      "CONNECT",
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 3000, `took ${elapsed} ms`);
    assert.match(error.message, /within 400 ms/);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${blackhole.port}`));
  });

  it("a server that accepts but never greets: ETIMEDOUT at GREETING, socket destroyed", async () => {
    const server = await script([{ wait: 2000 }]);
    const error = await rejectsWith(
      connect({ host: "127.0.0.1", port: server.port, timeouts: { greeting: 200 } }),
      "ETIMEDOUT",
      "GREETING",
    );
    assert.match(error.message, /security "tls"/);
  });
});

/** Holds a listening socket whose accept queue is full, so further SYNs are dropped (a silent host). */
async function startBlackhole(): Promise<{ port: number; stop(): void } | undefined> {
  const code = [
    "import socket, sys, time",
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    "print(s.getsockname()[1], flush=True)",
    "time.sleep(30)",
  ].join("\n");
  const child = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", "ignore"] });
  const port = await new Promise<number | undefined>((resolve) => {
    child.once("error", () => resolve(undefined));
    child.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  if (port === undefined) return undefined;
  // the one connection the queue holds; every later SYN waits unanswered
  const filler = net.connect({ host: "127.0.0.1", port });
  filler.on("error", () => undefined);
  await new Promise((resolve) => filler.once("connect", resolve));
  return {
    port,
    stop: () => {
      filler.destroy();
      child.kill();
    },
  };
}

// sendMail() runs every input check that needs no server before it connects: bad input costs no
// connection, TLS handshake or login. A listener that counts connections proves none was opened.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { type MailOptions, sendMail } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";

let listener: net.Server;
let port = 0;
let connections = 0;
before(async () => {
  listener = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  port = (listener.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((resolve) => listener.close(() => resolve())));

const GOOD: MailOptions = {
  from: "Alice <alice@example.com>",
  to: ["bob@example.com"],
  subject: "hello",
  content: "hi\n",
};

const BAD: [string, Partial<MailOptions>][] = [
  ["two mailboxes in one to entry", { to: ["bob@example.com, carol@example.com"] }],
  ["two mailboxes in one bcc entry", { bcc: "x@example.com y@example.com" }],
  ["CR/LF in the subject", { subject: "hi\r\nBcc: eve@example.com" }],
  ["a C1 control in the subject", { subject: "hi\u0085there" }],
  ["a lone surrogate in a display name", { from: '"Al\uD800ice" <alice@example.com>' }],
  ["LF in an extra header", { options: { headers: { "X-Tag": "a\nb" } } }],
  ["a Bcc extra header", { options: { headers: { Bcc: "eve@example.com" } } }],
  ["a Message-ID that is not msg-id syntax", { options: { messageId: "no at sign" } }],
  ["a bad DSN notify", { options: { dsn: { notify: ["NEVER", "SUCCESS"] } } }],
  ["a control character in the sender", { from: "alice@example.com\r\nRCPT TO:<x@y>" }],
];

describe("sendMail(): input checks before connecting", () => {
  for (const [what, change] of BAD) {
    it(`${what}: EINPUT, and the server saw no connection`, async () => {
      const before = connections;
      await rejectsWith(
        sendMail({ host: "127.0.0.1", port, security: "none", ...GOOD, ...change }),
        "EINPUT",
      );
      assert.equal(connections, before, "a connection was opened for input that could never be sent");
    });
  }

  it("good input does connect (the listener is real)", async () => {
    const before = connections;
    await rejectsWith(sendMail({ host: "127.0.0.1", port, security: "none", ...GOOD }), "ECONNECTION");
    assert.equal(connections, before + 1);
  });
});

// The transport object's own behaviour against the scripted server (exact bytes): nodemailer's DSN option on
// the wire, a failing attachment stream (the end of data is never sent), verify() in callback form, and the
// "idle" event without a pool.
import assert from "node:assert/strict";
import net from "node:net";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import nodemailer from "nodemailer";
import { SMTPError } from "../../src/index.js";
import { smtpkitTransport, type TransportError } from "../../src/nodemailer/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { greetAndEhlo, scriptedServers } from "../helpers/script-server.js";

const start = scriptedServers();
const NAME = "client.example";

const transporterFor = (port: number) =>
  nodemailer.createTransport(
    smtpkitTransport({
      host: "127.0.0.1",
      port,
      name: NAME,
      security: "none",
      ignoreTLS: true,
      // a guard that breaks fails the test in seconds instead of waiting out the 10-minute defaults
      timeouts: { command: 5000, data: 5000 },
    }),
  );

describe("smtpkitTransport on the wire", { timeout: 15_000 }, () => {
  it("nodemailer's dsn option becomes RET/ENVID on MAIL and NOTIFY/ORCPT on RCPT", async () => {
    const server = await start([
      ...greetAndEhlo(["DSN", "8BITMIME"], NAME),
      {
        expect: /^MAIL FROM:<alice@example\.test>( BODY=8BITMIME)? RET=HDRS ENVID=msg\+2B42$/,
        reply: "250 2.1.0 Ok\r\n",
      },
      {
        expect: "RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.test",
        reply: "250 2.1.5 Ok\r\n",
      },
      { expect: "DATA", reply: "354 go\r\n" },
      { data: true, reply: "250 2.0.0 Ok: queued\r\n" },
      { expect: "QUIT", reply: "221 2.0.0 bye\r\n" },
    ]);
    const info = await transporterFor(server.port).sendMail({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "dsn",
      text: "x\n",
      dsn: {
        id: "msg+42",
        return: "headers",
        notify: ["success", "failure"],
        recipient: "alice@example.test",
      },
    });
    assert.equal(info.response, "250 2.0.0 Ok: queued");
    await server.done;
  });

  it("an attachment stream that fails: EMESSAGE, and the end of data is never sent", async () => {
    // a server that answers the envelope, then reads everything until the client goes away
    let received = "";
    const closed = new Promise<void>((resolve) => {
      const server = net.createServer((socket) => {
        socket.on("error", () => undefined);
        socket.on("close", () => {
          server.close();
          resolve();
        });
        let inData = false;
        socket.on("data", (chunk: Buffer) => {
          received += chunk.toString("latin1");
          if (inData) return;
          for (const line of chunk.toString("latin1").split("\r\n").filter(Boolean)) {
            if (line.startsWith("EHLO")) socket.write("250-test.example\r\n250 8BITMIME\r\n");
            else if (line === "DATA") {
              inData = true;
              socket.write("354 go\r\n");
            } else socket.write("250 2.0.0 Ok\r\n");
          }
        });
        socket.write("220 test.example ESMTP\r\n");
      });
      server.listen(0, "127.0.0.1", () => listening((server.address() as net.AddressInfo).port));
    });
    let listening!: (port: number) => void;
    const port = await new Promise<number>((resolve) => {
      listening = resolve;
    });
    let sent = 0;
    const failing = new Readable({
      read() {
        // a fresh buffer per chunk, then the source breaks (a disk error, a dropped upload)
        if (sent++ < 8) this.push(Buffer.alloc(32 * 1024, sent));
        else this.destroy(new Error("EIO: the disk went away"));
      },
    });
    await rejectsWith(
      transporterFor(port).sendMail({
        from: "alice@example.test",
        to: "bob@example.test",
        subject: "broken attachment",
        text: "x\n",
        attachments: [{ filename: "upload.bin", content: failing }],
      }),
      "EMESSAGE",
    );
    await closed; // the client destroyed the connection
    assert.match(received, /^DATA\r\n/m);
    assert.ok(received.length > 64 * 1024, "part of the message was sent");
    assert.doesNotMatch(received, /\r\n\.\r\n/, "no end of data was written");
  });

  it("verify(callback) and the idle event (one connection per message)", async () => {
    const server = await start([
      ...greetAndEhlo(["8BITMIME"], NAME),
      { expect: "QUIT", reply: "221 2.0.0 bye\r\n" },
    ]);
    const transport = smtpkitTransport({
      host: "127.0.0.1",
      port: server.port,
      name: NAME,
      security: "none",
    });
    const idle = new Promise<boolean>((resolve) => transport.once("idle", () => resolve(transport.isIdle())));
    const transporter = nodemailer.createTransport(transport);
    const result = await new Promise<[Error | null, unknown]>((resolve) =>
      transporter.verify((error, success) => resolve([error, success])),
    );
    assert.deepEqual(result, [null, true]);
    assert.equal(await idle, true);
    await server.done;
  });

  it("verify(callback) passes the reason: a server that declines the session", async () => {
    const server = await start([
      { send: "554 5.7.1 no service for you\r\n" },
      { respond: (line) => (line === "QUIT" ? "221 2.0.0 bye\r\n" : "503 5.5.1 no\r\n") },
    ]);
    const [error] = await new Promise<[Error | null, unknown]>((resolve) =>
      transporterFor(server.port).verify((e, success) => resolve([e, success])),
    );
    const failure = error as TransportError;
    assert.ok(failure instanceof SMTPError);
    assert.equal(failure.code, "ECONNECTION");
    assert.equal(failure.responseCode, 554);
    assert.equal(failure.command, "CONN");
  });
});

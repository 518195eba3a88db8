// The refused-token exchange byte by byte (a scripted server): the 334 JSON error, the mechanism's answer
// to it (XOAUTH2: empty; OAUTHBEARER: ^A, RFC 7628 §3.2.3), 535, then AUTH once more with a renewed token
// on the same connection — and a second refusal that echoes the token is EAUTH without it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect, SMTP } from "../../src/index.js";
import { rejectsWith } from "../helpers/assertions.js";
import { startScriptServer } from "../helpers/script-server.js";

const USER = "user@example.test";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const ERROR_JSON = b64('{"status":"401","schemes":"bearer"}');

const cases = [
  {
    name: "XOAUTH2",
    type: SMTP.AUTH_XOAUTH2,
    initial: (token: string) => b64(`user=${USER}\x01auth=Bearer ${token}\x01\x01`),
    ack: "",
  },
  {
    name: "OAUTHBEARER",
    type: SMTP.AUTH_OAUTHBEARER,
    initial: (token: string) => b64(`n,a=${USER},\x01auth=Bearer ${token}\x01\x01`),
    ack: "AQ==",
  },
] as const;

for (const c of cases) {
  describe(`${c.name}: a refused token`, () => {
    const script = (first: string, second: string, secondOk: boolean) => [
      { send: "220 mx.example.test ESMTP\r\n" },
      { expect: /^EHLO /, reply: `250-mx.example.test\r\n250 AUTH ${c.name}\r\n` },
      { expect: `AUTH ${c.name} ${c.initial(first)}`, reply: `334 ${ERROR_JSON}\r\n` },
      { expect: c.ack, reply: `535 5.7.8 token ${first} not accepted\r\n` },
      {
        expect: `AUTH ${c.name} ${c.initial(second)}`,
        reply: secondOk ? "235 2.7.0 Accepted\r\n" : `334 ${ERROR_JSON}\r\n`,
      },
      ...(secondOk ? [] : [{ expect: c.ack, reply: `535 5.7.8 token ${second} not accepted either\r\n` }]),
      { expect: "QUIT", reply: "221 bye\r\n" },
    ];
    const tokens = (...list: string[]) => {
      let i = 0;
      return async () => list[i++] ?? "exhausted";
    };

    it("is renewed once and AUTH sent again on the same connection", async () => {
      const server = await startScriptServer(script("tok.first", "tok.second", true));
      try {
        const smtp = await connect({
          host: "127.0.0.1",
          port: server.port,
          security: "none",
          allowInsecureAuth: true,
          auth: { username: USER, type: c.type, accessToken: tokens("tok.first", "tok.second") },
        });
        await smtp.close();
        await server.done;
      } finally {
        await server.close();
      }
    });

    it("refused again: EAUTH with the server's reason, the echoed token redacted", async () => {
      const server = await startScriptServer(script("tok.one", "tok.two-secret", false));
      try {
        const error = await rejectsWith(
          connect({
            host: "127.0.0.1",
            port: server.port,
            security: "none",
            allowInsecureAuth: true,
            auth: { username: USER, type: c.type, accessToken: tokens("tok.one", "tok.two-secret") },
          }),
          "EAUTH",
          "AUTH",
        );
        assert.match(error.message, /535 5\.7\.8 token <redacted> not accepted either/);
        assert.equal(error.reply?.code, 535);
        assert.ok(!JSON.stringify({ m: error.message, r: error.reply }).includes("tok.two-secret"));
        await server.done;
      } finally {
        await server.close();
      }
    });
  });
}

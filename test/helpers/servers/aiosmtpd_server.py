#!/usr/bin/python3
"""aiosmtpd (Debian python3-aiosmtpd) on loopback for smtpkit's interop tests.

Started by aiosmtpd.ts. Protocol with the parent:
  stdin, first line: a JSON object with the configuration (see aiosmtpd.ts). The rest of stdin is only
    watched for EOF: when the parent goes away, this server exits.
  stdout: one JSON object per line:
    {"event": "ready", "port": N}
    {"event": "message", ...}      one per message accepted for at least one recipient
    {"event": "error", "message": "..."}
  stderr: aiosmtpd's own log (warnings, or everything with "debug": true).

The SMTP protocol is aiosmtpd's own (aiosmtpd.smtp.SMTP / aiosmtpd.lmtp.LMTP). What this script adds:
  * the listening socket is bound on port 0 with asyncio's create_server (no Controller, no port race);
  * AUTH PLAIN/LOGIN credentials are checked by an `authenticator` against the configured users;
  * XOAUTH2 and OAUTHBEARER (not in aiosmtpd) are implemented here with aiosmtpd's auth_* hook API:
    the token is the user's password, or, with "introspection_url", a token that the test token endpoint
    (test/helpers/token-endpoint.ts) says is active for that user (RFC 7662: issued there, not expired,
    not revoked); a failure answers a 334 JSON error challenge (RFC 7628 §3.2.2), then 535; every
    attempt is reported as {"event": "auth", "mechanism", "user", "ok", "token_sha256" (16 hex digits)};
  * the harness conventions: RCPT to reject@... -> 550, tempfail@... -> 452, a message with an
    X-Harness-Reject header -> 554 after the data; in LMTP mode faildata@... -> 550 for that recipient
    after the data and one reply per accepted recipient (aiosmtpd's LMTP class sends only one);
  * optional PIPELINING in the EHLO/LHLO reply (aiosmtpd reads pipelined commands correctly but does not
    advertise the extension).
"""

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import urllib.parse
import urllib.request

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

REJECT_HEADER = re.compile(rb"^x-harness-reject:", re.IGNORECASE | re.MULTILINE)

_stdout_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, ensure_ascii=True) + "\n"
    with _stdout_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def local_part(address):
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def header_block(content):
    end = content.find(b"\r\n\r\n")
    if end < 0:
        end = content.find(b"\n\n")
    return content if end < 0 else content[:end]


def decode_text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="surrogateescape")
    return data


class Handler:
    def __init__(self, config):
        self.lmtp = bool(config.get("lmtp"))
        self.pipelining = bool(config.get("pipelining"))

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd's 5-argument hook: we must record the client name ourselves.
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        lp = local_part(address)
        if lp == "reject":
            return "550 5.1.1 <%s>: recipient rejected by harness" % address
        if lp == "tempfail":
            return "452 4.2.2 <%s>: mailbox full (harness)" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        per_rcpt = getattr(envelope, "harness_rcpts", None)
        if per_rcpt is None:
            per_rcpt = []
            envelope.harness_rcpts = per_rcpt
        per_rcpt.append({"address": address, "options": list(rcpt_options)})
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        refuse_all = REJECT_HEADER.search(header_block(content)) is not None
        replies = []
        accepted = []
        if self.lmtp:
            for rcpt in envelope.rcpt_tos:
                if refuse_all:
                    replies.append("554 5.6.0 <%s>: message refused by harness (X-Harness-Reject)" % rcpt)
                elif local_part(rcpt) == "faildata":
                    replies.append("550 5.1.1 <%s>: delivery refused by harness" % rcpt)
                else:
                    replies.append("250 2.0.0 <%s> delivered" % rcpt)
                    accepted.append(rcpt)
        else:
            if refuse_all:
                replies.append("554 5.6.0 message refused by harness (X-Harness-Reject)")
            else:
                replies.append("250 2.0.0 OK: message accepted")
                accepted = list(envelope.rcpt_tos)
        if accepted:
            auth = session.auth_data
            if isinstance(auth, LoginPassword):
                auth_user = decode_text(auth.login)
            elif auth is None:
                auth_user = None
            else:
                auth_user = decode_text(auth)
            emit(
                {
                    "event": "message",
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "accepted": accepted,
                    "mail_options": list(envelope.mail_options),
                    "rcpt_options": list(envelope.rcpt_options),
                    "recipients": getattr(envelope, "harness_rcpts", []),
                    "smtp_utf8": bool(envelope.smtp_utf8),
                    "helo": session.host_name,
                    "tls": bool(server._tls_protocol is not None or server.harness_implicit_tls),
                    "auth_user": auth_user,
                    "content_b64": base64.b64encode(content).decode("ascii"),
                    "replies": replies,
                }
            )
        # push() appends the final CRLF; several lines make one reply per LMTP recipient
        return "\r\n".join(replies)


def make_authenticator(users):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user = decode_text(auth_data.login)
            password = decode_text(auth_data.password)
            if user in users and users[user] == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return authenticator


def introspect(url, token):
    """RFC 7662 introspection at the test token endpoint: the token's JSON description."""
    data = urllib.parse.urlencode({"token": token}).encode("ascii")
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=5) as resp:
        return json.loads(resp.read().decode("utf-8"))


class HarnessMixin:
    """Added behaviour shared by the SMTP and LMTP flavours; see the module docstring."""

    harness_users = {}
    harness_implicit_tls = False
    harness_introspection_url = None

    async def _harness_token_ok(self, mechanism, user, token):
        if self.harness_introspection_url:
            loop = asyncio.get_running_loop()
            try:
                info = await loop.run_in_executor(None, introspect, self.harness_introspection_url, token)
            except Exception:  # noqa: BLE001
                info = {"active": False}
            ok = bool(info.get("active")) and (
                info.get("username") == user or user in (info.get("mailboxes") or [])
            )
        else:
            ok = user in self.harness_users and self.harness_users[user] == token
        # which token it was, without the token: the first 16 hex digits of its SHA-256
        digest = hashlib.sha256(token.encode("utf-8", errors="surrogateescape")).hexdigest()[:16]
        emit({"event": "auth", "mechanism": mechanism, "user": user, "ok": ok, "token_sha256": digest})
        return ok

    async def _harness_initial(self, args):
        """The initial response of an AUTH command, or the answer to an empty 334; None when answered."""
        if len(args) == 1:
            blob = await self.challenge_auth("")
            return None if blob is MISSING else blob
        if args[1] == "=":
            return b""
        try:
            return base64.b64decode(args[1].encode("ascii"), validate=True)
        except Exception:
            await self.push("501 5.5.2 Can't decode base64")
            return None

    async def _harness_oauth_fail(self, error_json):
        # RFC 7628 / Google XOAUTH2: a 334 with a JSON error; the client answers (empty or ^A), then 535.
        answer = await self.challenge_auth(json.dumps(error_json))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")

    async def auth_XOAUTH2(self, _, args):
        raw = await self._harness_initial(args)
        if raw is None:
            return AuthResult(success=False, handled=True)
        user = None
        token = None
        for field in raw.split(b"\x01"):
            if field.startswith(b"user="):
                user = decode_text(field[5:])
            elif field[:12].lower() == b"auth=bearer ":
                token = decode_text(field[12:])
        if user is None or token is None:
            await self.push("501 5.5.2 Invalid XOAUTH2 initial response")
            return AuthResult(success=False, handled=True)
        if await self._harness_token_ok("XOAUTH2", user, token):
            return AuthResult(success=True, auth_data=user)
        return await self._harness_oauth_fail(
            {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        )

    async def auth_OAUTHBEARER(self, _, args):
        raw = await self._harness_initial(args)
        if raw is None:
            return AuthResult(success=False, handled=True)
        parts = raw.split(b"\x01")
        gs2 = parts[0].split(b",")
        user = None
        token = None
        if len(gs2) >= 2 and gs2[1].startswith(b"a="):
            user = decode_text(gs2[1][2:].replace(b"=2C", b",").replace(b"=3D", b"="))
        for field in parts[1:]:
            if field[:12].lower() == b"auth=bearer ":
                token = decode_text(field[12:])
        if user is None or token is None or gs2[0] not in (b"n", b"y"):
            await self.push("501 5.5.2 Invalid OAUTHBEARER initial response")
            return AuthResult(success=False, handled=True)
        if await self._harness_token_ok("OAUTHBEARER", user, token):
            return AuthResult(success=True, auth_data=user)
        return await self._harness_oauth_fail(
            {"status": "invalid_token", "scope": "mail", "openid-configuration": "https://example.test/.well-known"}
        )


class HarnessSMTP(HarnessMixin, SMTP):
    pass


class HarnessLMTP(HarnessMixin, LMTP):
    pass


def build_tls_context(config):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(config["cert"], config["key"])
    max_version = config.get("tls_max_version")
    if max_version == "TLSv1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif max_version == "TLSv1.3":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def main():
    config = json.loads(sys.stdin.readline())
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if config.get("debug") else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # aiosmtpd itself sets the deprecated Session.login_data after every AUTH and then warns about it
    logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(config)

    tls_context = None
    if config.get("starttls") or config.get("implicit_tls"):
        tls_context = build_tls_context(config)
    implicit = bool(config.get("implicit_tls"))

    auth = config.get("auth")
    users = (auth or {}).get("users") or {}
    cls = HarnessLMTP if config.get("lmtp") else HarnessSMTP
    mechanisms = (auth or {}).get("mechanisms")
    all_mechs = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
    exclude = [m for m in all_mechs if mechanisms is not None and m not in mechanisms]
    if auth is None:
        exclude = list(all_mechs)

    size_limit = config.get("data_size_limit")
    kwargs = dict(
        hostname=config.get("hostname") or "localhost",
        enable_SMTPUTF8=config.get("smtputf8", True),
        tls_context=None if implicit else tls_context,
        require_starttls=bool(config.get("require_starttls")),
        auth_required=bool((auth or {}).get("required")),
        # on an implicit-TLS port aiosmtpd does not know the channel is secure: do not ask for STARTTLS
        auth_require_tls=False if implicit else bool((auth or {}).get("require_tls", True)),
        auth_exclude_mechanism=exclude,
        authenticator=make_authenticator(users),
        loop=loop,
    )
    if size_limit is not None:
        kwargs["data_size_limit"] = size_limit if size_limit > 0 else None

    def factory():
        server = cls(handler, **kwargs)
        server.harness_users = users
        server.harness_implicit_tls = implicit
        server.harness_introspection_url = (auth or {}).get("introspection_url")
        return server

    try:
        srv = loop.run_until_complete(
            loop.create_server(factory, host="127.0.0.1", port=0, ssl=tls_context if implicit else None)
        )
    except Exception as err:  # noqa: BLE001
        emit({"event": "error", "message": repr(err)})
        sys.exit(1)
    port = srv.sockets[0].getsockname()[1]

    def stop(*_):
        loop.call_soon_threadsafe(loop.stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:  # noqa: BLE001
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    emit({"event": "ready", "port": port, "pid": os.getpid()})
    loop.run_forever()
    srv.close()
    sys.stdout.flush()
    # connections may still be open; do not wait for them
    os._exit(0)


if __name__ == "__main__":
    main()

"""Real servers for notification tests: an SMTP server (aiosmtpd), an SMS provider's
HTTP Messages endpoint, a merchant's webhook receiver and a Web Push service (aiohttp),
all on 127.0.0.1 in the test's own event loop.

They count what they receive, so a test can say "each message exactly once" at the
place that matters: the receiving server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import ssl
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.errors import HeaderDefect, MessageDefect, NonASCIILocalPartDefect
from email.message import EmailMessage
from typing import Any

import http_ece
import jwt
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.live import free_port

SCRIPT = re.compile(r"<script\b.*?</script>", re.S | re.I)
URL = re.compile(
    r"https?://[^\s\"'<>]+/orders/[A-Za-z0-9_-]+(?:\?key=[A-Za-z0-9._-]+)?(?:[?&]via=\w+)?"
)


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    smtputf8: bool = False
    """Sent with the SMTPUTF8 extension (headers and envelope may be UTF-8)."""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"]).strip()

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]

    def links(self) -> set[str]:
        """Status-page links in both parts (they must agree)."""
        # Links a reader sees: not the inbox markup's JSON (which escapes its "&").
        html = SCRIPT.sub("", self.part("html")).replace("&amp;", "&")
        return set(URL.findall(self.part("plain"))) | set(URL.findall(html))


class _Handler:
    def __init__(self, box: MailServer) -> None:
        self.box = box

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        self.box.sessions += 1
        self.box.session_opened.set()
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.box.hold_rcpt is not None and self.box.hold_rcpt(self.box):
            self.box.waiting += 1
            try:
                await self.box.gate.wait()
            finally:
                self.box.waiting -= 1
        if address in self.box.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        try:
            message = strictly_parsed(content, smtputf8=envelope.smtp_utf8)
        except (ValueError, HeaderDefect, MessageDefect) as exc:
            self.box.malformed.append(f"{type(exc).__name__}: {exc}")
            return f"554 5.6.0 Malformed message: {type(exc).__name__}"
        if self.box.defer is not None and self.box.defer(message):
            return "451 4.3.0 Try again later"
        self.box.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, envelope.smtp_utf8)
        )
        self.box.arrived.set()
        return "250 Message accepted for delivery"


def strictly_parsed(content: bytes, *, smtputf8: bool = False) -> EmailMessage:
    """The message as a strict reader sees it: ``email.policy.strict`` raises on any
    defect of the structure, and each header is parsed and checked for defects too.
    Without SMTPUTF8 every byte must be 7-bit; with it, headers may be UTF-8 (RFC 6532)."""
    if smtputf8:
        message = message_from_string(content.decode("utf-8"), policy=policy.strict)
    else:
        if not content.isascii():
            raise ValueError("8-bit data without SMTPUTF8")
        message = message_from_bytes(content, policy=policy.strict)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        if part.defects:
            raise MessageDefect(f"{part.get_content_type()}: {part.defects}")
        for name, value in part.items():
            defects = [
                d
                for d in getattr(value, "defects", ())
                # RFC 6532 allows exactly this once SMTPUTF8 is in use.
                if not (smtputf8 and isinstance(d, NonASCIILocalPartDefect))
            ]
            if defects:
                raise HeaderDefect(f"{name}: {defects}")
    return message


class MailServer:
    """aiosmtpd on a free port, offering SMTPUTF8 only when asked. ``hold_rcpt``
    decides, per recipient, whether to wait for ``gate`` before answering (a slow server
    the test controls); ``stop`` closes the listener and every open session, as a server
    going down would."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.port = free_port()
        self.smtputf8 = smtputf8
        self.credentials = credentials
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.malformed: list[str] = []
        self.defer: Callable[[EmailMessage], bool] | None = None
        """Answers 451 (try again later) to a message for which it returns True."""
        self.sessions = 0
        self.waiting = 0
        self.gate = asyncio.Event()
        self.hold_rcpt: Callable[[MailServer], bool] | None = None
        self.arrived = asyncio.Event()
        self.session_opened = asyncio.Event()
        self.logins: list[str] = []
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    def _protocol(self) -> SMTP:
        options: dict[str, Any] = {
            "hostname": "mail.test",
            "ident": "test SMTP",
            "enable_SMTPUTF8": self.smtputf8,
        }
        if self.credentials:
            options |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.starttls is not None,
            }
        if self.starttls:
            options |= {"tls_context": self.starttls, "require_starttls": True}
        with warnings.catch_warnings():
            # Plain-text AUTH is what a test of a login without TLS is about.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            protocol = SMTP(_Handler(self), **options)
        self._protocols.append(protocol)
        return protocol

    async def start(self) -> MailServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, "127.0.0.1", self.port, ssl=self.implicit_tls
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            self._protocols.clear()
            await self._server.wait_closed()
            self._server = None

    def ids(self) -> Counter[str]:
        return Counter(r.message_id for r in self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]


@dataclass
class SmsEndpoint:
    """A provider's Messages API: POST form ``To``, ``From``, ``Body`` with basic auth."""

    account: str = "AC123"
    token: str = "secret-token"
    port: int = field(default_factory=free_port)
    received: list[dict[str, str]] = field(default_factory=list)
    fail_with: int | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return (
            f"http://{self.account}:{self.token}@127.0.0.1:{self.port}"
            f"/2010-04-01/Accounts/{self.account}/Messages.json"
        )

    async def _messages(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"message": "Authenticate"}, status=401)
        if self.fail_with is not None:
            return web.json_response({"message": "provider says no"}, status=self.fail_with)
        form = await request.post()
        message = {k: str(v) for k, v in form.items()}
        message["Idempotency-Key"] = request.headers.get("Idempotency-Key", "")
        self.received.append(message)
        return web.json_response({"sid": f"SM{len(self.received):032d}"}, status=201)

    async def start(self) -> SmsEndpoint:
        app = web.Application()
        app.router.add_post(f"/2010-04-01/Accounts/{self.account}/Messages.json", self._messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Hook:
    """One request a :class:`WebhookReceiver` got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A merchant's webhook endpoint. It answers each POST with the next of ``answers``
    (then 200), after ``delay`` seconds; ``/moved`` redirects to ``/`` (which counts)."""

    port: int = field(default_factory=free_port)
    tls: ssl.SSLContext | None = None
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Hook] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def url(self, host: str = "127.0.0.1", path: str = "/hooks") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Hook(request.path, dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path == "/moved":
            raise web.HTTPFound("/hooks")
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text=f"answer {status} " + "x" * 2000)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.tls).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def wait_for(check: Callable[[], bool], *, limit: float = 30.0, what: str = "") -> None:
    """Poll until ``check()`` holds (for work done by another process)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what or check}")
        await asyncio.sleep(0.02)


@dataclass
class Device:
    """A browser's push subscription whose private half the test holds: what the push
    service receives for it can be decrypted (RFC 8291)."""

    name: str
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64url(point)

    @property
    def auth(self) -> str:
        return _b64url(self.auth_secret)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Pushed:
    device: str
    message: dict[str, Any]
    """The decrypted payload, as JSON."""
    headers: dict[str, str]
    claims: dict[str, Any]
    """The VAPID token's claims, after its signature was checked."""
    server_key: str
    """The application server key the token was signed with (``k=``)."""


@dataclass
class PushService:
    """A push service (RFC 8030) on 127.0.0.1: it takes a message for a device only with
    a VAPID token (RFC 8292) signed by the key in the same header for this service's
    origin, and decrypts it with the device's private key, as a browser would.
    ``answer`` makes it say something else for a device (410: unsubscribed)."""

    port: int = field(default_factory=free_port)
    devices: dict[str, Device] = field(default_factory=dict)
    received: list[Pushed] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    answer: dict[str, int] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    """Serve https as ``localhost`` with this context (else plain http on 127.0.0.1)."""
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        if self.tls is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def device(self, name: str) -> Device:
        self.devices[name] = Device(name)
        return self.devices[name]

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def refuse(self, why: str, status: int = 401) -> web.Response:
        self.refused.append(why)
        return web.json_response({"reason": why}, status=status)

    async def _push(self, request: web.Request) -> web.Response:
        name = request.match_info["device"]
        device = self.devices.get(name)
        if device is None:
            return self.refuse("no such subscription", 404)
        if name in self.answer:
            return web.json_response({"reason": "told to"}, status=self.answer[name])
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        fields = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if scheme.lower() != "vapid" or "t" not in fields or "k" not in fields:
            return self.refuse("no VAPID authorization")
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), _b64url_decode(fields["k"])
        )
        try:
            claims = jwt.decode(fields["t"], key=public, algorithms=["ES256"], audience=self.origin)
        except jwt.PyJWTError as exc:
            return self.refuse(f"bad token: {exc}", 403)
        if not 0 < claims["exp"] - time.time() <= 86400:
            return self.refuse("token expiry beyond 24 hours", 403)
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            return self.refuse("no contact in sub", 403)
        if request.headers.get("Content-Encoding") != "aes128gcm" or "TTL" not in request.headers:
            return self.refuse("not aes128gcm or no TTL", 400)
        body = await request.read()
        if len(body) > 4096:
            return self.refuse("payload too large", 413)
        plain = http_ece.decrypt(
            body, private_key=device.key, auth_secret=device.auth_secret, version="aes128gcm"
        )
        self.received.append(
            Pushed(name, json.loads(plain), dict(request.headers), claims, fields["k"])
        )
        location = f"{self.origin}/m/{len(self.received)}"
        return web.Response(status=201, headers={"Location": location})

    def to(self, name: str) -> list[dict[str, Any]]:
        return [p.message for p in self.received if p.device == name]

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{device}", self._push)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        host = "localhost" if self.tls is not None else "127.0.0.1"
        await web.TCPSite(self._runner, host, self.port, ssl_context=self.tls).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

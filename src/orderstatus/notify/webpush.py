"""Web Push: a message encrypted for one device (RFC 8291, ``aes128gcm``), signed for its
push service with our VAPID key (RFC 8292), and handed to that service (RFC 8030).

The encryption and the signature come from ``http_ece`` and ``py_vapid`` (what
``pywebpush`` is made of); the request goes with httpx on the event loop, like the SMS.
A push service that answers 404 or 410 has forgotten the subscription for good:
:class:`SubscriptionGone` tells the worker to forget it too.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from orderstatus.notify.email import DeliveryError

SEND_TIMEOUT = 15.0
TTL_SECONDS = 4 * 86400
"""How long a push service keeps a message for a device that is off (four days: a
shipping update older than that is better read on the page)."""
TOKEN_SECONDS = 12 * 3600
"""VAPID tokens are made for this long and reused meanwhile (at most 24 hours allowed)."""
MAX_PAYLOAD = 3800
"""Bytes of the message before encryption: push services take 4096 after it."""
_GONE = frozenset({404, 410})
_RETRYABLE = frozenset({401, 403, 408, 409, 425, 429})
"""As for SMS: "not now" or "our key is wrong" (fixing it delivers what waited)."""
RESOLVED_SECONDS = 60.0
"""How long a push service's address is used before its name is looked up again."""
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IpAddress) -> bool:
    return address.is_global


class SubscriptionGone(DeliveryError):
    """The push service no longer knows the device (it unsubscribed, or expired)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where a device takes pushes and the keys it gave to encrypt them for it."""

    endpoint: str
    p256dh: str
    auth: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def default_subject(base_url: str, sender: str) -> str:
    """Who push services can write to about our pushes: the public site when it is
    https, else the sender address."""
    return base_url if base_url.startswith("https://") else f"mailto:{sender}"


class Vapid:
    """Our application server key: its public half goes to the browser as
    ``applicationServerKey``; its private half signs a token per push service."""

    def __init__(self, raw_private_key: str, subject: str) -> None:
        self._vapid = Vapid02.from_raw(raw_private_key.encode())
        self.subject = subject
        public = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = b64url(public)
        """The uncompressed P-256 point in base64url, as ``pushManager.subscribe`` takes it."""
        self._tokens: dict[str, tuple[str, float]] = {}

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        """The ``Authorization`` header for a push to ``endpoint``: ``vapid t=…, k=…``
        with the push service's origin as audience, reused until half its life is over."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time() if now is None else now
        cached = self._tokens.get(audience)
        if cached is not None and cached[1] > now:
            return cached[0]
        expires = int(now) + TOKEN_SECONDS
        header = str(
            self._vapid.sign({"aud": audience, "sub": self.subject, "exp": expires})[
                "Authorization"
            ]
        )
        if len(self._tokens) > 64:
            self._tokens.clear()
        self._tokens[audience] = (header, now + TOKEN_SECONDS / 2)
        return header


def encrypt(payload: bytes, subscription: Subscription) -> bytes:
    """The payload encrypted for the device (RFC 8291): a fresh key pair and salt for
    each message, one record, ``aes128gcm``."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        payload,
        private_key=sender,
        dh=b64url_decode(subscription.p256dh),
        auth_secret=b64url_decode(subscription.auth),
        version="aes128gcm",
    )
    return body


def valid_keys(p256dh: str, auth: str) -> bool:
    """Whether a browser's subscription keys are a P-256 point and a 16-byte secret."""
    try:
        point = b64url_decode(p256dh)
        secret = b64url_decode(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError):
        return False
    return len(secret) == 16


class PushSender:
    """One HTTP client for every push service (kept-alive connections per host).

    A customer's browser names the endpoint, so the worker connects only to a public
    address: the host name is looked up here, refused when any of its addresses is
    private, loopback or link-local, and the request goes to the address found (with
    the name as TLS server name and Host), so a name cannot point elsewhere between the
    check and the connection. ``allow_private`` (a push service of one's own) skips it.
    """

    def __init__(
        self,
        vapid: Vapid,
        *,
        timeout: float = SEND_TIMEOUT,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
        public: Callable[[IpAddress], bool] = is_public,
    ) -> None:
        self.vapid = vapid
        self.timeout = timeout
        self.allow_private = allow_private
        self.verify = verify
        self._public = public
        self._client: httpx.AsyncClient | None = None
        self._addresses: dict[tuple[str, int], tuple[str, float]] = {}

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, verify=self.verify
            )
        return self._client

    async def _address(self, host: str, port: int) -> str:
        """The public address to reach ``host`` at (looked up at most once a minute)."""
        now = time.monotonic()
        known = self._addresses.get((host, port))
        if known is not None and known[1] > now:
            return known[0]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError):
            raise DeliveryError("push: the push service's name does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise DeliveryError("push: the push service's name does not resolve")
        if not all(self._public(address) for address in addresses):
            raise DeliveryError(
                "push: the push service is on a private, loopback or link-local address",
                permanent=True,
            )
        if len(self._addresses) > 256:
            self._addresses.clear()
        self._addresses[(host, port)] = (str(addresses[0]), now + RESOLVED_SECONDS)
        return str(addresses[0])

    async def _post(self, endpoint: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        if self.allow_private:
            return await self._http.post(endpoint, content=body, headers=headers)
        target = httpx.URL(endpoint)
        if target.scheme != "https" or not target.host:
            raise DeliveryError("push: the endpoint is not an https address", permanent=True)
        address = await self._address(target.host, target.port or 443)
        request = self._http.build_request(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers={**headers, "Host": target.netloc.decode("ascii")},
            extensions={"sni_hostname": target.host},
        )
        return await self._http.send(request)

    async def send(
        self, subscription: Subscription, payload: bytes, *, urgency: str = "normal"
    ) -> dict[str, Any]:
        """Push one message; what the push service said of it (its message address)."""
        if len(payload) > MAX_PAYLOAD:
            raise DeliveryError(f"push: the message is {len(payload)} bytes", permanent=True)
        body = encrypt(payload, subscription)
        headers = {
            "TTL": str(TTL_SECONDS),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.vapid.authorization(subscription.endpoint),
        }
        try:
            response = await self._post(subscription.endpoint, body, headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(f"push: {type(exc).__name__}: {exc}"[:500]) from None
        if response.is_success:
            location = response.headers.get("location")
            return {"push_id": location[:300]} if location else {}
        detail = " ".join(response.text.split())[:300]
        status = response.status_code
        if status in _GONE:
            raise SubscriptionGone(f"push: the device is no longer subscribed ({status})")
        permanent = 400 <= status < 500 and status not in _RETRYABLE
        raise DeliveryError(
            f"push: the push service answered {status}: {detail}", permanent=permanent
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def public_key_of(raw_private_key: str) -> str:
    """The ``applicationServerKey`` pages give ``pushManager.subscribe``."""
    private = ec.derive_private_key(
        int.from_bytes(b64url_decode(raw_private_key), "big"), ec.SECP256R1()
    )
    return b64url(
        private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )

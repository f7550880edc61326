"""Apple Wallet orders: the signed ``.order`` package, and the APNs pushes that tell a
device's Wallet an order changed (Wallet then asks our web service for it).

The pushes are an outbox of their own (``wallet_pushes``): written in the transaction
that changed the order (services.wallet), delivered here with retries by the notification
worker. A push carries no data, only the Order Type ID as its topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import secrets
import ssl
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import delete, or_, select, update

from orderstatus import metrics
from orderstatus.config import WalletKeys
from orderstatus.db.engine import Database
from orderstatus.db.models import WalletPush, WalletRegistration
from orderstatus.domain.wallet import manifest
from orderstatus.notify.jobs import backoff

log = logging.getLogger("orderstatus.notify")

CONTENT_TYPE = "application/vnd.apple.finance.order"
JWT_LIFETIME = 50 * 60
"""APNs refuses a token older than an hour and one renewed more than every 20 minutes."""
GONE = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"})
"""APNs' reasons that mean the token will never work again: its registrations go."""
MAX_ATTEMPTS = 8


def sign(keys: WalletKeys, data: bytes) -> bytes:
    """A detached PKCS #7 signature (DER) of ``data`` by the Order Type ID certificate,
    carrying Apple's WWDR certificate so Wallet can follow the chain. Binary: the bytes
    as they are (no MIME line-ending conversion), which is what Wallet checks."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(keys.certificate, keys.key, hashes.SHA256())
        .add_certificate(keys.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def package(keys: WalletKeys, order: dict[str, Any], images: dict[str, bytes]) -> bytes:
    """The ``.order`` file: ``order.json``, images, ``manifest.json`` of their SHA-256
    and its ``signature``, zipped."""
    files = {"order.json": json.dumps(order, ensure_ascii=False, indent=1).encode()} | images
    listed = json.dumps(manifest(files), indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            # Images are compressed already: deflating them again costs time for nothing.
            kind = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=kind)
        archive.writestr("manifest.json", listed)
        archive.writestr("signature", sign(keys, listed))
    return buffer.getvalue()


# ---- APNs ----


@dataclass(frozen=True, slots=True)
class PushResult:
    ok: bool
    gone: bool = False
    retry: bool = False
    error: str | None = None


class Apns:
    """One HTTP/2 connection to APNs, authenticated with a token signed by the .p8 key."""

    def __init__(
        self, keys: WalletKeys, *, timeout: float = 15.0, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.keys = keys
        self.timeout = timeout
        self.verify = verify
        self._client: httpx.AsyncClient | None = None
        """Opened on the first push, so a worker with nothing to push holds no connection."""
        self._token: tuple[float, str] | None = None

    def _connection(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                http2=True, base_url=self.keys.apns_url, timeout=self.timeout, verify=self.verify
            )
        return self._client

    def bearer(self) -> str:
        now = time.time()
        if self._token is None or now - self._token[0] > JWT_LIFETIME:
            token = jwt.encode(
                {"iss": self.keys.apns_team_id, "iat": int(now)},
                self.keys.apns_key,
                algorithm="ES256",
                headers={"kid": self.keys.apns_key_id},
            )
            self._token = (now, token)
        return self._token[1]

    async def push(self, push_token: str) -> PushResult:
        try:
            answer = await self._connection().post(
                f"/3/device/{push_token}",
                content=b"{}",
                headers={
                    "authorization": f"bearer {self.bearer()}",
                    "apns-topic": self.keys.order_type_id,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                },
            )
        except httpx.HTTPError as exc:
            return PushResult(False, retry=True, error=f"{type(exc).__name__}: {exc}"[:255])
        if answer.status_code == 200:
            return PushResult(True)
        try:
            reason = str(answer.json().get("reason", ""))
        except ValueError:
            reason = ""
        error = f"APNs answered {answer.status_code} {reason}".strip()[:255]
        if answer.status_code == 410 or reason in GONE:
            return PushResult(False, gone=True, error=error)
        if reason == "ExpiredProviderToken":
            self._token = None
        again = answer.status_code in (403, 429) or answer.status_code >= 500
        return PushResult(False, retry=again, error=error)

    async def close(self) -> None:
        """Close the connection; the next push opens another."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class WalletPusher:
    """Delivers the ``wallet_pushes`` outbox: claims due rows under a lease, pushes, and
    records each outcome where the row still carries the claim."""

    def __init__(
        self,
        database: Database,
        keys: WalletKeys,
        *,
        batch_size: int = 50,
        lease: float = 60.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.database = database
        self.apns = Apns(keys, verify=verify)
        self.batch_size = batch_size
        self.lease = lease
        self.stats: Counter[str] = Counter()

    async def run_once(self) -> int:
        """Push one batch of due rows; how many were handled."""
        now = datetime.now(UTC)
        claim = secrets.token_hex(16)
        async with self.database.write() as session:
            due = (
                await session.execute(
                    select(WalletPush.id, WalletPush.push_token, WalletPush.attempts)
                    .where(
                        or_(
                            WalletPush.state == "pending",
                            WalletPush.state == "sending",
                        ),
                        WalletPush.next_attempt_at <= now,
                    )
                    .order_by(WalletPush.next_attempt_at, WalletPush.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not due:
                return 0
            await session.execute(
                update(WalletPush)
                .where(WalletPush.id.in_([row.id for row in due]))
                .values(
                    state="sending",
                    claim_token=claim,
                    next_attempt_at=now + timedelta(seconds=self.lease),
                )
            )
        results = await asyncio.gather(*(self.apns.push(row.push_token) for row in due))
        gone = {row.push_token for row, r in zip(due, results, strict=True) if r.gone}
        async with self.database.write() as session:
            for row, result in zip(due, results, strict=True):
                tries = row.attempts + 1
                if result.ok:
                    values: dict[str, Any] = {"state": "sent", "sent_at": datetime.now(UTC)}
                    outcome = "sent"
                elif result.retry and tries < MAX_ATTEMPTS:
                    wait = backoff(tries, base=30.0, cap=3600.0)
                    values = {
                        "state": "pending",
                        "next_attempt_at": datetime.now(UTC) + timedelta(seconds=wait),
                    }
                    outcome = "retry"
                else:
                    values = {"state": "failed"}
                    outcome = "failed"
                await session.execute(
                    update(WalletPush)
                    .where(WalletPush.id == row.id, WalletPush.claim_token == claim)
                    .values(attempts=tries, claim_token=None, last_error=result.error, **values)
                )
                self.stats[outcome] += 1
                metrics.notification_recorded("wallet", outcome)
                log.info(
                    "wallet push %d: %s",
                    row.id,
                    outcome,
                    extra={"outbox_id": row.id, "channel": "wallet", "result": outcome},
                )
            if gone:
                # The device removed the order or the app: it will not ask again.
                await session.execute(
                    delete(WalletRegistration).where(WalletRegistration.push_token.in_(gone))
                )
        return len(due)

    async def drain(self, limit: float = 30.0) -> Counter[str]:
        """Push everything due now (tests and scripts)."""
        before = Counter(self.stats)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and await self.run_once():
            pass
        done = Counter(self.stats)
        done.subtract(before)
        return +done

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        while not stop.is_set():
            try:
                if await self.run_once():
                    continue
            except Exception:
                log.exception("cannot deliver wallet pushes")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
        await self.apns.close()

"""Outbound webhooks: events written to their outbox in the transaction that caused them
(:func:`publish`), and the sender that delivers them (:class:`WebhookSender`).

Each event has an id (``evt_…``) that stays the same on every try and for every endpoint,
so a receiver drops repeats by it: delivery is at least once. A body is signed as our
inbound ``custom`` source expects (``X-Orderstatus-Signature: t=…,v1=…``, the same
function), at the time it is sent. An answer other than 2xx, or none within 5 s, is tried
again with back-off for 24 hours; a forbidden address is never tried again. An answer
410 Gone turns the webhook off (:func:`turn_off`): nothing more is sent to it until it is
turned on again. Calls go through :mod:`orderstatus.notify.outbound_http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import Table, bindparam, case, delete, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus import metrics
from orderstatus.carriers.sources import custom
from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import (
    Activity,
    Fulfillment,
    Order,
    Shop,
    WebhookDelivery,
    WebhookEndpoint,
)
from orderstatus.db.statements import dialect_of, insert, per_dialect
from orderstatus.domain.webhooks import (
    GONE,
    GONE_REASON,
    RESPONSE_EXCERPT,
    RETRY_WINDOW,
    DeliveryState,
    Topic,
)
from orderstatus.notify import outbound_http
from orderstatus.notify.jobs import backoff

log = logging.getLogger("orderstatus.notify")

KEEP_FINISHED = timedelta(days=30)
"""Delivered and failed deliveries are removed after this long."""
PRUNE_EVERY = 3600.0
SIGNATURE_HEADER = "X-Orderstatus-Signature"
EVENT_HEADER = "X-Orderstatus-Event-Id"
TOPIC_HEADER = "X-Orderstatus-Topic"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """Something that happened, about an order (and maybe one of its shipments).

    The body tells the order and the shipment as they are at the end of the transaction
    that publishes it, plus ``extra`` (what this topic adds, e.g. the status before)."""

    topic: Topic
    shop_id: int
    order_id: int
    fulfillment_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_INSERT = per_dialect(
    lambda dialect: insert(_DELIVERIES, dialect).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]
    )
)


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


async def publish(session: AsyncSession, events: Sequence[WebhookEvent]) -> int:
    """Queue the events for the endpoints subscribed to them, in the caller's
    transaction; how many deliveries were queued. A shop without endpoints costs one
    indexed look-up."""
    if not events:
        return 0
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.shop_id, WebhookEndpoint.topics, Shop.handle)
            .join(Shop, Shop.id == WebhookEndpoint.shop_id)
            .where(
                WebhookEndpoint.shop_id.in_(sorted({e.shop_id for e in events})),
                WebhookEndpoint.disabled_at.is_(None),
            )
        )
    ).all()
    wanted = [
        (
            event,
            [ep.id for ep in endpoints if ep.shop_id == event.shop_id and event.topic in ep.topics],
        )
        for event in events
    ]
    wanted = [(event, ids) for event, ids in wanted if ids]
    handles = {ep.shop_id: ep.handle for ep in endpoints}
    if not wanted:
        return 0
    orders = {
        row.id: row
        for row in await session.execute(
            select(
                Order.id,
                Order.number,
                Order.fulfillment_status,
                Order.delivery_status,
                Order.created_at,
                Order.updated_at,
            ).where(Order.id.in_(sorted({e.order_id for e, _ in wanted})))
        )
    }
    shipment_ids = sorted({e.fulfillment_id for e, _ in wanted if e.fulfillment_id is not None})
    shipments = (
        {
            row.id: row
            for row in await session.execute(
                select(
                    Fulfillment.id,
                    Fulfillment.carrier_code,
                    Fulfillment.tracking_number,
                    Fulfillment.tracking_url,
                    Fulfillment.status,
                    Fulfillment.estimated_delivery,
                    Fulfillment.cancelled_at,
                    Fulfillment.created_at,
                ).where(Fulfillment.id.in_(shipment_ids))
            )
        }
        if shipment_ids
        else {}
    )
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for event, endpoint_ids in wanted:
        order = orders.get(event.order_id)
        if order is None:
            continue
        data: dict[str, Any] = {
            "order": {
                "id": order.id,
                "number": order.number,
                "fulfillment_status": order.fulfillment_status,
                "delivery_status": order.delivery_status,
                "created_at": _time(order.created_at),
                "updated_at": _time(order.updated_at),
            }
        }
        shipment = shipments.get(event.fulfillment_id or 0)
        if shipment is not None:
            data["shipment"] = {
                "id": shipment.id,
                "order_id": order.id,
                "status": shipment.status,
                "carrier": shipment.carrier_code,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "estimated_delivery": _time(shipment.estimated_delivery),
                "cancelled": shipment.cancelled_at is not None,
                "created_at": _time(shipment.created_at),
            }
        data.update(event.extra)
        event_id = new_event_id()
        body = {
            "id": event_id,
            "topic": event.topic.value,
            "created_at": _time(now),
            "shop": handles[event.shop_id],
            "data": data,
        }
        rows += [
            {
                "shop_id": event.shop_id,
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "topic": event.topic.value,
                "body": body,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in endpoint_ids
        ]
    if rows:
        await session.execute(_INSERT[dialect_of(session)], rows)
    return len(rows)


def encode(body: dict[str, Any]) -> bytes:
    """The bytes sent (and signed) for a delivery's body."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(payload: bytes, *, secret: str, event_id: str, topic: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: custom.sign(payload, secret),
        EVENT_HEADER: event_id,
        TOPIC_HEADER: topic,
    }


@dataclass(slots=True)
class _Job:
    id: int
    event_id: str
    topic: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime
    url: str
    secret: str
    shop_id: int
    endpoint_id: int
    endpoint_off: bool
    token: str
    """This claim's: only it may record the outcome."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    state: DeliveryState
    retry_at: datetime | None = None
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    turns_off: bool = False
    """The receiver answered 410 Gone: the webhook is turned off."""


async def turn_off(
    session: AsyncSession, *, shop_id: int, endpoint_id: int, reason: str, actor: str
) -> bool:
    """Turn a webhook off, in the caller's transaction: nothing is queued for it or sent
    to it any more, and its deliveries waiting for a try fail now (those being sent end
    as they end). False if it was off already (or is not the shop's)."""
    now = datetime.now(UTC)
    changed = await session.scalar(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.shop_id == shop_id,
            WebhookEndpoint.disabled_at.is_(None),
        )
        .values(disabled_at=now, disabled_reason=reason[:200])
        .returning(WebhookEndpoint.id)
    )
    if changed is None:
        return False
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.state == DeliveryState.PENDING.value,
        )
        .values(
            state=DeliveryState.FAILED.value,
            last_error=f"not sent: the webhook was turned off ({reason})",
        )
    )
    session.add(
        Activity(
            shop_id=shop_id,
            kind="webhook_turned_off",
            actor=actor,
            message=f"Webhook {endpoint_id} turned off: {reason}",
        )
    )
    return True


def _excerpt(body: bytes) -> str:
    return body.decode("utf-8", "replace")[:RESPONSE_EXCERPT]


class WebhookSender:
    """Claims due deliveries under a lease, sends them, records the answers (only where
    the row still carries this claim's token, as the notification outbox does)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        concurrency: int = 8,
        batch_size: int = 50,
        lease: float = 60.0,
        timeout: float = outbound_http.TIMEOUT,
        backoff_base: float = 30.0,
        backoff_cap: float = 3600.0,
        poll_interval: float = 0.5,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.tls_context = tls_context
        self.database = database
        self.allow_private = settings.webhooks_allow_private
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease = lease
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.poll_interval = poll_interval
        self.stats: Counter[str] = Counter()
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, stop: asyncio.Event) -> None:
        pruned_at = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self.prune()
                handled = await self.run_once()
            except (OperationalError, DBAPIError, OSError) as exc:
                # Rows claimed but not recorded go again when their lease runs out.
                log.warning("cannot deliver webhooks: %s", exc)
                handled = 0
            except Exception:
                log.exception("cannot deliver webhooks")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        await self.close()

    async def run_once(self) -> int:
        """Claim one batch, send it and record the answers; how many were handled."""
        jobs = await self._claim()
        if not jobs:
            return 0
        room = asyncio.Semaphore(self.concurrency)

        async def one(job: _Job) -> _Outcome:
            async with room:
                return await self._deliver(job)

        outcomes = await asyncio.gather(*(one(job) for job in jobs))
        await self._record(outcomes)
        return len(outcomes)

    async def prune(self, *, older_than: timedelta = KEEP_FINISHED) -> int:
        """Remove delivered and failed deliveries older than ``older_than``; how many."""
        async with self.database.write() as session:
            gone = await session.execute(
                delete(WebhookDelivery)
                .where(
                    WebhookDelivery.state.in_(
                        [DeliveryState.SENT.value, DeliveryState.FAILED.value]
                    ),
                    WebhookDelivery.created_at < datetime.now(UTC) - older_than,
                )
                .returning(WebhookDelivery.id)
            )
            return len(gone.all())

    async def next_due(self) -> float | None:
        """Seconds until the next delivery is due (negative: overdue); None for none."""
        async with self.database.read() as session:
            when = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.state.in_(
                        [DeliveryState.PENDING.value, DeliveryState.SENDING.value]
                    )
                )
            )
        return None if when is None else (when - datetime.now(UTC)).total_seconds()

    def _due(self, now: datetime) -> Any:
        return (
            WebhookDelivery.state.in_([DeliveryState.PENDING.value, DeliveryState.SENDING.value]),
            WebhookDelivery.next_attempt_at <= now,
        )

    async def _claim(self) -> list[_Job]:
        now = datetime.now(UTC)
        async with self.database.read() as session:
            anything = await session.scalar(
                select(WebhookDelivery.id).where(*self._due(now)).limit(1)
            )
        if anything is None:
            return []
        token = secrets.token_hex(16)
        until = now + timedelta(seconds=self.lease)
        async with self.database.write() as session:
            ids = (
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(*self._due(now))
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not ids:
                return []
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(
                    state=DeliveryState.SENDING.value,
                    claim_token=token,
                    locked_until=until,
                    next_attempt_at=until,
                    # A lease that ran out means a try whose end nobody saw.
                    attempts=case(
                        (
                            WebhookDelivery.state == DeliveryState.SENDING.value,
                            WebhookDelivery.attempts + 1,
                        ),
                        else_=WebhookDelivery.attempts,
                    ),
                )
            )
            rows = (
                await session.execute(
                    select(
                        WebhookDelivery.id,
                        WebhookDelivery.event_id,
                        WebhookDelivery.topic,
                        WebhookDelivery.body,
                        WebhookDelivery.attempts,
                        WebhookDelivery.created_at,
                        WebhookEndpoint.url,
                        WebhookEndpoint.secret,
                        WebhookDelivery.shop_id,
                        WebhookDelivery.endpoint_id,
                        WebhookEndpoint.disabled_at.is_not(None).label("endpoint_off"),
                    )
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(ids))
                    .order_by(WebhookDelivery.id)
                )
            ).all()
        return [_Job(**row._mapping, token=token) for row in rows]

    async def _deliver(self, job: _Job) -> _Outcome:
        if job.endpoint_off:
            # Queued before it was turned off, or sent again since.
            return _Outcome(job, DeliveryState.FAILED, error="the webhook is turned off")
        if self._client is None:
            self._client = outbound_http.new_client(tls_context=self.tls_context)
        payload = encode(job.body)
        headers = signed_headers(payload, secret=job.secret, event_id=job.event_id, topic=job.topic)
        try:
            answer = await outbound_http.send(
                self._client,
                "POST",
                job.url,
                content=payload,
                headers=headers,
                allow_private=self.allow_private,
                time_limit=self.timeout,
                max_answer_bytes=RESPONSE_EXCERPT * 4,
            )
        except outbound_http.Forbidden as exc:
            return _Outcome(job, DeliveryState.FAILED, error=str(exc))
        except outbound_http.Unreachable as exc:
            return self._retry(job, error=str(exc))
        except Exception as exc:
            log.exception("cannot send webhook delivery %d", job.id)
            return self._retry(job, error=f"{type(exc).__name__}: {exc}")
        excerpt = _excerpt(answer.body)
        if 200 <= answer.status < 300:
            return _Outcome(job, DeliveryState.SENT, status=answer.status, excerpt=excerpt)
        if answer.status == GONE:
            return _Outcome(
                job,
                DeliveryState.FAILED,
                status=answer.status,
                excerpt=excerpt,
                error=f"{GONE_REASON}: the webhook is turned off",
                turns_off=True,
            )
        return self._retry(
            job, status=answer.status, excerpt=excerpt, error=f"answered {answer.status}"
        )

    def _retry(
        self, job: _Job, *, error: str, status: int | None = None, excerpt: str | None = None
    ) -> _Outcome:
        tries = job.attempts + 1
        wait = backoff(tries, base=self.backoff_base, cap=self.backoff_cap)
        retry_at = datetime.now(UTC) + timedelta(seconds=wait)
        if retry_at > job.created_at + RETRY_WINDOW:
            return _Outcome(
                job,
                DeliveryState.FAILED,
                status=status,
                excerpt=excerpt,
                error=f"gave up after {tries} tries in 24 hours: {error}",
            )
        return _Outcome(
            job,
            DeliveryState.PENDING,
            retry_at=retry_at,
            status=status,
            excerpt=excerpt,
            error=error,
        )

    async def _record(self, outcomes: Sequence[_Outcome]) -> None:
        now = datetime.now(UTC)
        table = _DELIVERIES
        changes = [
            {
                "b_id": o.job.id,
                "b_token": o.job.token,
                "b_state": o.state.value,
                "b_attempts": o.job.attempts + 1,
                "b_next": o.retry_at or now,
                "b_status": o.status,
                "b_excerpt": o.excerpt,
                "b_error": o.error,
                "b_sent": now if o.state is DeliveryState.SENT else None,
                "b_now": now,
            }
            for o in outcomes
        ]
        async with self.database.write() as session:
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.claim_token == bindparam("b_token"))
                .values(
                    state=bindparam("b_state"),
                    attempts=bindparam("b_attempts"),
                    next_attempt_at=bindparam("b_next"),
                    response_status=bindparam("b_status"),
                    response_excerpt=bindparam("b_excerpt"),
                    last_error=bindparam("b_error"),
                    sent_at=bindparam("b_sent"),
                    last_attempt_at=bindparam("b_now"),
                    locked_until=None,
                    claim_token=None,
                ),
                changes,
            )
            gone = {(o.job.shop_id, o.job.endpoint_id) for o in outcomes if o.turns_off}
            for shop_id, endpoint_id in sorted(gone):
                await turn_off(
                    session,
                    shop_id=shop_id,
                    endpoint_id=endpoint_id,
                    reason=GONE_REASON,
                    actor="system",
                )
        for outcome in outcomes:
            result = "retry" if outcome.state is DeliveryState.PENDING else outcome.state.value
            self.stats[f"webhook_{result}"] += 1
            metrics.outbound_webhook_recorded(outcome.job.topic, result)
            log.info(
                "webhook delivery %d (%s): %s",
                outcome.job.id,
                outcome.job.topic,
                result,
                extra={"delivery_id": outcome.job.id, "topic": outcome.job.topic, "result": result},
            )

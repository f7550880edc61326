"""A shop's outbound webhooks: add (the secret is shown once), list, turn off and on,
remove, and the recent deliveries with "Send again". The sending is in
``notify.webhooks``, which also turns a webhook off when its receiver answers 410 Gone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.models import Activity, WebhookDelivery, WebhookEndpoint
from orderstatus.domain.errors import Conflict, Invalid, NotFound
from orderstatus.domain.webhooks import (
    GONE_REASON,
    MAX_ENDPOINTS_PER_SHOP,
    STAFF_REASON,
    DeliveryState,
    Topic,
    check_url,
    parse_topics,
)
from orderstatus.notify.webhooks import new_secret, turn_off

RECENT_DELIVERIES = 50


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: int
    url: str
    topics: tuple[Topic, ...]
    created_at: datetime
    disabled_at: datetime | None = None
    """Set while the webhook is turned off: nothing is sent to it."""
    disabled_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def gone(self) -> bool:
        """Turned off because its receiver answered 410 Gone."""
        return self.disabled_reason == GONE_REASON


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    endpoint: EndpointRecord
    secret: str
    """Shown once, when the endpoint is added."""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    endpoint_id: int
    url: str
    event_id: str
    topic: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    """When it is tried next (pending only)."""
    response_status: int | None
    response_excerpt: str | None
    last_error: str | None

    @property
    def can_send_again(self) -> bool:
        return self.state in (DeliveryState.SENT, DeliveryState.FAILED)


def _record(row: WebhookEndpoint) -> EndpointRecord:
    known = {t.value for t in Topic}
    return EndpointRecord(
        id=row.id,
        url=row.url,
        topics=tuple(Topic(t) for t in row.topics if t in known),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )


def _audit(session: AsyncSession, shop_id: int, actor: str, kind: str, message: str) -> None:
    session.add(Activity(shop_id=shop_id, kind=kind, actor=actor, message=message))


async def add_endpoint(
    *, session: AsyncSession, shop_id: int, url: str, topics: Sequence[str], actor: str
) -> NewEndpoint:
    """Subscribe a URL to topics; :class:`Invalid` names a bad URL or topic."""
    problems: dict[str, str] = {}
    try:
        checked_url = check_url(url)
    except ValueError as exc:
        problems["url"] = str(exc)
    try:
        chosen = parse_topics(topics)
    except ValueError as exc:
        problems["topics"] = str(exc)
    if problems:
        raise Invalid("; ".join(problems.values()), fields=problems)
    count = await session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.shop_id == shop_id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_SHOP:
        raise Conflict(f"a shop may have at most {MAX_ENDPOINTS_PER_SHOP} webhooks")
    secret = new_secret()
    row = WebhookEndpoint(
        shop_id=shop_id,
        url=checked_url,
        topics=[t.value for t in chosen],
        secret=secret,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    _audit(session, shop_id, actor, "webhook_added", f"Webhook {row.id} added")
    return NewEndpoint(_record(row), secret)


async def list_endpoints(session: AsyncSession, *, shop_id: int) -> list[EndpointRecord]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.shop_id == shop_id)
        .order_by(WebhookEndpoint.id)
    )
    return [_record(row) for row in rows]


async def set_active(
    *, session: AsyncSession, shop_id: int, endpoint_id: int, active: bool, actor: str
) -> EndpointRecord:
    """Turn a webhook on (events from now on are sent to it; those it missed are not) or
    off (nothing more is sent; deliveries waiting for a try fail). Doing what is already
    so changes nothing."""
    if active:
        turned_on = await session.scalar(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.shop_id == shop_id,
                WebhookEndpoint.disabled_at.is_not(None),
            )
            .values(disabled_at=None, disabled_reason=None)
            .returning(WebhookEndpoint.id)
        )
        if turned_on is not None:
            _audit(session, shop_id, actor, "webhook_turned_on", f"Webhook {endpoint_id} turned on")
    else:
        who = "the API" if actor == "api" else "staff"
        await turn_off(
            session,
            shop_id=shop_id,
            endpoint_id=endpoint_id,
            reason=STAFF_REASON.format(actor=who),
            actor=actor,
        )
    row = await session.scalar(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.shop_id == shop_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("no such webhook")
    return _record(row)


async def remove_endpoint(
    *, session: AsyncSession, shop_id: int, endpoint_id: int, actor: str
) -> None:
    """Remove a webhook and its deliveries (those not sent yet are not sent)."""
    removed = await session.scalar(
        delete(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.shop_id == shop_id)
        .returning(WebhookEndpoint.id)
    )
    if removed is None:
        raise NotFound("no such webhook")
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    _audit(session, shop_id, actor, "webhook_removed", f"Webhook {endpoint_id} removed")


async def recent_deliveries(
    session: AsyncSession, *, shop_id: int, limit: int = RECENT_DELIVERIES
) -> list[DeliveryRecord]:
    """The shop's latest deliveries, newest first."""
    rows = await session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookEndpoint.url,
            WebhookDelivery.event_id,
            WebhookDelivery.topic,
            WebhookDelivery.state,
            WebhookDelivery.attempts,
            WebhookDelivery.created_at,
            WebhookDelivery.last_attempt_at,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.response_status,
            WebhookDelivery.response_excerpt,
            WebhookDelivery.last_error,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.shop_id == shop_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRecord(
            id=r.id,
            endpoint_id=r.endpoint_id,
            url=r.url,
            event_id=r.event_id,
            topic=r.topic,
            state=DeliveryState(r.state),
            attempts=r.attempts,
            created_at=r.created_at,
            last_attempt_at=r.last_attempt_at,
            next_attempt_at=r.next_attempt_at if r.state == DeliveryState.PENDING else None,
            response_status=r.response_status,
            response_excerpt=r.response_excerpt,
            last_error=r.last_error,
        )
        for r in rows
    ]


async def send_again(*, session: AsyncSession, shop_id: int, delivery_id: int, actor: str) -> None:
    """Queue a sent or failed delivery once more, now, with the same event id (so a
    receiver that already has it can tell)."""
    changed = await session.scalar(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.shop_id == shop_id,
            WebhookDelivery.state.in_([DeliveryState.SENT.value, DeliveryState.FAILED.value]),
        )
        .values(
            state=DeliveryState.PENDING.value,
            next_attempt_at=datetime.now(UTC),
            sent_at=None,
        )
        .returning(WebhookDelivery.id)
    )
    if changed is None:
        exists = await session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.shop_id == shop_id
            )
        )
        if exists is None:
            raise NotFound("no such delivery")
        raise Conflict("this delivery is still being sent")
    _audit(session, shop_id, actor, "webhook_resent", f"Webhook delivery {delivery_id} sent again")


async def find_endpoint(session: AsyncSession, *, shop_id: int, endpoint_id: int) -> None:
    """NotFound unless the shop has this webhook."""
    found = await session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.shop_id == shop_id
        )
    )
    if found is None:
        raise NotFound("no such webhook")


async def find_delivery(session: AsyncSession, *, shop_id: int, delivery_id: int) -> None:
    """NotFound unless the shop has this delivery."""
    found = await session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.shop_id == shop_id
        )
    )
    if found is None:
        raise NotFound("no such delivery")

"""Carrier webhooks: who may send them, and applying what they report."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.carriers.sources import TrackingUpdate
from orderstatus.db.models import Fulfillment, Shop, WebhookSecret
from orderstatus.domain.errors import DomainError
from orderstatus.domain.inputs import normalize_tracking_number
from orderstatus.services.orders import bump_order
from orderstatus.services.tracking import EventItem, record_events

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    unmatched: list[str] = field(default_factory=list)


async def shop_and_secret(
    session: AsyncSession, *, handle: str, source: str
) -> tuple[int | None, str | None]:
    """The shop's id and its secret for the source (either may be None)."""
    row = (
        await session.execute(
            select(Shop.id, WebhookSecret.secret)
            .outerjoin(
                WebhookSecret,
                (WebhookSecret.shop_id == Shop.id) & (WebhookSecret.source == source),
            )
            .where(Shop.handle == handle)
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def set_webhook_secret(
    session: AsyncSession, *, shop_id: int, source: str, secret: str | None = None
) -> str:
    """Set (or make) the shared secret a source signs its webhooks with."""
    value = secret or secrets.token_urlsafe(32)
    existing = await session.scalar(
        select(WebhookSecret).where(
            WebhookSecret.shop_id == shop_id, WebhookSecret.source == source
        )
    )
    if existing is None:
        session.add(WebhookSecret(shop_id=shop_id, source=source, secret=value))
    else:
        existing.secret = value
    return value


async def _matching(session: AsyncSession, shop_id: int, update_: TrackingUpdate) -> list[int]:
    """Live fulfilments of the shop with this tracking number; with several, the ones
    of the reported carrier."""
    number = normalize_tracking_number(update_.tracking_number)
    rows = (
        await session.execute(
            select(Fulfillment.id, Fulfillment.carrier_code).where(
                Fulfillment.shop_id == shop_id,
                Fulfillment.tracking_number == number,
                Fulfillment.cancelled_at.is_(None),
            )
        )
    ).all()
    if len(rows) > 1 and update_.carrier:
        same_carrier = [r for r in rows if r.carrier_code == update_.carrier]
        rows = same_carrier or rows
    return [r.id for r in rows]


async def _estimate(session: AsyncSession, fulfillment_id: int, when: datetime) -> None:
    fulfillment = await session.get_one(Fulfillment, fulfillment_id)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if fulfillment.estimated_delivery == when:
        return
    fulfillment.estimated_delivery = when
    if fulfillment.first_estimated_delivery is None:
        fulfillment.first_estimated_delivery = when
    await bump_order(session, fulfillment.order_id)


async def ingest(
    *,
    session: AsyncSession,
    shop_id: int,
    source: str,
    updates: list[TrackingUpdate],
    gazetteer: Gazetteer | None = None,
) -> IngestResult:
    """Record every event of every update; an unknown tracking number is noted, not an
    error, so that the sender does not retry it for ever."""
    result = IngestResult()
    events: list[EventItem] = []
    estimates: list[tuple[int, datetime]] = []
    for item in updates:
        targets = await _matching(session, shop_id, item)
        if not targets:
            log.info(
                "webhook %s: no fulfilment with tracking number %s", source, item.tracking_number
            )
            result.unmatched.append(item.tracking_number)
            continue
        for fulfillment_id in targets:
            events += [EventItem(shop_id, fulfillment_id, e, source) for e in item.events]
            if item.estimated_delivery is not None:
                estimates.append((fulfillment_id, item.estimated_delivery))
    if events:
        recorded = await record_events(session=session, items=events, gazetteer=gazetteer)
        for outcome in recorded:
            if isinstance(outcome, DomainError):
                continue  # a cancelled shipment: acknowledged, nothing to record
            if outcome.created:
                result.accepted += 1
            else:
                result.duplicates += 1
    for fulfillment_id, when in estimates:
        await _estimate(session, fulfillment_id, when)
    return result

"""Carrier webhooks: who may send them, and applying what they report."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.carriers.sources import PayloadError, TrackingUpdate
from orderstatus.db.models import Fulfillment, Shop, TrackingEvent, WebhookSecret
from orderstatus.db.statements import dialect_of, in_list, per_dialect
from orderstatus.domain.errors import DomainError, Malformed
from orderstatus.domain.inputs import normalize_tracking_number
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """One authenticated webhook: what it says, for which shop."""

    shop_id: int
    source: str
    updates: list[TrackingUpdate]


class _Live(NamedTuple):
    id: int
    carrier_code: str | None


class _Matches(NamedTuple):
    shipments: dict[tuple[int, str], list[_Live]]
    """Live fulfilments by (shop, tracking number)."""
    known: set[tuple[int, str, str]]
    """(fulfilment, source, sender id) of the events of theirs already stored."""


_EVENTS = cast(Table, TrackingEvent.__table__)
_SHIPMENTS = cast(Table, Fulfillment.__table__)


# One statement finds the shipments of every tracking number in a batch of webhooks and
# the events of theirs already stored (webhooks repeat the whole history each time, so
# most of what they carry is known): a row per known event, or one for a shipment
# without any.
def _match_statement(dialect: str) -> Executable:
    return (
        select(
            _SHIPMENTS.c.id,
            _SHIPMENTS.c.shop_id,
            _SHIPMENTS.c.tracking_number,
            _SHIPMENTS.c.carrier_code,
            _EVENTS.c.source,
            _EVENTS.c.source_event_id,
        )
        .outerjoin(
            _EVENTS,
            (_EVENTS.c.fulfillment_id == _SHIPMENTS.c.id)
            & in_list(_EVENTS.c.source_event_id, "ids", dialect),
        )
        .where(
            in_list(_SHIPMENTS.c.tracking_number, "numbers", dialect),
            in_list(_SHIPMENTS.c.shop_id, "shops", dialect),
            _SHIPMENTS.c.cancelled_at.is_(None),
        )
    )


_MATCH = per_dialect(_match_statement)


async def _matching(session: AsyncSession, deliveries: list[Delivery]) -> _Matches:
    found = _Matches({}, set())
    numbers = {n for d in deliveries for u in d.updates if (n := _number(u))}
    if not numbers:
        return found
    ids = {e.external_id for d in deliveries for u in d.updates for e in u.events}
    rows = await session.execute(
        _MATCH[dialect_of(session)],
        {
            "numbers": sorted(numbers),
            "shops": sorted({d.shop_id for d in deliveries}),
            "ids": sorted(i for i in ids if i) or [""],
        },
    )
    seen: set[int] = set()
    for row in rows:
        if row.id not in seen:
            seen.add(row.id)
            live = _Live(row.id, row.carrier_code)
            found.shipments.setdefault((row.shop_id, row.tracking_number), []).append(live)
        if row.source_event_id is not None:
            found.known.add((row.id, row.source, row.source_event_id))
    return found


def _number(update_: TrackingUpdate) -> str | None:
    """The reported tracking number as stored, or None for one no shipment can have
    (too short or too long): that webhook is acknowledged as unmatched."""
    try:
        return normalize_tracking_number(update_.tracking_number)
    except ValueError:
        return None


def _targets(rows: list[_Live], update_: TrackingUpdate) -> list[int]:
    """With several shipments under one number, the ones of the reported carrier."""
    if len(rows) > 1 and update_.carrier:
        rows = [r for r in rows if r.carrier_code == update_.carrier] or rows
    return [r.id for r in rows]


async def ingest_many(
    session: AsyncSession, deliveries: list[Delivery], gazetteer: Gazetteer | None = None
) -> list[IngestResult | DomainError]:
    """Record every event of every delivery, in the caller's transaction, with a handful
    of statements for any number of webhooks. An unknown tracking number is noted, not
    an error, so that the sender does not retry it for ever. A delivery with a new event
    that is not valid is that delivery's :class:`Malformed` error (nothing of it is
    recorded); events already stored are not validated again."""
    matches = await _matching(session, deliveries)
    results: list[IngestResult | DomainError] = []
    owners: list[int] = []
    """Which delivery each new event came from."""
    fresh: list[EventItem] = []
    estimates: dict[int, datetime] = {}
    for index, delivery in enumerate(deliveries):
        result = IngestResult()
        try:
            items, reported = _new_events(delivery, matches, result)
        except PayloadError as exc:
            results.append(Malformed(str(exc)))  # nothing of it is recorded
            continue
        results.append(result)
        fresh += items
        owners += [index] * len(items)
        estimates |= reported
    if fresh or estimates:
        recorded = await record_events(
            session=session, items=fresh, gazetteer=gazetteer, estimates=estimates
        )
        for outcome, owner in zip(recorded, owners, strict=True):
            counts = results[owner]
            assert isinstance(counts, IngestResult)
            if isinstance(outcome, DomainError):
                continue  # a cancelled shipment: acknowledged, nothing to record
            if outcome.created:
                counts.accepted += 1
            else:
                counts.duplicates += 1
    return results


def _new_events(
    delivery: Delivery, matches: _Matches, result: IngestResult
) -> tuple[list[EventItem], dict[int, datetime]]:
    """The events of a delivery not stored yet (validated), and the estimates it reports;
    counts its known events and unknown numbers in ``result``. Raises PayloadError for
    an event that is not valid, unless it is stored already."""
    items: list[EventItem] = []
    estimates: dict[int, datetime] = {}
    for update_ in delivery.updates:
        number = _number(update_)
        shipments = matches.shipments.get((delivery.shop_id, number), []) if number else []
        targets = _targets(shipments, update_)
        if not targets:
            for reported in update_.events:
                reported.validated()  # so that a sender still testing hears what is wrong
            log.info(
                "webhook %s: no fulfilment with tracking number %s",
                delivery.source,
                update_.tracking_number,
            )
            result.unmatched.append(update_.tracking_number)
            continue
        for fulfillment_id in targets:
            for reported in update_.events:
                external_id = reported.external_id
                if external_id and (fulfillment_id, delivery.source, external_id) in matches.known:
                    result.duplicates += 1
                    continue
                data = reported.validated()
                items.append(EventItem(delivery.shop_id, fulfillment_id, data, delivery.source))
            if update_.estimated_delivery is not None:
                estimates[fulfillment_id] = update_.estimated_delivery
    return items, estimates


async def ingest(
    *,
    session: AsyncSession,
    shop_id: int,
    source: str,
    updates: list[TrackingUpdate],
    gazetteer: Gazetteer | None = None,
) -> IngestResult:
    """One webhook's updates (:func:`ingest_many` for one delivery); raises Malformed."""
    [result] = await ingest_many(session, [Delivery(shop_id, source, updates)], gazetteer)
    if isinstance(result, DomainError):
        raise result
    return result

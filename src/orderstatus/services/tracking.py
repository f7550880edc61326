"""Recording tracking events: the one path by which a shipment's status changes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.geocode import Gazetteer, Place
from orderstatus.db.models import Fulfillment, Order, TrackingEvent
from orderstatus.domain.errors import Conflict, NotFound
from orderstatus.domain.inputs import TrackingEventInput
from orderstatus.domain.statuses import (
    Derived,
    EventStatus,
    StatusPoint,
    apply_newer,
    delivery_status,
    derive,
)
from orderstatus.services.orders import bump_order


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    event: TrackingEvent
    created: bool
    """False when the event was a duplicate and nothing changed."""
    status: EventStatus
    previous_status: EventStatus
    order_id: int

    @property
    def status_changed(self) -> bool:
        return self.status is not self.previous_status


def content_key(occurred_at: datetime, data: TrackingEventInput) -> str:
    """Identity of an event's content, so the same report from two senders counts once."""
    loc = data.location
    parts = [
        data.status.value,
        occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
        (data.message or "").casefold(),
        (loc.city or "").casefold() if loc else "",
        (loc.country_code or "") if loc else "",
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TrackingEvent)


def _aware(value: datetime, zone: str | None = None) -> tuple[datetime, bool]:
    """A carrier time in UTC, and whether its zone was a guess (no offset given): then
    it is read in the event's local zone when the place is known, else as UTC."""
    if value.tzinfo is None:
        local = ZoneInfo(zone) if zone else UTC
        return value.replace(tzinfo=local).astimezone(UTC), True
    return value.astimezone(UTC), False


def _place(data: TrackingEventInput, gazetteer: Gazetteer | None) -> Place | None:
    loc = data.location
    if loc is None or gazetteer is None:
        return None
    return gazetteer.lookup(loc.city, loc.country_code, loc.region)


async def record_event(
    *,
    session: AsyncSession,
    shop_id: int,
    fulfillment_id: int,
    data: TrackingEventInput,
    source: str = "api",
    raw: dict[str, Any] | None = None,
    gazetteer: Gazetteer | None = None,
) -> RecordedEvent:
    """Store one event and bring the shipment's and the order's status up to date.

    Duplicates (same source and id, or same content) change nothing and return the
    stored event. A place without coordinates is placed with the gazetteer when it is
    unambiguous. The order's shipments are locked for the transaction, so concurrent
    events for one order are applied one after another.
    """
    order_of = (
        select(Fulfillment.order_id)
        .where(Fulfillment.id == fulfillment_id, Fulfillment.shop_id == shop_id)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                Fulfillment.id,
                Fulfillment.status,
                Fulfillment.last_event_at,
                Fulfillment.last_event_status,
                Fulfillment.cancelled_at,
                Fulfillment.order_id,
                Order.delivery_status,
            )
            .join(Order, Order.id == Fulfillment.order_id)
            .where(Order.shop_id == shop_id, Fulfillment.order_id == order_of)
            .with_for_update()
        )
    ).all()
    target = next((row for row in rows if row.id == fulfillment_id), None)
    if target is None:
        raise NotFound("no such fulfillment")
    if target.cancelled_at is not None:
        raise Conflict("this fulfillment was cancelled")

    loc = data.location
    place = _place(data, gazetteer)
    occurred_at, guessed = _aware(data.occurred_at, place.timezone if place else None)
    latitude = loc.latitude if loc else None
    longitude = loc.longitude if loc else None
    if latitude is None and place is not None:
        latitude, longitude = place.latitude, place.longitude
    key = content_key(occurred_at, data)
    inserted = await session.scalar(
        _insert(session)
        .values(
            shop_id=shop_id,
            fulfillment_id=fulfillment_id,
            status=data.status.value,
            occurred_at=occurred_at,
            occurred_at_guessed=guessed,
            received_at=datetime.now(UTC),
            message=data.message,
            city=loc.city if loc else None,
            region=loc.region if loc else None,
            postal_code=loc.zip if loc else None,
            country_code=loc.country_code if loc else None,
            latitude=latitude,
            longitude=longitude,
            source=source,
            source_event_id=data.external_id,
            content_key=key,
            raw=raw,
        )
        .on_conflict_do_nothing()
        .returning(TrackingEvent)
    )
    previous = EventStatus(target.status)
    if inserted is None:
        duplicate_of = [TrackingEvent.content_key == key]
        if data.external_id is not None:
            duplicate_of.append(
                (TrackingEvent.source == source)
                & (TrackingEvent.source_event_id == data.external_id)
            )
        existing = await session.scalar(
            select(TrackingEvent)
            .where(TrackingEvent.fulfillment_id == fulfillment_id, or_(*duplicate_of))
            .limit(1)
        )
        assert existing is not None, "a conflicting insert implies a stored event"
        return RecordedEvent(existing, False, previous, previous, target.order_id)

    point = StatusPoint(data.status, occurred_at)
    last = (
        StatusPoint(EventStatus(target.last_event_status), target.last_event_at)
        if target.last_event_at is not None and target.last_event_status is not None
        else None
    )
    state = apply_newer(Derived(previous, last), point)
    if state is None:
        history = await session.execute(
            select(TrackingEvent.status, TrackingEvent.occurred_at).where(
                TrackingEvent.fulfillment_id == fulfillment_id
            )
        )
        state = derive(StatusPoint(EventStatus(s), t) for s, t in history)
    assert state.last is not None
    changes: dict[str, Any] = {
        "status": state.status.value,
        "last_event_at": state.last.occurred_at,
        "last_event_status": state.last.status.value,
        "updated_at": datetime.now(UTC),
    }
    if data.estimated_delivery is not None:
        changes["estimated_delivery"] = _aware(data.estimated_delivery)[0]
    await session.execute(
        update(Fulfillment).where(Fulfillment.id == fulfillment_id).values(**changes)
    )
    order_changes: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if state.status is not previous:
        summary = delivery_status(
            state.status if row.id == fulfillment_id else EventStatus(row.status)
            for row in rows
            if row.cancelled_at is None
        )
        new_summary = summary.value if summary else None
        if new_summary != target.delivery_status:
            order_changes["delivery_status"] = new_summary
    await bump_order(session, target.order_id, **order_changes)
    return RecordedEvent(inserted, True, state.status, previous, target.order_id)


async def events_by_fulfillment(
    session: AsyncSession, *, shop_id: int, fulfillment_ids: list[int]
) -> dict[int, list[TrackingEvent]]:
    """Each fulfilment's events, newest first by carrier time."""
    grouped: dict[int, list[TrackingEvent]] = {fid: [] for fid in fulfillment_ids}
    if not fulfillment_ids:
        return grouped
    events = await session.scalars(
        select(TrackingEvent)
        .where(
            TrackingEvent.shop_id == shop_id,
            TrackingEvent.fulfillment_id.in_(fulfillment_ids),
        )
        .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())
    )
    for event in events:
        grouped[event.fulfillment_id].append(event)
    return grouped

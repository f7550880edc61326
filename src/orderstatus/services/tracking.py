"""Recording tracking events: the one path by which a shipment's status changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orderstatus.carriers.geocode import Gazetteer, Place
from orderstatus.db.engine import note_events_recorded, note_order_changed
from orderstatus.db.models import Fulfillment, Order, TrackingEvent
from orderstatus.db.statements import dialect_of, in_list, insert, per_dialect
from orderstatus.domain.errors import Conflict, DomainError, NotFound
from orderstatus.domain.inputs import TrackingEventInput
from orderstatus.domain.statuses import (
    Derived,
    EventStatus,
    StatusPoint,
    apply_newer,
    delivery_status,
    derive,
)
from orderstatus.domain.webhooks import Topic
from orderstatus.notify import outbox
from orderstatus.notify.webhooks import WebhookEvent, publish


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A row of tracking_events as stored (a plain record: built for every event
    recorded, where an ORM object would cost more than writing the row)."""

    id: int
    shop_id: int
    fulfillment_id: int
    status: str
    occurred_at: datetime
    occurred_at_guessed: bool
    received_at: datetime
    message: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None
    source: str
    source_event_id: str | None
    content_key: str
    raw: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    event: StoredEvent
    created: bool
    """False when the event was a duplicate and nothing changed."""
    status: EventStatus
    previous_status: EventStatus
    order_id: int


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


_EVENTS = cast(Table, TrackingEvent.__table__)
_SHIPMENTS = cast(Table, Fulfillment.__table__)
_ORDERS = cast(Table, Order.__table__)

# The statements of the hot path are built once: building one costs more than running it.
_INSERT_EVENTS = per_dialect(
    lambda dialect: insert(_EVENTS, dialect).on_conflict_do_nothing().returning(*_EVENTS.c)
)


def _lock_statement(dialect: str) -> Executable:
    shipment_ids = in_list(_SHIPMENTS.c.id, "ids", dialect)
    return (
        select(
            _SHIPMENTS.c.id,
            _SHIPMENTS.c.shop_id,
            _SHIPMENTS.c.status,
            _SHIPMENTS.c.last_event_at,
            _SHIPMENTS.c.last_event_status,
            _SHIPMENTS.c.cancelled_at,
            _SHIPMENTS.c.order_id,
            _SHIPMENTS.c.estimated_delivery,
            _ORDERS.c.version,
        )
        .join(_ORDERS, _ORDERS.c.id == _SHIPMENTS.c.order_id)
        .where(_SHIPMENTS.c.order_id.in_(select(_SHIPMENTS.c.order_id).where(shipment_ids)))
        .order_by(_SHIPMENTS.c.id)
        .with_for_update()
    )


_LOCK = per_dialect(_lock_statement)
_ESTIMATE = bindparam("b_estimate", type_=_SHIPMENTS.c.estimated_delivery.type)
_SAVE_SHIPMENT = (
    update(_SHIPMENTS)
    .where(_SHIPMENTS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        last_event_at=bindparam("b_last_at"),
        last_event_status=bindparam("b_last_status"),
        estimated_delivery=func.coalesce(_ESTIMATE, _SHIPMENTS.c.estimated_delivery),
        first_estimated_delivery=func.coalesce(_SHIPMENTS.c.first_estimated_delivery, _ESTIMATE),
        updated_at=bindparam("b_now"),
    )
)
_SAVE_ORDER = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("b_id"))
    .values(
        version=bindparam("b_version"),
        delivery_status=bindparam("b_summary"),
        updated_at=bindparam("b_now"),
    )
)


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


@dataclass(frozen=True, slots=True)
class EventItem:
    """One event to record, for one shop's fulfilment."""

    shop_id: int
    fulfillment_id: int
    data: TrackingEventInput
    source: str = "api"
    raw: dict[str, Any] | None = None


@dataclass(slots=True)
class _Shipment:
    """A locked fulfilment and where its status stands while a batch is applied."""

    id: int
    shop_id: int
    order_id: int
    cancelled: bool
    before: EventStatus
    state: Derived
    rederive: bool = False
    estimated: datetime | None = None
    """The estimated delivery stored."""
    latest_event: StoredEvent | None = None
    estimate: datetime | None = None
    """A new estimated delivery reported in this batch."""

    @property
    def changed(self) -> bool:
        return self.latest_event is not None or (
            self.estimate is not None and self.estimate != self.estimated
        )


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
    """Store one event and bring the shipment's and the order's status up to date
    (:func:`record_events` for one event; raises NotFound or Conflict)."""
    item = EventItem(shop_id, fulfillment_id, data, source, raw)
    [result] = await record_events(session=session, items=[item], gazetteer=gazetteer)
    if isinstance(result, DomainError):
        raise result
    return result


async def record_events(
    *,
    session: AsyncSession,
    items: list[EventItem],
    gazetteer: Gazetteer | None = None,
    estimates: Mapping[int, datetime] | None = None,
) -> list[RecordedEvent | DomainError]:
    """Store events and bring their shipments' and orders' statuses up to date.

    The one way a shipment's status changes. Duplicates (same source and id, or same
    content) change nothing and come back as the stored event. A place without
    coordinates is placed with the gazetteer when it is unambiguous. Every shipment of
    the orders concerned is locked for the transaction, so concurrent writers apply
    their events one after another. Events for many shipments are written together,
    with a handful of statements whatever their number: one result per item, in order;
    an unknown or cancelled shipment is that item's error, not the batch's.

    ``estimates``: estimated deliveries reported for shipments (by id, of shops the
    caller has checked), with or without events; a changed one is shown on the page.
    """
    estimates = estimates or {}
    shipments, orders = await _lock(
        session, {item.fulfillment_id for item in items} | set(estimates)
    )
    for fulfillment_id, when in estimates.items():
        shipment = shipments.get(fulfillment_id)
        if shipment is not None and not shipment.cancelled:
            shipment.estimate = _aware(when)[0]
    results: list[RecordedEvent | DomainError | None] = [None] * len(items)
    rows: list[dict[str, Any]] = []
    valid: list[int] = []
    for index, item in enumerate(items):
        shipment = shipments.get(item.fulfillment_id)
        if shipment is None or shipment.shop_id != item.shop_id:
            results[index] = NotFound("no such fulfillment")
            continue
        if shipment.cancelled:
            results[index] = Conflict("this fulfillment was cancelled")
            continue
        rows.append(_event_row(item, gazetteer))
        valid.append(index)

    inserted: dict[tuple[int, str], StoredEvent] = {}
    if rows:
        # Executed many, so the statement is compiled once whatever the batch size.
        created = await session.execute(_INSERT_EVENTS[dialect_of(session)], rows)
        for columns in created.mappings():
            stored_event = StoredEvent(**columns)
            inserted[(stored_event.fulfillment_id, stored_event.content_key)] = stored_event

    duplicates: list[int] = []
    for index, row in zip(valid, rows, strict=True):
        item = items[index]
        shipment = shipments[item.fulfillment_id]
        event = inserted.pop((item.fulfillment_id, row["content_key"]), None)
        if event is None:
            duplicates.append(index)
            continue
        point = StatusPoint(item.data.status, event.occurred_at)
        following = None if shipment.rederive else apply_newer(shipment.state, point)
        if following is None:
            shipment.rederive = True
        else:
            shipment.state = following
        shipment.latest_event = event
        if item.data.estimated_delivery is not None:
            shipment.estimate = _aware(item.data.estimated_delivery)[0]
        results[index] = RecordedEvent(
            event, True, shipment.state.status, shipment.before, shipment.order_id
        )

    await _rederive(session, [s for s in shipments.values() if s.rederive])
    await _save(session, shipments, orders)
    stored = await _stored_duplicates(
        session, [(items[i], rows[valid.index(i)]["content_key"]) for i in duplicates]
    )
    for index, existing in zip(duplicates, stored, strict=True):
        shipment = shipments[items[index].fulfillment_id]
        results[index] = RecordedEvent(
            existing, False, shipment.state.status, shipment.state.status, shipment.order_id
        )
    final: list[RecordedEvent | DomainError] = []
    for index, result in enumerate(results):
        assert result is not None
        if isinstance(result, RecordedEvent) and result.created:
            note_events_recorded(session, items[index].source)
            shipment = shipments[items[index].fulfillment_id]
            result = RecordedEvent(
                result.event, True, shipment.state.status, shipment.before, shipment.order_id
            )
        final.append(result)
    return final


async def _lock(
    session: AsyncSession, fulfillment_ids: set[int]
) -> tuple[dict[int, _Shipment], dict[int, int]]:
    """Lock every shipment of the orders concerned (in id order, so two writers never
    wait on each other in a circle); their state, and each order's page version."""
    statement = _LOCK[dialect_of(session)]
    rows = (await session.execute(statement, {"ids": sorted(fulfillment_ids)})).all()
    shipments: dict[int, _Shipment] = {}
    orders: dict[int, int] = {}
    for row in rows:
        status = EventStatus(row.status)
        last = (
            StatusPoint(EventStatus(row.last_event_status), row.last_event_at)
            if row.last_event_at is not None and row.last_event_status is not None
            else None
        )
        shipments[row.id] = _Shipment(
            id=row.id,
            shop_id=row.shop_id,
            order_id=row.order_id,
            cancelled=row.cancelled_at is not None,
            before=status,
            state=Derived(status, last),
            estimated=row.estimated_delivery,
        )
        orders[row.order_id] = row.version
    return shipments, orders


def _event_row(item: EventItem, gazetteer: Gazetteer | None) -> dict[str, Any]:
    data = item.data
    loc = data.location
    place = _place(data, gazetteer)
    occurred_at, guessed = _aware(data.occurred_at, place.timezone if place else None)
    latitude = loc.latitude if loc else None
    longitude = loc.longitude if loc else None
    if latitude is None and place is not None:
        latitude, longitude = place.latitude, place.longitude
    return {
        "shop_id": item.shop_id,
        "fulfillment_id": item.fulfillment_id,
        "status": data.status.value,
        "occurred_at": occurred_at,
        "occurred_at_guessed": guessed,
        "received_at": datetime.now(UTC),
        "message": data.message,
        "city": loc.city if loc else None,
        "region": loc.region if loc else None,
        "postal_code": loc.zip if loc else None,
        "country_code": loc.country_code if loc else None,
        "latitude": latitude,
        "longitude": longitude,
        "source": item.source,
        "source_event_id": data.external_id,
        "content_key": content_key(occurred_at, data),
        "raw": item.raw,
    }


async def _rederive(session: AsyncSession, shipments: list[_Shipment]) -> None:
    """Events that arrived out of order: derive those shipments again from all events."""
    if not shipments:
        return
    by_id = {s.id: s for s in shipments}
    history: dict[int, list[StatusPoint]] = {s.id: [] for s in shipments}
    rows = await session.execute(
        select(TrackingEvent.fulfillment_id, TrackingEvent.status, TrackingEvent.occurred_at).where(
            TrackingEvent.fulfillment_id.in_(list(by_id))
        )
    )
    for fulfillment_id, status, occurred_at in rows:
        history[fulfillment_id].append(StatusPoint(EventStatus(status), occurred_at))
    for fulfillment_id, points in history.items():
        by_id[fulfillment_id].state = derive(points)


async def _save(
    session: AsyncSession,
    shipments: dict[int, _Shipment],
    orders: dict[int, int],
) -> None:
    """Write the new statuses, move each changed order's page on, and queue the
    notifications the changes call for, all in the caller's transaction."""
    changed = [s for s in shipments.values() if s.changed]
    if not changed:
        return
    now = datetime.now(UTC)
    # Statements built once and executed many: one round trip for any number of rows.
    await session.execute(
        _SAVE_SHIPMENT,
        [
            {
                "b_id": s.id,
                "b_status": s.state.status.value,
                "b_last_at": s.state.last.occurred_at if s.state.last else None,
                "b_last_status": s.state.last.status.value if s.state.last else None,
                "b_estimate": s.estimate,
                "b_now": now,
            }
            for s in changed
        ],
    )
    order_rows = []
    events: list[WebhookEvent] = []
    for order_id in sorted({s.order_id for s in changed}):
        version = orders[order_id]
        live = [s for s in shipments.values() if s.order_id == order_id and not s.cancelled]
        status = delivery_status(s.state.status for s in live)
        new_summary = status.value if status else None
        if status != delivery_status(s.before for s in live):
            moved = [s for s in changed if s.order_id == order_id]
            events.append(
                WebhookEvent(
                    Topic.ORDER_UPDATED,
                    shop_id=moved[0].shop_id,
                    order_id=order_id,
                    fulfillment_id=moved[0].id if len(moved) == 1 else None,
                )
            )
        order_rows.append(
            {"b_id": order_id, "b_version": version + 1, "b_summary": new_summary, "b_now": now}
        )
        note_order_changed(session, order_id, version + 1)
    await session.execute(_SAVE_ORDER, order_rows)
    await outbox.statuses_changed(
        session,
        [
            outbox.StatusChange(
                shop_id=s.shop_id,
                fulfillment_id=s.id,
                previous=s.before,
                status=s.state.status,
                occurred_at=s.latest_event.occurred_at,
                event_id=s.latest_event.id,
            )
            for s in changed
            if s.state.status is not s.before and s.latest_event is not None
        ],
    )
    for s in changed:
        if s.state.status is s.before:
            continue
        extra = {"previous_status": s.before.value}
        events.append(
            WebhookEvent(Topic.SHIPMENT_STATUS_CHANGED, s.shop_id, s.order_id, s.id, extra)
        )
        if s.state.status is EventStatus.DELIVERED:
            events.append(
                WebhookEvent(Topic.SHIPMENT_DELIVERED, s.shop_id, s.order_id, s.id, extra)
            )
    await publish(session, events)


async def _stored_duplicates(
    session: AsyncSession, wanted: list[tuple[EventItem, str]]
) -> list[StoredEvent]:
    """The stored events that repeated items duplicate (by id or by content), in one query."""
    if not wanted:
        return []
    fulfillment_ids = {item.fulfillment_id for item, _key in wanted}
    keys = {key for _item, key in wanted}
    external = {item.data.external_id for item, _key in wanted if item.data.external_id}
    condition: ColumnElement[bool] = _EVENTS.c.content_key.in_(keys)
    if external:
        condition = or_(condition, _EVENTS.c.source_event_id.in_(external))
    rows = await session.execute(
        select(_EVENTS)
        .where(_EVENTS.c.fulfillment_id.in_(fulfillment_ids), condition)
        .order_by(_EVENTS.c.id)
    )
    candidates = [StoredEvent(**columns) for columns in rows.mappings()]
    found = []
    for item, key in wanted:
        match = next(
            (
                e
                for e in candidates
                if e.fulfillment_id == item.fulfillment_id
                and (
                    e.content_key == key
                    or (
                        item.data.external_id is not None
                        and e.source == item.source
                        and e.source_event_id == item.data.external_id
                    )
                )
            ),
            None,
        )
        assert match is not None, "a conflicting insert implies a stored event"
        found.append(match)
    return found


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

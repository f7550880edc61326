"""What the admin does with orders besides shipping them: find them, read everything
about one, post a delivery event by hand, and put a note on one order's page.

Every query names the staff member's shop; an id of another shop's row is NotFound,
the same answer as an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.db.models import (
    Activity,
    Fulfillment,
    Order,
    PageMessage,
)
from orderstatus.domain.admin import (
    FILTER_DELIVERY,
    FILTER_FULFILLMENT,
    MANUAL_SOURCE,
    OrderFilter,
    SearchTerms,
)
from orderstatus.domain.errors import Conflict, NotFound
from orderstatus.domain.inputs import TrackingEventInput
from orderstatus.domain.timeline import (
    Entry,
    NotificationFact,
    build_timeline,
)
from orderstatus.services.admin_records import (
    ShipmentRow,
    activity_fact,
    event_fact,
    shipment_numbers,
    shipment_rows,
)
from orderstatus.services.notifications import list_notifications
from orderstatus.services.order_records import OrderRecord, order_record
from orderstatus.services.orders import bump_order, load_order
from orderstatus.services.tracking import RecordedEvent, events_by_fulfillment, record_event

PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: Sequence[OrderRecord]
    """Newest first."""
    before: int | None
    """The id to ask for the next (older) page with, when there is one."""


def _like(text: str, *, lower: bool = True) -> str:
    escaped = (
        (text.lower() if lower else text)
        .replace("\\", "\\\\")
        .replace("%", "\\%")
        .replace("_", "\\_")
    )
    return f"%{escaped}%"


def _matches(shop_id: int, terms: SearchTerms) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if terms.number:
        conditions.append(Order.number == terms.number)
    if terms.email:
        conditions.append(Order.email == terms.email)
        conditions.append(Order.update_email == terms.email)
    if terms.phone:
        conditions.append(Order.phone == terms.phone)
    if terms.tracking_number:
        conditions.append(
            exists().where(
                Fulfillment.shop_id == shop_id,
                Fulfillment.order_id == Order.id,
                Fulfillment.tracking_number == terms.tracking_number,
            )
        )
    if terms.name:
        full_name = Order.customer_first_name + " " + func.coalesce(Order.customer_last_name, "")
        conditions.append(func.lower(full_name).like(_like(terms.name), escape="\\"))
        # SQLite lowers ASCII only: "østby" finds "Østby" through its title-case form.
        for variant in {terms.name.title(), terms.name}:
            conditions.append(full_name.like(_like(variant, lower=False), escape="\\"))
    if "@" in terms.text and not terms.email:
        conditions.append(func.lower(Order.email).like(_like(terms.text), escape="\\"))
    return or_(*conditions) if conditions else false()


async def search_orders(
    session: AsyncSession,
    *,
    shop_id: int,
    terms: SearchTerms | None = None,
    state: OrderFilter | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> OrdersPage:
    """The shop's orders, newest first, matching the search and the state filter."""
    query = select(Order).where(Order.shop_id == shop_id)
    if terms is not None:
        query = query.where(_matches(shop_id, terms))
    if state in FILTER_FULFILLMENT:
        query = query.where(Order.fulfillment_status == FILTER_FULFILLMENT[state].value)
    elif state in FILTER_DELIVERY:
        query = query.where(Order.delivery_status.in_([s.value for s in FILTER_DELIVERY[state]]))
    if before is not None:
        query = query.where(Order.id < before)
    rows = (
        await session.scalars(
            query.order_by(Order.id.desc())
            .limit(limit + 1)
            .options(
                selectinload(Order.line_items),
                selectinload(Order.fulfillments).selectinload(Fulfillment.items),
            )
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return OrdersPage([order_record(o) for o in rows], rows[-1].id if more and rows else None)


async def count_orders(session: AsyncSession, *, shop_id: int, state: OrderFilter) -> int:
    """How many of the shop's orders a delivery filter shows (on the index of the shop
    and the delivery status)."""
    statuses = [s.value for s in FILTER_DELIVERY[state]]
    count = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.shop_id == shop_id, Order.delivery_status.in_(statuses))
    )
    return int(count or 0)


@dataclass(frozen=True, slots=True)
class OrderDetail:
    """Everything the admin's order page shows."""

    order: OrderRecord
    shipments: tuple[ShipmentRow, ...]
    """Every shipment (cancelled ones too) with its events, newest first."""
    timeline: list[Entry]
    note: str
    """The note shown on this order's status page only, as staff wrote it ("" for none)."""


async def load_order_record(session: AsyncSession, *, shop_id: int, order_id: int) -> OrderRecord:
    """The order with its items and live shipments."""
    return order_record(await load_order(session, shop_id=shop_id, order_id=order_id))


async def load_order_detail(session: AsyncSession, *, shop_id: int, order_id: int) -> OrderDetail:
    order = await load_order(session, shop_id=shop_id, order_id=order_id)
    events = await events_by_fulfillment(
        session, shop_id=shop_id, fulfillment_ids=[f.id for f in order.fulfillments]
    )
    activities = (
        await session.scalars(
            select(Activity)
            .where(Activity.shop_id == shop_id, Activity.order_id == order.id)
            .order_by(Activity.id)
        )
    ).all()
    notifications = await list_notifications(session, shop_id=shop_id, order_id=order.id)
    note = await session.scalar(
        select(PageMessage.body_markdown)
        .where(PageMessage.shop_id == shop_id, PageMessage.order_id == order.id)
        .order_by(PageMessage.id)
        .limit(1)
    )
    timeline = build_timeline(
        activities=[activity_fact(a) for a in activities],
        events=[event_fact(e) for group in events.values() for e in group],
        notifications=[
            NotificationFact(
                n.id,
                n.fulfillment_id,
                n.kind,
                n.channel,
                n.recipient,
                n.state,
                n.last_error,
                n.created_at,
                n.sent_at,
            )
            for n in notifications
        ],
        shipment_numbers=shipment_numbers(order),
    )
    return OrderDetail(order_record(order), shipment_rows(order, events), timeline, note or "")


async def _check_fulfillment(
    session: AsyncSession, *, shop_id: int, order_id: int, fulfillment_id: int
) -> Fulfillment:
    fulfillment = await session.scalar(
        select(Fulfillment).where(
            Fulfillment.id == fulfillment_id,
            Fulfillment.order_id == order_id,
            Fulfillment.shop_id == shop_id,
        )
    )
    if fulfillment is None:
        raise NotFound("no such fulfillment")
    return fulfillment


async def load_fulfillment(
    session: AsyncSession, *, shop_id: int, order_id: int, fulfillment_id: int
) -> tuple[OrderRecord, ShipmentRow]:
    """A shipment of an order of the shop, with its events, and the order."""
    order = await load_order(session, shop_id=shop_id, order_id=order_id)
    if not any(f.id == fulfillment_id for f in order.fulfillments):
        raise NotFound("no such fulfillment")
    events = await events_by_fulfillment(session, shop_id=shop_id, fulfillment_ids=[fulfillment_id])
    [shipment] = [s for s in shipment_rows(order, events) if s.id == fulfillment_id]
    return order_record(order), shipment


async def add_manual_event(
    *,
    session: AsyncSession,
    shop_id: int,
    order_id: int,
    fulfillment_id: int,
    data: TrackingEventInput,
    actor: str,
    gazetteer: Gazetteer | None = None,
) -> RecordedEvent:
    """Post what happened to a shipment that no carrier reports on (local delivery),
    through the same path as a carrier's events, and note who posted it."""
    await _check_fulfillment(
        session, shop_id=shop_id, order_id=order_id, fulfillment_id=fulfillment_id
    )
    recorded = await record_event(
        session=session,
        shop_id=shop_id,
        fulfillment_id=fulfillment_id,
        data=data,
        source=MANUAL_SOURCE,
        gazetteer=gazetteer,
    )
    if not recorded.created:
        raise Conflict("this event is already recorded", fields={"status": "duplicate"})
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=order_id,
            kind="manual_event",
            actor=actor,
            message=f"Recorded '{data.status.value}' by hand",
            data={"fulfillment_id": fulfillment_id, "event_id": recorded.event.id},
        )
    )
    return recorded


async def set_order_note(
    *, session: AsyncSession, shop_id: int, order_id: int, body: str, actor: str
) -> PageMessage | None:
    """The note on this order's status page: replaced by ``body``, removed when empty."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.shop_id == shop_id).with_for_update()
    )
    if order is None:
        raise NotFound("no such order")
    note = await session.scalar(
        select(PageMessage)
        .where(PageMessage.shop_id == shop_id, PageMessage.order_id == order_id)
        .order_by(PageMessage.id)
        .limit(1)
    )
    text = body.strip()
    if not text and note is None:
        return None
    if note is not None and note.body_markdown == text:
        return note
    if not text:
        assert note is not None
        await session.delete(note)
        kind, message = "order_note_removed", "Removed the note on the status page"
        note = None
    elif note is None:
        note = PageMessage(shop_id=shop_id, order_id=order_id, placement="top", body_markdown=text)
        session.add(note)
        kind, message = "order_note_added", "Added a note on the status page"
    else:
        note.body_markdown = text
        kind, message = "order_note_changed", "Changed the note on the status page"
    await session.flush()
    await bump_order(session, order_id)
    session.add(
        Activity(shop_id=shop_id, order_id=order_id, kind=kind, actor=actor, message=message)
    )
    return note


async def shop_region(session: AsyncSession, *, shop_id: int) -> str | None:
    """The country local phone numbers in a search are read in: where most of the
    shop's recent orders go."""
    rows = (
        await session.execute(
            select(Order.shipping_address)
            .where(Order.shop_id == shop_id)
            .order_by(Order.id.desc())
            .limit(20)
        )
    ).all()
    counts: dict[str, int] = {}
    for (address,) in rows:
        code = (address or {}).get("country_code")
        if isinstance(code, str):
            counts[code] = counts.get(code, 0) + 1
    return max(counts, key=lambda c: counts[c]) if counts else None


async def order_version(session: AsyncSession, *, shop_id: int, order_id: int) -> int | None:
    """The order's page version, or None when the shop has no such order."""
    version = await session.scalar(
        select(Order.version).where(Order.id == order_id, Order.shop_id == shop_id)
    )
    return None if version is None else int(version)

"""Fulfilments: ship some or all of an order's items."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orderstatus.carriers.detect import carrier_code
from orderstatus.db.engine import note_order_changed
from orderstatus.db.models import Activity, Fulfillment, FulfillmentItem, Order
from orderstatus.domain.admin import TrackingInput
from orderstatus.domain.errors import Conflict, Invalid, NotFound
from orderstatus.domain.inputs import FulfillmentInput
from orderstatus.domain.statuses import (
    DEFAULT_STATUS,
    EventStatus,
    delivery_status,
    fulfillment_status,
)
from orderstatus.domain.webhooks import Topic
from orderstatus.notify import outbox
from orderstatus.notify.webhooks import WebhookEvent, publish
from orderstatus.services.orders import fulfilled_quantities, live_fulfillments


async def _lock_order(session: AsyncSession, *, shop_id: int, order_id: int) -> Order:
    """The order, locked against concurrent fulfilment, with what rules need loaded."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.shop_id == shop_id)
        .with_for_update()
        .options(
            selectinload(Order.line_items),
            selectinload(Order.fulfillments).selectinload(Fulfillment.items),
        )
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("no such order")
    return order


def refresh_order_summary(order: Order) -> bool:
    """Recompute the order's cached fulfilment and delivery status from its shipments;
    whether either changed."""
    before = (order.fulfillment_status, order.delivery_status)
    shipped = fulfilled_quantities(order)
    order.fulfillment_status = fulfillment_status(
        sum(item.quantity for item in order.line_items), sum(shipped.values())
    ).value
    status = delivery_status(EventStatus(f.status) for f in live_fulfillments(order))
    order.delivery_status = status.value if status else None
    return before != (order.fulfillment_status, order.delivery_status)


def order_updated(order: Order, fulfillment_id: int | None = None) -> WebhookEvent:
    return WebhookEvent(
        Topic.ORDER_UPDATED,
        shop_id=order.shop_id,
        order_id=order.id,
        fulfillment_id=fulfillment_id,
    )


async def create_fulfillment(
    *, session: AsyncSession, shop_id: int, order_id: int, data: FulfillmentInput, actor: str
) -> Fulfillment:
    """Ship items of an order. Refuses more than is left to ship (409)."""
    order = await _lock_order(session, shop_id=shop_id, order_id=order_id)
    shipped = fulfilled_quantities(order)
    remaining = {item.id: item.quantity - shipped[item.id] for item in order.line_items}
    if data.line_items is None:
        wanted = {item_id: left for item_id, left in remaining.items() if left > 0}
        if not wanted:
            raise Conflict("every item of this order is already fulfilled")
    else:
        wanted = {item.id: item.quantity for item in data.line_items}
        unknown = [item_id for item_id in wanted if item_id not in remaining]
        if unknown:
            raise Invalid(
                f"line items {unknown} are not in this order",
                fields={"line_items": "unknown id"},
            )
        over = {
            item_id: (quantity, remaining[item_id])
            for item_id, quantity in wanted.items()
            if quantity > remaining[item_id]
        }
        if over:
            detail = "; ".join(
                f"line item {item_id}: asked {asked}, {left} left to fulfil"
                for item_id, (asked, left) in over.items()
            )
            raise Conflict(f"more than is left to fulfil ({detail})", fields={"line_items": detail})
    carrier = carrier_code(data.carrier, data.tracking_number)
    fulfillment = Fulfillment(
        shop_id=shop_id,
        order_id=order.id,
        carrier_code=carrier,
        tracking_number=data.tracking_number,
        tracking_url=data.tracking_url,
        status=DEFAULT_STATUS.value,
        notify_customer=data.notify_customer,
    )
    fulfillment.items = [
        FulfillmentItem(shop_id=shop_id, line_item_id=item_id, quantity=quantity)
        for item_id, quantity in wanted.items()
    ]
    order.fulfillments.append(fulfillment)
    session.add(fulfillment)
    await session.flush()
    summary_changed = refresh_order_summary(order)
    order.version += 1
    await session.flush()
    note_order_changed(session, order.id, order.version)
    count = sum(wanted.values())
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=order.id,
            kind="fulfillment_created",
            actor=actor,
            message=f"{count} item{'s' if count != 1 else ''} fulfilled"
            + (
                f" ({carrier or 'carrier unknown'} {data.tracking_number})"
                if data.tracking_number
                else ""
            ),
            data={"fulfillment_id": fulfillment.id},
        )
    )
    await outbox.fulfillment_created(session, order=order, fulfillment=fulfillment)
    events = [
        WebhookEvent(
            Topic.SHIPMENT_CREATED,
            shop_id=shop_id,
            order_id=order.id,
            fulfillment_id=fulfillment.id,
        )
    ]
    if summary_changed:
        events.append(order_updated(order, fulfillment.id))
    await publish(session, events)
    return fulfillment


async def get_fulfillment(
    session: AsyncSession, *, shop_id: int, fulfillment_id: int
) -> Fulfillment:
    fulfillment = await session.scalar(
        select(Fulfillment).where(Fulfillment.id == fulfillment_id, Fulfillment.shop_id == shop_id)
    )
    if fulfillment is None:
        raise NotFound("no such fulfillment")
    return fulfillment


def _live_fulfillment(order: Order, fulfillment_id: int) -> Fulfillment:
    fulfillment = next((f for f in order.fulfillments if f.id == fulfillment_id), None)
    if fulfillment is None:
        raise NotFound("no such fulfillment")
    if fulfillment.cancelled_at is not None:
        raise Conflict("this fulfillment was cancelled")
    return fulfillment


def _describe(carrier: str | None, number: str | None, url: str | None) -> str:
    return " ".join(p for p in (carrier or "no carrier", number or url or "no tracking") if p)


async def update_tracking(
    *,
    session: AsyncSession,
    shop_id: int,
    order_id: int,
    fulfillment_id: int,
    data: TrackingInput,
    actor: str,
    notify: bool = False,
) -> Fulfillment:
    """Correct a shipment's carrier, tracking number or link. With ``notify`` the
    customer gets a shipping update with the new tracking (if they get messages about
    this shipment at all)."""
    order = await _lock_order(session, shop_id=shop_id, order_id=order_id)
    fulfillment = _live_fulfillment(order, fulfillment_id)
    carrier = carrier_code(data.carrier, data.tracking_number)
    before = (fulfillment.carrier_code, fulfillment.tracking_number, fulfillment.tracking_url)
    after = (carrier, data.tracking_number, data.tracking_url)
    if before == after:
        return fulfillment
    fulfillment.carrier_code, fulfillment.tracking_number, fulfillment.tracking_url = after
    if before[:2] != after[:2]:
        # A new number is a new parcel to the carrier: ask about it now.
        fulfillment.next_poll_at = None
        fulfillment.last_polled_at = None
        fulfillment.poll_failures = 0
    order.version += 1
    await session.flush()
    note_order_changed(session, order.id, order.version)
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=order.id,
            kind="tracking_updated",
            actor=actor,
            message=f"Tracking changed from {_describe(*before)} to {_describe(*after)}",
            data={"fulfillment_id": fulfillment.id},
        )
    )
    if notify:
        await outbox.tracking_changed(session, shop_id=shop_id, fulfillment_id=fulfillment.id)
    return fulfillment


async def cancel_fulfillment(
    *, session: AsyncSession, shop_id: int, order_id: int, fulfillment_id: int, actor: str
) -> Fulfillment:
    """Undo a shipment: its items count as not shipped again, it leaves the customer's
    page, and messages about it that have not gone yet are dropped."""
    order = await _lock_order(session, shop_id=shop_id, order_id=order_id)
    fulfillment = _live_fulfillment(order, fulfillment_id)
    fulfillment.cancelled_at = datetime.now(UTC)
    summary_changed = refresh_order_summary(order)
    order.version += 1
    await session.flush()
    note_order_changed(session, order.id, order.version)
    count = sum(item.quantity for item in fulfillment.items)
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=order.id,
            kind="fulfillment_cancelled",
            actor=actor,
            message=f"Shipment of {count} item{'s' if count != 1 else ''} cancelled "
            f"({_describe(fulfillment.carrier_code, fulfillment.tracking_number, None)})",
            data={"fulfillment_id": fulfillment.id},
        )
    )
    await outbox.skip_pending(
        session, fulfillment_id=fulfillment.id, reason="the shipment was cancelled"
    )
    if summary_changed:
        await publish(session, [order_updated(order, fulfillment.id)])
    return fulfillment

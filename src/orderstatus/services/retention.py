"""Personal data over time: anonymise finished orders after the retention period, erase
a customer on request, export what is kept about a customer.

What is personal and what an anonymised order keeps is decided in
:mod:`orderstatus.domain.retention`; here each order is rewritten in one transaction
(the order, its shipments and their events, its messages in the outbox and the mailbox,
its page note and its history), and the page link stops working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.config import Settings
from orderstatus.db.engine import Database, note_streams_ended
from orderstatus.db.models import (
    Activity,
    Fulfillment,
    LineItem,
    Notification,
    Order,
    PageMessage,
    PushSubscription,
    TrackingEvent,
)
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.inputs import normalize_email, normalize_phone
from orderstatus.domain.notifications import State
from orderstatus.domain.retention import (
    ANONYMISED_NAME,
    Personal,
    anonymised_address,
    closed_statuses,
    is_anonymised,
)
from orderstatus.realtime.hub import share_tag
from orderstatus.services.admin_orders import shop_region
from orderstatus.services.orders import bump_order
from orderstatus.services.security import new_token

log = logging.getLogger(__name__)

SWEEP_BATCH = 100
SWEEP_INTERVAL = 3600.0
"""Seconds between retention sweeps in a worker."""

RETENTION = "retention"
ERASURE = "erasure"
_UNSENT = (State.PENDING.value, State.SENDING.value, State.HELD.value, State.FAILED.value)
"""Messages that never reached the customer: once the data is gone none may go (a held
one leaves the mailbox, a failed one can no longer be sent again)."""
DROPPED = "the customer's data was removed"


async def anonymise_order(
    session: AsyncSession, *, order_id: int, actor: str, reason: str = RETENTION
) -> bool:
    """Remove the customer's data from one order; False if it was already gone."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None or is_anonymised(order.customer_first_name):
        return False
    shipments = (
        await session.scalars(select(Fulfillment).where(Fulfillment.order_id == order_id))
    ).all()
    region = (order.shipping_address or {}).get("country_code")
    personal = Personal.of(
        names=(
            order.customer_first_name,
            order.customer_last_name,
            f"{order.customer_first_name} {order.customer_last_name or ''}",
        ),
        emails=(order.email, order.update_email),
        phones=(order.phone,),
        addresses=(order.shipping_address, order.billing_address),
        tracking_numbers=[s.tracking_number for s in shipments],
        region=region if isinstance(region, str) else None,
    )
    if order.share_token:
        note_streams_ended(session, share_tag(order.share_token))
    await bump_order(
        session,
        order_id,
        customer_first_name=ANONYMISED_NAME,
        customer_last_name=None,
        email=None,
        phone=None,
        update_email=None,
        shipping_address=anonymised_address(order.shipping_address),
        billing_address=anonymised_address(order.billing_address),
        payment_brand=None,
        payment_last4=None,
        note=None,
        share_token=None,
        status_token=new_token(),
    )
    await session.execute(
        update(Fulfillment)
        .where(Fulfillment.order_id == order_id)
        .values(tracking_number=None, tracking_url=None)
    )
    shipment_ids = [s.id for s in shipments]
    if shipment_ids:
        await session.execute(
            update(TrackingEvent)
            .where(TrackingEvent.fulfillment_id.in_(shipment_ids))
            .values(message=None, raw=None, postal_code=None, latitude=None, longitude=None)
        )
    await session.execute(
        update(Notification)
        .where(Notification.order_id == order_id, Notification.state.in_(_UNSENT))
        .values(state=State.SKIPPED.value, last_error=DROPPED, locked_until=None, claim_token=None)
    )
    messages = (
        await session.scalars(select(Notification).where(Notification.order_id == order_id))
    ).all()
    for message in messages:
        message.recipient = ""
        message.payload = None
        if message.last_error:
            message.last_error = personal.scrub(message.last_error)
    await session.execute(delete(PageMessage).where(PageMessage.order_id == order_id))
    await session.execute(delete(PushSubscription).where(PushSubscription.order_id == order_id))
    history = (await session.scalars(select(Activity).where(Activity.order_id == order_id))).all()
    for entry in history:
        entry.message = personal.scrub_history(entry.kind, entry.message)
        if entry.data is not None:
            entry.data = personal.scrub_json(entry.data)
    session.add(
        Activity(
            shop_id=order.shop_id,
            order_id=order_id,
            kind="customer_data_removed",
            actor=actor,
            message="Customer data removed at the customer's request"
            if reason == ERASURE
            else "Customer data removed after the retention period",
        )
    )
    await session.flush()
    return True


async def due_for_anonymising(
    session: AsyncSession, *, days: int, now: datetime | None = None, limit: int = SWEEP_BATCH
) -> list[int]:
    """Finished orders (delivered, or cancelled) unchanged for ``days`` that still hold
    personal data."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    rows = await session.scalars(
        select(Order.id)
        .where(
            or_(
                and_(
                    Order.fulfillment_status == "fulfilled",
                    Order.delivery_status.in_(closed_statuses()),
                ),
                Order.cancelled_at.is_not(None),
            ),
            Order.updated_at < cutoff,
            Order.customer_first_name != ANONYMISED_NAME,
        )
        .order_by(Order.id)
        .limit(limit)
    )
    return list(rows)


async def sweep(
    database: Database, *, days: int, now: datetime | None = None, batch: int = SWEEP_BATCH
) -> int:
    """Anonymise every order past the retention period, one transaction per order;
    returns how many. Safe to run in several workers at once."""
    done = 0
    while True:
        async with database.read() as session:
            due = await due_for_anonymising(session, days=days, now=now, limit=batch)
        for order_id in due:
            async with database.write() as session:
                done += await anonymise_order(session, order_id=order_id, actor="system")
        if len(due) < batch:
            return done


async def run_retention(
    database: Database, days: int, stop: asyncio.Event, *, interval: float = SWEEP_INTERVAL
) -> None:
    """Sweep until ``stop`` is set, every ``interval`` seconds."""
    log.info("personal data of finished orders is removed after %d days", days)
    while not stop.is_set():
        try:
            removed = await sweep(database, days=days)
            if removed:
                log.info("retention: customer data removed from %d orders", removed)
        except Exception:
            log.exception("retention sweep failed; trying again in %.0f s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def start_retention(
    database: Database, settings: Settings, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """The retention sweep in the background of a worker, when ORDERSTATUS_RETAIN_PII_DAYS
    is set (otherwise personal data is kept)."""
    if settings.retain_pii_days is None:
        return None
    return asyncio.create_task(
        run_retention(database, settings.retain_pii_days, stop), name="retention"
    )


# ---- one customer ----


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """How a customer is found: an e-mail (checkout or opt-in) or a phone, normalised as
    orders store them."""

    email: str | None = None
    phone: str | None = None


async def customer_key(
    session: AsyncSession, *, shop_id: int, email: str | None = None, phone: str | None = None
) -> CustomerKey:
    if bool(email) == bool(phone):
        raise Invalid("give an e-mail address or a phone number")
    try:
        if email:
            return CustomerKey(email=normalize_email(email))
        assert phone is not None
        region = await shop_region(session, shop_id=shop_id)
        return CustomerKey(phone=normalize_phone(phone, region))
    except ValueError as exc:
        field = "email" if email else "phone"
        raise Invalid(f"{field} {exc}", fields={field: str(exc)}) from None


async def customer_orders(session: AsyncSession, *, shop_id: int, key: CustomerKey) -> list[int]:
    """The shop's orders of this customer, oldest first."""
    if key.email:
        match = or_(Order.email == key.email, Order.update_email == key.email)
    else:
        match = Order.phone == key.phone
    rows = await session.scalars(
        select(Order.id).where(Order.shop_id == shop_id, match).order_by(Order.id)
    )
    return list(rows)


def _record_erasure(session: AsyncSession, shop_id: int, actor: str, count: int, by: str) -> None:
    """The shop's audit line of an erasure request, without whom it was about."""
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=None,
            kind="customer_erased",
            actor=actor,
            message=f"Erasure request carried out: customer data removed from {count} "
            f"order{'s' if count != 1 else ''}",
            data={"orders": count, "by": by},
        )
    )


async def erase_customer(
    *,
    session: AsyncSession,
    shop_id: int,
    actor: str,
    email: str | None = None,
    phone: str | None = None,
) -> int:
    """A customer's erasure request: every order of theirs in the shop is anonymised,
    their unsent messages dropped; the shop's history records the request (without
    whom it was about). Returns the number of orders."""
    key = await customer_key(session, shop_id=shop_id, email=email, phone=phone)
    count = 0
    for order_id in await customer_orders(session, shop_id=shop_id, key=key):
        count += await anonymise_order(session, order_id=order_id, actor=actor, reason=ERASURE)
    _record_erasure(session, shop_id, actor, count, "email" if key.email else "phone")
    await session.flush()
    return count


async def erase_order_customer(
    *, session: AsyncSession, shop_id: int, actor: str, order_id: int
) -> int:
    """The erasure request of the customer of this order (the admin's action): all
    their orders go, found by the order's e-mail addresses and phone."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.shop_id == shop_id)
    )
    if order is None:
        raise NotFound("no such order")
    keys = [CustomerKey(email=e) for e in (order.email, order.update_email) if e]
    if order.phone:
        keys.append(CustomerKey(phone=order.phone))
    ids = {order_id}
    for key in keys:
        ids.update(await customer_orders(session, shop_id=shop_id, key=key))
    count = 0
    for one in sorted(ids):
        count += await anonymise_order(session, order_id=one, actor=actor, reason=ERASURE)
    _record_erasure(session, shop_id, actor, count, "order")
    await session.flush()
    return count


async def export_customer(
    session: AsyncSession,
    *,
    shop_id: int,
    email: str | None = None,
    phone: str | None = None,
) -> dict[str, Any]:
    """Everything kept about one customer in the shop, as JSON-ready data."""
    key = await customer_key(session, shop_id=shop_id, email=email, phone=phone)
    ids = await customer_orders(session, shop_id=shop_id, key=key)
    orders = []
    for order_id in ids:
        order = await session.get_one(Order, order_id)
        items = (
            await session.scalars(
                select(LineItem).where(LineItem.order_id == order_id).order_by(LineItem.position)
            )
        ).all()
        shipments = (
            await session.scalars(
                select(Fulfillment).where(Fulfillment.order_id == order_id).order_by(Fulfillment.id)
            )
        ).all()
        events = (
            await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.fulfillment_id.in_([s.id for s in shipments]))
                .order_by(TrackingEvent.occurred_at)
            )
        ).all()
        messages = (
            await session.scalars(
                select(Notification)
                .where(Notification.order_id == order_id)
                .order_by(Notification.id)
            )
        ).all()
        notes = (
            await session.scalars(select(PageMessage).where(PageMessage.order_id == order_id))
        ).all()
        devices = (
            await session.scalars(
                select(PushSubscription)
                .where(PushSubscription.order_id == order_id)
                .order_by(PushSubscription.id)
            )
        ).all()
        orders.append(
            {
                "number": order.number,
                "created_at": order.created_at.isoformat(),
                "locale": order.locale,
                "customer": {
                    "first_name": order.customer_first_name,
                    "last_name": order.customer_last_name,
                },
                "email": order.email,
                "phone": order.phone,
                "update_email": order.update_email,
                "shipping_address": order.shipping_address,
                "billing_address": order.billing_address,
                "payment": {
                    "method": order.payment_method,
                    "brand": order.payment_brand,
                    "last4": order.payment_last4,
                },
                "note": order.note,
                "currency": order.currency,
                "totals": {
                    "subtotal": str(order.subtotal),
                    "shipping": str(order.shipping_total),
                    "discount": str(order.discount_total),
                    "tax": str(order.tax_total),
                    "total": str(order.total),
                },
                "line_items": [
                    {
                        "title": i.title,
                        "variant": i.variant,
                        "sku": i.sku,
                        "quantity": i.quantity,
                        "price": str(i.unit_price),
                    }
                    for i in items
                ],
                "shipments": [
                    {
                        "carrier": s.carrier_code,
                        "tracking_number": s.tracking_number,
                        "tracking_url": s.tracking_url,
                        "status": s.status,
                        "created_at": s.created_at.isoformat(),
                        "cancelled_at": s.cancelled_at.isoformat() if s.cancelled_at else None,
                        "events": [
                            {
                                "status": e.status,
                                "occurred_at": e.occurred_at.isoformat(),
                                "message": e.message,
                                "city": e.city,
                                "postal_code": e.postal_code,
                                "country_code": e.country_code,
                            }
                            for e in events
                            if e.fulfillment_id == s.id
                        ],
                    }
                    for s in shipments
                ],
                "messages": [
                    {
                        "kind": m.kind,
                        "channel": m.channel,
                        "to": m.recipient,
                        "state": m.state,
                        "created_at": m.created_at.isoformat(),
                        "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                    }
                    for m in messages
                ],
                "page_notes": [n.body_markdown for n in notes],
                "push_devices": [
                    {"endpoint": d.endpoint, "created_at": d.created_at.isoformat()}
                    for d in devices
                ],
            }
        )
    return {"email": key.email, "phone": key.phone, "orders": orders}

"""The outbox: notification rows added in the caller's transaction, never committed here.

A message is written together with the change that causes it, or not at all: if the
order or the event rolls back, so does its message. Each row's idempotency key is
unique, so the same message offered twice (a repeated webhook, a retried request) is
skipped by the database with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orderstatus.db.models import Fulfillment, Notification, Order, PushSubscription, Shop
from orderstatus.db.statements import dialect_of, in_list, insert, per_dialect
from orderstatus.domain.notifications import (
    SHIPMENT_KINDS,
    Contacts,
    Kind,
    Planned,
    Preferences,
    State,
    delivered_before_known,
    idempotency_key,
    kind_for_change,
    plan,
)
from orderstatus.domain.notifications import kinds_off as off_kinds
from orderstatus.domain.statuses import EventStatus

ALREADY_DELIVERED = "the shipment was already delivered when it reached us"
TRACKING_CHANGED = "tracking_changed"
"""The status a shipping update about a corrected tracking number tells of."""


def preferences(
    kinds_off: Iterable[str] | None,
    sms_confirmation_with_email: bool,
    kinds_on: Iterable[str] | None = (),
) -> Preferences:
    """The shop's stored choices; a kind name we no longer know is ignored. ``kinds_on``
    are the opt-in kinds the merchant turned on (domain.notifications.OPT_IN)."""
    known = {k.value for k in Kind}
    return Preferences(
        kinds_off=off_kinds(
            (Kind(k) for k in (kinds_off or ()) if k in known),
            (Kind(k) for k in (kinds_on or ()) if k in known),
        ),
        sms_confirmation_with_email=bool(sms_confirmation_with_email),
    )


_NOTIFICATIONS = cast(Table, Notification.__table__)
_INSERT = per_dialect(
    lambda dialect: (
        insert(_NOTIFICATIONS, dialect)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(_NOTIFICATIONS.c.id)
    )
)


def _rows(
    shop_id: int,
    order_id: int,
    fulfillment_id: int | None,
    messages: Sequence[Planned],
    cause: dict[str, Any] | None,
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "shop_id": shop_id,
            "order_id": order_id,
            "fulfillment_id": fulfillment_id,
            "kind": m.kind.value,
            "channel": m.channel.value,
            "recipient": m.recipient,
            "idempotency_key": idempotency_key(
                order_id, fulfillment_id, m.kind, m.channel, m.recipient
            ),
            "state": State.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "payload": cause,
        }
        for m in messages
    ]


async def _insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows (a repeat of a queued message is skipped); how many were new."""
    if not rows:
        return 0
    inserted = await session.execute(_INSERT[dialect_of(session)], rows)
    return len(inserted.all())


async def enqueue(
    session: AsyncSession,
    *,
    shop_id: int,
    order_id: int,
    fulfillment_id: int | None,
    messages: Sequence[Planned],
    cause: dict[str, Any] | None = None,
) -> int:
    """Add the planned messages; returns how many were new (a repeat adds nothing).

    ``cause`` is kept in the row's payload: what the shipment's status was and which
    event made it so, because by the time the message is rendered the shipment may
    have moved on, and the message must tell what happened then."""
    rows = _rows(shop_id, order_id, fulfillment_id, messages, cause, datetime.now(UTC))
    return await _insert_rows(session, rows)


async def devices_of(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The devices that asked for pushes about each order (their subscription ids)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    found: dict[int, list[str]] = {}
    rows = await session.execute(
        select(PushSubscription.order_id, PushSubscription.id)
        .where(PushSubscription.order_id.in_(ids))
        .order_by(PushSubscription.id)
    )
    for order_id, device_id in rows:
        found.setdefault(order_id, []).append(str(device_id))
    return {order_id: tuple(devices) for order_id, devices in found.items()}


async def order_placed(session: AsyncSession, *, shop: Shop, order: Order) -> int:
    """The order confirmation, by the channels the customer's contacts call for (a new
    order has no devices yet: they are added on its page)."""
    messages = plan(
        Kind.ORDER_CONFIRMATION,
        Contacts(order.email, order.phone, order.update_email),
        preferences(
            shop.notification_kinds_off,
            shop.sms_confirmation_with_email,
            shop.notification_kinds_on,
        ),
    )
    return await enqueue(
        session, shop_id=shop.id, order_id=order.id, fulfillment_id=None, messages=messages
    )


async def _shop_preferences(session: AsyncSession, shop_id: int) -> Preferences:
    row = (
        await session.execute(
            select(
                Shop.notification_kinds_off,
                Shop.sms_confirmation_with_email,
                Shop.notification_kinds_on,
            ).where(Shop.id == shop_id)
        )
    ).one()
    return preferences(
        row.notification_kinds_off, row.sms_confirmation_with_email, row.notification_kinds_on
    )


async def fulfillment_created(
    session: AsyncSession, *, order: Order, fulfillment: Fulfillment
) -> int:
    """The shipping confirmation, unless the merchant chose not to tell the customer."""
    if not fulfillment.notify_customer:
        return 0
    devices = (await devices_of(session, [order.id])).get(order.id, ())
    messages = plan(
        Kind.SHIPPING_CONFIRMATION,
        Contacts(order.email, order.phone, order.update_email, devices),
        await _shop_preferences(session, order.shop_id),
    )
    return await enqueue(
        session,
        shop_id=order.shop_id,
        order_id=order.id,
        fulfillment_id=fulfillment.id,
        messages=messages,
    )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A shipment's status moved, in the transaction that moved it."""

    shop_id: int
    fulfillment_id: int
    previous: EventStatus
    status: EventStatus
    occurred_at: datetime
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class _ShipmentMessage:
    shop_id: int
    fulfillment_id: int
    kind: Kind
    status: EventStatus | None = None
    occurred_at: datetime | None = None
    cause: dict[str, Any] | None = None


def _contacts_statement(dialect: str) -> Executable:
    return (
        select(
            Fulfillment.id,
            Fulfillment.shop_id,
            Fulfillment.order_id,
            Fulfillment.created_at,
            Fulfillment.notify_customer,
            Fulfillment.cancelled_at,
            Order.email,
            Order.phone,
            Order.update_email,
            Shop.notification_kinds_off,
            Shop.sms_confirmation_with_email,
            Shop.notification_kinds_on,
        )
        .join(Order, Order.id == Fulfillment.order_id)
        .join(Shop, Shop.id == Fulfillment.shop_id)
        .where(in_list(cast(ColumnElement[Any], Fulfillment.id), "ids", dialect))
    )


_SHIPMENT_CONTACTS = per_dialect(_contacts_statement)


async def _shipment_messages(session: AsyncSession, wanted: Sequence[_ShipmentMessage]) -> int:
    """Queue messages about shipments (one query and one insert for any number)."""
    if not wanted:
        return 0
    found = {
        row.id: row
        for row in await session.execute(
            _SHIPMENT_CONTACTS[dialect_of(session)],
            {"ids": sorted({w.fulfillment_id for w in wanted})},
        )
    }
    devices = await devices_of(session, (row.order_id for row in found.values()))
    rows: list[dict[str, Any]] = []
    already_delivered: list[int] = []
    now = datetime.now(UTC)
    for w in wanted:
        row = found.get(w.fulfillment_id)
        if row is None or row.shop_id != w.shop_id:
            continue
        if not row.notify_customer or row.cancelled_at is not None:
            continue
        if (
            w.status is not None
            and w.occurred_at is not None
            and delivered_before_known(w.status, w.occurred_at, row.created_at)
        ):
            already_delivered.append(w.fulfillment_id)
            continue
        messages = plan(
            w.kind,
            Contacts(row.email, row.phone, row.update_email, devices.get(row.order_id, ())),
            preferences(
                row.notification_kinds_off,
                row.sms_confirmation_with_email,
                row.notification_kinds_on,
            ),
        )
        rows += _rows(w.shop_id, row.order_id, w.fulfillment_id, messages, w.cause, now)
    for fulfillment_id in already_delivered:
        await skip_pending(session, fulfillment_id=fulfillment_id, reason=ALREADY_DELIVERED)
    return await _insert_rows(session, rows)


async def statuses_changed(session: AsyncSession, changes: Sequence[StatusChange]) -> int:
    """The messages shipments' new statuses call for, if any (domain.notifications)."""
    wanted = []
    for change in changes:
        kind = kind_for_change(change.previous, change.status)
        if kind is not None:
            wanted.append(
                _ShipmentMessage(
                    shop_id=change.shop_id,
                    fulfillment_id=change.fulfillment_id,
                    kind=kind,
                    status=change.status,
                    occurred_at=change.occurred_at,
                    cause={"status": change.status.value, "event_id": change.event_id},
                )
            )
    return await _shipment_messages(session, wanted)


async def tracking_changed(session: AsyncSession, *, shop_id: int, fulfillment_id: int) -> int:
    """A shipping update for a shipment whose carrier or tracking number was corrected."""
    message = _ShipmentMessage(
        shop_id=shop_id,
        fulfillment_id=fulfillment_id,
        kind=Kind.SHIPPING_UPDATE,
        cause={"status": TRACKING_CHANGED},
    )
    return await _shipment_messages(session, [message])


async def skip_pending(session: AsyncSession, *, fulfillment_id: int, reason: str) -> None:
    """Messages about a shipment that are still waiting and no longer make sense."""
    await session.execute(
        update(Notification)
        .where(
            Notification.fulfillment_id == fulfillment_id,
            Notification.state == State.PENDING.value,
            Notification.kind.in_([k.value for k in SHIPMENT_KINDS]),
        )
        .values(state=State.SKIPPED.value, last_error=reason)
    )

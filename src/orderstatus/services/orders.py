"""Orders: create, read, list. One way to create an order, whoever asks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orderstatus.db.engine import note_order_changed
from orderstatus.db.models import Activity, Fulfillment, LineItem, Order, Shop
from orderstatus.domain.errors import Conflict, Invalid, NotFound
from orderstatus.domain.inputs import (
    MAX_ID,
    OrderInput,
    normalize_email,
    normalize_order_number,
)
from orderstatus.domain.statuses import EventStatus, FulfillmentStatus
from orderstatus.domain.webhooks import Topic
from orderstatus.notify import outbox
from orderstatus.notify.webhooks import WebhookEvent, publish
from orderstatus.services import product_images
from orderstatus.services.security import new_token

MAX_PAGE = 100


async def bump_order(session: AsyncSession, order_id: int, **values: object) -> int:
    """Change the order (with ``values``) and move its page version on; returns the new
    version. Every change a customer could see on the page goes through here."""
    version = await session.scalar(
        update(Order)
        .where(Order.id == order_id)
        .values(version=Order.version + 1, **values)
        .returning(Order.version)
    )
    assert version is not None, "bump_order on a missing order"
    note_order_changed(session, order_id, version)
    return int(version)


async def get_shop(session: AsyncSession, handle: str) -> Shop:
    shop = await session.scalar(select(Shop).where(Shop.handle == handle))
    if shop is None:
        raise NotFound(f"no shop {handle!r}")
    return shop


async def _next_number(session: AsyncSession, shop_id: int) -> str:
    """The shop's next free number (#1001, #1002, …), skipping numbers callers chose."""
    while True:
        number = await session.scalar(
            update(Shop)
            .where(Shop.id == shop_id)
            .values(next_order_number=Shop.next_order_number + 1)
            .returning(Shop.next_order_number - 1)
        )
        candidate = str(number)
        taken = await session.scalar(
            select(Order.id).where(Order.shop_id == shop_id, Order.number == candidate)
        )
        if taken is None:
            return candidate


async def create_order(*, session: AsyncSession, shop: Shop, data: OrderInput, actor: str) -> Order:
    """Store a new order with its items; the caller's transaction commits it."""
    totals = data.checked_totals(taxes_included=shop.taxes_included)
    if data.number is not None:
        exists = await session.scalar(
            select(Order.id).where(Order.shop_id == shop.id, Order.number == data.number)
        )
        if exists is not None:
            raise Conflict(f"order #{data.number} already exists", fields={"number": "taken"})
    number = data.number or await _next_number(session, shop.id)
    order = Order(
        shop_id=shop.id,
        number=number,
        status_token=new_token(),
        locale=data.locale,
        currency=data.currency,
        customer_first_name=data.customer.first_name,
        customer_last_name=data.customer.last_name,
        email=data.email,
        phone=data.phone,
        shipping_address=data.shipping_address.model_dump(exclude_none=True),
        billing_address=(
            data.billing_address.model_dump(exclude_none=True) if data.billing_address else None
        ),
        payment_method=data.payment.method,
        payment_brand=data.payment.brand,
        payment_last4=data.payment.last4,
        subtotal=totals.subtotal,
        shipping_total=totals.shipping,
        discount_total=totals.discount,
        tax_total=totals.tax,
        taxes_included=totals.taxes_included,
        total=totals.total,
        fulfillment_status=FulfillmentStatus.UNFULFILLED.value,
    )
    order.line_items = [
        LineItem(
            shop_id=shop.id,
            position=position,
            title=item.title,
            variant=item.variant,
            sku=item.sku,
            quantity=item.quantity,
            unit_price=item.price,
            image_url=item.image_url,
        )
        for position, item in enumerate(data.line_items)
    ]
    order.fulfillments = []
    session.add(order)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"order #{number} already exists", fields={"number": "taken"}) from None
    session.add(
        Activity(
            shop_id=shop.id,
            order_id=order.id,
            kind="order_created",
            actor=actor,
            message=f"Order #{number} placed",
        )
    )
    await product_images.remember(session, (item.image_url for item in data.line_items))
    await outbox.order_placed(session, shop=shop, order=order)
    await publish(session, [WebhookEvent(Topic.ORDER_CREATED, shop_id=shop.id, order_id=order.id)])
    return order


async def load_order(session: AsyncSession, *, shop_id: int, order_id: int) -> Order:
    """The order with its items and live fulfilments (and their items) loaded."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.shop_id == shop_id)
        .options(
            selectinload(Order.line_items),
            selectinload(Order.fulfillments).selectinload(Fulfillment.items),
        )
    )
    if order is None:
        raise NotFound("no such order")
    return order


def live_fulfillments(order: Order) -> list[Fulfillment]:
    return [f for f in order.fulfillments if f.cancelled_at is None]


def fulfilled_quantities(order: Order) -> dict[int, int]:
    """Shipped quantity per line item id, counting only fulfilments not cancelled."""
    shipped = {item.id: 0 for item in order.line_items}
    for fulfillment in live_fulfillments(order):
        for item in fulfillment.items:
            shipped[item.line_item_id] += item.quantity
    return shipped


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: Sequence[Order]
    next_cursor: str | None


def _encode_cursor(order_id: int) -> str:
    return base64.urlsafe_b64encode(f"o:{order_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "o" or not value.isascii() or not value.isdigit() or len(value) > 64:
            raise ValueError(cursor)
        # "Before order N": past the largest id there can be, that is every order.
        return min(int(value), MAX_ID)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("cursor is not one this API gave out", fields={"cursor": "invalid"}) from None


ORDER_FILTERS = frozenset({s.value for s in FulfillmentStatus} | {s.value for s in EventStatus})


async def list_orders(
    session: AsyncSession,
    *,
    shop_id: int,
    number: str | None = None,
    email: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> OrderPage:
    """Newest first, paged by an opaque cursor (stable while orders are added)."""
    query = select(Order).where(Order.shop_id == shop_id)
    if number:
        try:
            query = query.where(Order.number == normalize_order_number(number))
        except ValueError as exc:
            raise Invalid(f"number {exc}", fields={"number": str(exc)}) from None
    if email:
        try:
            query = query.where(Order.email == normalize_email(email))
        except ValueError as exc:
            raise Invalid(f"email {exc}", fields={"email": str(exc)}) from None
    if status:
        if status not in ORDER_FILTERS:
            raise Invalid(
                f"status must be one of {', '.join(sorted(ORDER_FILTERS))}",
                fields={"status": "unknown"},
            )
        if status in FulfillmentStatus.__members__.values():
            query = query.where(Order.fulfillment_status == status)
        else:
            query = query.where(Order.delivery_status == status)
    if cursor:
        query = query.where(Order.id < _decode_cursor(cursor))
    limit = max(1, min(limit, MAX_PAGE))
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
    return OrderPage(rows, _encode_cursor(rows[-1].id) if more else None)


async def count_orders(session: AsyncSession, *, shop_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(Order.shop_id == shop_id)) or 0)

"""Orders, their shipments and their shops as plain records, for the API and the storefront.

The services read and write ORM rows; what they hand to the web is one of these frozen
records, built inside the transaction, so no handler reads a row (or touches a session
after it closed). Money stays a Decimal and times stay datetimes: how they are written
out is the web's business.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.models import Fulfillment, Order, Shop, TrackingEvent
from orderstatus.domain.errors import NotFound
from orderstatus.domain.inputs import FulfillmentInput, OrderInput
from orderstatus.domain.retention import is_anonymised
from orderstatus.domain.statuses import EventStatus, headline, headline_text
from orderstatus.domain.view import ShopData
from orderstatus.services import fulfillments, orders, tracking
from orderstatus.services.status_pages import shop_data
from orderstatus.services.tracking import StoredEvent


@dataclass(frozen=True, slots=True)
class ShopRecord:
    """A shop as the storefront needs it: its page data, prices, and whether it sells."""

    id: int
    page: ShopData
    currency: str
    taxes_included: bool
    storefront_enabled: bool


@dataclass(frozen=True, slots=True)
class LineItemRecord:
    id: int
    title: str
    variant: str | None
    sku: str | None
    quantity: int
    fulfilled_quantity: int
    """Shipped by fulfilments not cancelled."""
    unit_price: Decimal
    image_url: str | None

    @property
    def unfulfilled(self) -> int:
        return self.quantity - self.fulfilled_quantity


@dataclass(frozen=True, slots=True)
class ShippedItem:
    line_item_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class FulfillmentRecord:
    id: int
    order_id: int
    status: EventStatus
    carrier_code: str | None
    tracking_number: str | None
    tracking_url: str | None
    estimated_delivery: datetime | None
    items: tuple[ShippedItem, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: int
    number: str
    status_token: str
    created_at: datetime
    locale: str | None
    currency: str
    customer_first_name: str
    customer_last_name: str | None
    email: str | None
    phone: str | None
    update_email: str | None
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    payment_method: str
    payment_brand: str | None
    payment_last4: str | None
    subtotal: Decimal
    shipping_total: Decimal
    discount_total: Decimal
    tax_total: Decimal
    taxes_included: bool
    total: Decimal
    fulfillment_status: str
    delivery_status: EventStatus | None
    headline: str
    """What the status page's headline says, in English."""
    line_items: tuple[LineItemRecord, ...]
    fulfillments: tuple[FulfillmentRecord, ...]
    """The fulfilments not cancelled."""
    version: int
    """Moves on with every change the order's page shows."""

    @property
    def anonymised(self) -> bool:
        """The customer's data was removed (retention period or erasure request)."""
        return is_anonymised(self.customer_first_name)

    @property
    def quantity(self) -> int:
        """How many items it has, all lines together."""
        return sum(item.quantity for item in self.line_items)

    @property
    def unfulfilled(self) -> int:
        return sum(item.unfulfilled for item in self.line_items)

    @property
    def country(self) -> str | None:
        code = self.shipping_address.get("country_code")
        return code if isinstance(code, str) else None


@dataclass(frozen=True, slots=True)
class OrderRecordPage:
    orders: tuple[OrderRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ShipmentStatus:
    fulfillment: FulfillmentRecord
    events: tuple[StoredEvent, ...]
    """Newest first by carrier time."""


@dataclass(frozen=True, slots=True)
class OrderStatus:
    order: OrderRecord
    shipments: tuple[ShipmentStatus, ...]
    """One per fulfilment not cancelled."""


def fulfillment_record(fulfillment: Fulfillment) -> FulfillmentRecord:
    return FulfillmentRecord(
        id=fulfillment.id,
        order_id=fulfillment.order_id,
        status=EventStatus(fulfillment.status),
        carrier_code=fulfillment.carrier_code,
        tracking_number=fulfillment.tracking_number,
        tracking_url=fulfillment.tracking_url,
        estimated_delivery=fulfillment.estimated_delivery,
        items=tuple(ShippedItem(i.line_item_id, i.quantity) for i in fulfillment.items),
        created_at=fulfillment.created_at,
    )


def order_record(order: Order) -> OrderRecord:
    """The order with its items and fulfilments (which must be loaded)."""
    live = orders.live_fulfillments(order)
    shipped = orders.fulfilled_quantities(order)
    unshipped = order.fulfillment_status != "fulfilled"
    return OrderRecord(
        id=order.id,
        number=order.number,
        status_token=order.status_token,
        created_at=order.created_at,
        locale=order.locale,
        currency=order.currency,
        customer_first_name=order.customer_first_name,
        customer_last_name=order.customer_last_name,
        email=order.email,
        phone=order.phone,
        update_email=order.update_email,
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        payment_method=order.payment_method,
        payment_brand=order.payment_brand,
        payment_last4=order.payment_last4,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        taxes_included=order.taxes_included,
        total=order.total,
        fulfillment_status=order.fulfillment_status,
        delivery_status=EventStatus(order.delivery_status) if order.delivery_status else None,
        headline=headline_text(
            headline([EventStatus(f.status) for f in live], unshipped_items=unshipped)
        ),
        line_items=tuple(
            LineItemRecord(
                id=item.id,
                title=item.title,
                variant=item.variant,
                sku=item.sku,
                quantity=item.quantity,
                fulfilled_quantity=shipped[item.id],
                unit_price=item.unit_price,
                image_url=item.image_url,
            )
            for item in order.line_items
        ),
        fulfillments=tuple(fulfillment_record(f) for f in live),
        version=order.version,
    )


_EVENT_FIELDS = tuple(f.name for f in fields(StoredEvent))


def _stored(event: TrackingEvent) -> StoredEvent:
    return StoredEvent(**{name: getattr(event, name) for name in _EVENT_FIELDS})


async def find_shop(session: AsyncSession, handle: str, *, base_url: str) -> ShopRecord | None:
    """The shop with this handle, or None; its logo's URL starts with ``base_url``."""
    shop = await session.scalar(select(Shop).where(Shop.handle == handle))
    if shop is None:
        return None
    return ShopRecord(
        id=shop.id,
        page=shop_data(shop, base_url),
        currency=shop.currency,
        taxes_included=shop.taxes_included,
        storefront_enabled=shop.storefront_enabled,
    )


async def create_order(
    session: AsyncSession, *, shop_id: int, data: OrderInput, actor: str
) -> OrderRecord:
    """:func:`orders.create_order` for the shop with this id (NotFound if none)."""
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("no such shop")
    return order_record(
        await orders.create_order(session=session, shop=shop, data=data, actor=actor)
    )


async def get_order(session: AsyncSession, *, shop_id: int, order_id: int) -> OrderRecord:
    return order_record(await orders.load_order(session, shop_id=shop_id, order_id=order_id))


async def list_orders(
    session: AsyncSession,
    *,
    shop_id: int,
    number: str | None = None,
    email: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> OrderRecordPage:
    """:func:`orders.list_orders`, as records."""
    page = await orders.list_orders(
        session,
        shop_id=shop_id,
        number=number,
        email=email,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return OrderRecordPage(tuple(order_record(o) for o in page.orders), page.next_cursor)


async def order_status(session: AsyncSession, *, shop_id: int, order_id: int) -> OrderStatus:
    """The order and each live shipment with its events, newest first."""
    order = await orders.load_order(session, shop_id=shop_id, order_id=order_id)
    record = order_record(order)
    events = await tracking.events_by_fulfillment(
        session, shop_id=shop_id, fulfillment_ids=[f.id for f in record.fulfillments]
    )
    return OrderStatus(
        record,
        tuple(
            ShipmentStatus(f, tuple(_stored(e) for e in events[f.id])) for f in record.fulfillments
        ),
    )


async def create_fulfillment(
    session: AsyncSession, *, shop_id: int, order_id: int, data: FulfillmentInput, actor: str
) -> FulfillmentRecord:
    """:func:`fulfillments.create_fulfillment`, as a record."""
    return fulfillment_record(
        await fulfillments.create_fulfillment(
            session=session, shop_id=shop_id, order_id=order_id, data=data, actor=actor
        )
    )

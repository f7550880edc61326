"""What the admin's pages show of orders and of the shop's page notes, as plain data.

The web layer renders these and never holds a database row: what a page may show is
read here, in one place, while the session is open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderstatus.carriers.registry import get_carrier, tracking_link
from orderstatus.db.models import (
    Activity,
    ApiKey,
    Fulfillment,
    Notification,
    Order,
    PageMessage,
    TrackingEvent,
    WebhookSecret,
)
from orderstatus.domain.admin import OTHER, chosen_message_statuses
from orderstatus.domain.markdown import render_markdown
from orderstatus.domain.retention import is_anonymised
from orderstatus.domain.timeline import ActivityFact, EventFact
from orderstatus.services.orders import fulfilled_quantities


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    title: str
    variant: str | None
    sku: str | None
    quantity: int
    unit_price: Decimal
    fulfilled: int
    """Shipped in shipments not cancelled."""

    @property
    def unfulfilled(self) -> int:
        return self.quantity - self.fulfilled


@dataclass(frozen=True, slots=True)
class ShipmentRow:
    """One shipment as the order and shipment pages show it."""

    id: int
    number: int | None
    """Its number on the customer's page; None once cancelled."""
    status: str
    carrier_choice: str
    """What the tracking form's carrier field starts at: a known carrier's code,
    "other" for a carrier of the merchant's own, or empty."""
    carrier_name: str | None
    tracking_number: str | None
    tracking_url: str | None
    tracking_link: str | None
    live: bool
    """Its carrier reports progress by itself."""
    notify_customer: bool
    created_at: datetime
    cancelled_at: datetime | None
    items: tuple[tuple[str, str | None, int], ...]
    """(title, variant, quantity) of what it carries."""
    events: tuple[EventFact, ...]
    """Newest first."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order in the admin's list."""

    id: int
    number: str
    created_at: datetime
    currency: str
    customer_first_name: str
    customer_last_name: str | None
    email: str | None
    phone: str | None
    total: Decimal
    quantity: int
    """How many items it has, all lines together."""
    fulfillment_status: str
    delivery_status: str | None

    @property
    def anonymised(self) -> bool:
        """The customer's data was removed (retention period or erasure request)."""
        return is_anonymised(self.customer_first_name)


@dataclass(frozen=True, slots=True)
class OrderRecord(OrderRow):
    """Everything the admin shows of one order."""

    status_token: str
    version: int
    update_email: str | None
    shipping_address: Mapping[str, Any]
    billing_address: Mapping[str, Any] | None
    payment_method: str
    payment_brand: str | None
    payment_last4: str | None
    subtotal: Decimal
    shipping_total: Decimal
    discount_total: Decimal
    tax_total: Decimal
    taxes_included: bool
    items: tuple[ItemRow, ...]
    shipments: tuple[ShipmentRow, ...]
    """Every shipment, cancelled ones too, oldest first."""

    @property
    def unfulfilled(self) -> int:
        return sum(item.unfulfilled for item in self.items)

    @property
    def country(self) -> str | None:
        code = self.shipping_address.get("country_code")
        return code if isinstance(code, str) else None

    def shipment(self, fulfillment_id: int) -> ShipmentRow | None:
        return next((s for s in self.shipments if s.id == fulfillment_id), None)


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A note the shop shows on every order's page (or on one order's)."""

    id: int
    placement: str
    body_markdown: str
    body_html: str
    statuses: tuple[str, ...] | None
    """The statuses it shows in, as stored; None for all."""
    choices: tuple[str, ...]
    """The same as the edit form's choices."""
    locale: str | None
    active: bool


def event_fact(event: TrackingEvent) -> EventFact:
    return EventFact(
        event.id,
        event.fulfillment_id,
        event.status,
        event.occurred_at,
        event.message,
        event.city,
        event.country_code,
        event.source,
    )


def order_row(order: Order) -> OrderRow:
    """The list's row; the order's items must be loaded."""
    return OrderRow(**_row_fields(order))


def _row_fields(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "created_at": order.created_at,
        "currency": order.currency,
        "customer_first_name": order.customer_first_name,
        "customer_last_name": order.customer_last_name,
        "email": order.email,
        "phone": order.phone,
        "total": order.total,
        "quantity": sum(item.quantity for item in order.line_items),
        "fulfillment_status": order.fulfillment_status,
        "delivery_status": order.delivery_status,
    }


def _carrier_name(code: str | None) -> str | None:
    carrier = get_carrier(code)
    if carrier is None:
        return code
    return None if carrier.code == OTHER else carrier.name


def _carrier_choice(code: str | None) -> str:
    known = get_carrier(code)
    if known is not None:
        return known.code
    return OTHER if code else ""


def _link(fulfillment: Fulfillment, order: Order) -> str | None:
    if not fulfillment.tracking_number and not fulfillment.tracking_url:
        return None
    address = order.shipping_address or {}
    return tracking_link(
        fulfillment.carrier_code,
        fulfillment.tracking_number or "",
        postcode=address.get("zip"),
        country=address.get("country_code"),
        locale=order.locale,
        merchant_url=fulfillment.tracking_url,
    )


def shipment_numbers(order: Order) -> dict[int, int]:
    """Live shipments by id → their number on the customer's page (1, 2, …)."""
    live = [f for f in order.fulfillments if f.cancelled_at is None]
    return {f.id: n for n, f in enumerate(live, start=1)}


def _shipment(
    order: Order,
    fulfillment: Fulfillment,
    number: int | None,
    titles: Mapping[int, tuple[str, str | None]],
    events: Iterable[TrackingEvent],
) -> ShipmentRow:
    carrier = get_carrier(fulfillment.carrier_code)
    return ShipmentRow(
        id=fulfillment.id,
        number=number,
        status=fulfillment.status,
        carrier_choice=_carrier_choice(fulfillment.carrier_code),
        carrier_name=_carrier_name(fulfillment.carrier_code),
        tracking_number=fulfillment.tracking_number,
        tracking_url=fulfillment.tracking_url,
        tracking_link=_link(fulfillment, order),
        live=bool(carrier and carrier.live),
        notify_customer=fulfillment.notify_customer,
        created_at=fulfillment.created_at,
        cancelled_at=fulfillment.cancelled_at,
        items=tuple(
            (*titles.get(i.line_item_id, ("?", None)), i.quantity) for i in fulfillment.items
        ),
        events=tuple(event_fact(e) for e in events),
    )


def order_record(
    order: Order, events: Mapping[int, Sequence[TrackingEvent]] | None = None
) -> OrderRecord:
    """The whole order; its items and shipments must be loaded. ``events`` by shipment
    id, newest first, where the page shows them."""
    shipped = fulfilled_quantities(order)
    numbers = shipment_numbers(order)
    titles = {item.id: (item.title, item.variant) for item in order.line_items}
    return OrderRecord(
        **_row_fields(order),
        status_token=order.status_token,
        version=order.version,
        update_email=order.update_email,
        shipping_address=order.shipping_address or {},
        billing_address=order.billing_address,
        payment_method=order.payment_method,
        payment_brand=order.payment_brand,
        payment_last4=order.payment_last4,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        taxes_included=order.taxes_included,
        items=tuple(
            ItemRow(
                id=item.id,
                title=item.title,
                variant=item.variant,
                sku=item.sku,
                quantity=item.quantity,
                unit_price=item.unit_price,
                fulfilled=shipped[item.id],
            )
            for item in order.line_items
        ),
        shipments=tuple(
            _shipment(order, f, numbers.get(f.id), titles, (events or {}).get(f.id, ()))
            for f in order.fulfillments
        ),
    )


def note_row(row: PageMessage) -> NoteRow:
    return NoteRow(
        id=row.id,
        placement=row.placement,
        body_markdown=row.body_markdown,
        body_html=render_markdown(row.body_markdown),
        statuses=tuple(row.statuses) if row.statuses is not None else None,
        choices=tuple(chosen_message_statuses(row.statuses)),
        locale=row.locale,
        active=row.active,
    )


@dataclass(frozen=True, slots=True)
class KeyRow:
    """An API key as the settings list it (never the key itself)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SecretRow:
    """A webhook secret as the settings show it: its last characters and its age."""

    ending: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A message kept in the mailbox instead of sent."""

    id: int
    order_id: int
    kind: str
    channel: str
    recipient: str
    state: str
    created_at: datetime
    payload: Mapping[str, Any]
    """The whole message (see services.notifications.mailbox)."""


def key_row(row: ApiKey) -> KeyRow:
    return KeyRow(row.id, row.name, row.prefix, row.created_at, row.revoked_at)


def secret_row(row: WebhookSecret) -> SecretRow:
    return SecretRow(row.secret[-4:], row.created_at)


def activity_fact(row: Activity) -> ActivityFact:
    return ActivityFact(row.id, row.kind, row.actor, row.message, row.data, row.created_at)


def held_row(row: Notification) -> HeldRow:
    return HeldRow(
        row.id,
        row.order_id,
        row.kind,
        row.channel,
        row.recipient,
        row.state,
        row.created_at,
        row.payload or {},
    )

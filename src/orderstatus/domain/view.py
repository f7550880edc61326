"""The one place that decides who sees what of an order.

Every page, JSON answer and live message about an order is built from :func:`build_view`.
Templates only render what is in the view: a field the viewer may not see is absent
(None or empty) here, so no template can leak it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from orderstatus.domain.delivery import Prediction, later_than_usual
from orderstatus.domain.money import OrderTotals
from orderstatus.domain.statuses import (
    ALERTS,
    FINAL,
    MOVING,
    EventStatus,
    Headline,
    StatusPoint,
    Step,
    derive_progress,
    headline,
)


class Viewer(enum.StrEnum):
    OWNER = "owner"
    """The customer: the device that checked out, or one that logged in."""
    STAFF = "staff"
    """The shop's staff previewing the page: sees what the owner sees."""
    PUBLIC = "public"
    """Anyone else with the link, and every viewer of a share link."""


# ---- what the view builder reads (plain data, loaded by the caller) ----


@dataclass(frozen=True, slots=True)
class ShopData:
    handle: str
    name: str
    logo_url: str | None
    accent_color: str
    contact_email: str | None
    website_url: str | None
    timezone: str
    default_locale: str


@dataclass(frozen=True, slots=True)
class ItemData:
    id: int
    title: str
    variant: str | None
    quantity: int
    unit_price: Decimal
    image_url: str | None


@dataclass(frozen=True, slots=True)
class EventData:
    id: int
    status: EventStatus
    occurred_at: datetime
    message: str | None
    city: str | None
    region: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class ShipmentData:
    id: int
    carrier_code: str | None
    carrier_name: str | None
    tracking_number: str | None
    tracking_url: str | None
    live_tracking: bool
    estimated_delivery: datetime | None
    created_at: datetime
    items: Sequence[tuple[int, int]]
    """(line item id, quantity)"""
    events: Sequence[EventData]
    first_estimated_delivery: datetime | None = None
    usual: Prediction | None = None
    """When deliveries like this one usually arrive (same carrier and lane), from our own
    history; None without enough of it."""


@dataclass(frozen=True, slots=True)
class MessageData:
    placement: str
    html: str
    """Already sanitised Markdown."""
    statuses: Sequence[str] | None
    locale: str | None
    for_this_order: bool = False
    """A note staff wrote for this customer's page only: it may name them, so owner and
    staff only (shop-wide notes are for everyone)."""


@dataclass(frozen=True, slots=True)
class OrderData:
    id: int
    number: str
    status_token: str
    share_token: str | None
    currency: str
    locale: str | None
    created_at: datetime
    first_name: str
    last_name: str | None
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
    delivery_status: str | None
    items: Sequence[ItemData]
    shipments: Sequence[ShipmentData]
    messages: Sequence[MessageData] = ()
    cancelled_at: datetime | None = None


# ---- what a viewer gets ----


@dataclass(frozen=True, slots=True)
class LineView:
    title: str
    variant: str | None
    quantity: int
    image_url: str | None
    unit_price: Decimal | None
    """None for the public: it lists the items without prices."""
    line_total: Decimal | None


@dataclass(frozen=True, slots=True)
class StepView:
    step: Step
    reached_at: datetime | None
    current: bool
    alert: EventStatus | None


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    status: EventStatus
    occurred_at: datetime
    message: str | None
    """The carrier's words, for owner and staff only: they may name the recipient."""
    city: str | None
    region: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class ShipmentView:
    id: int
    number: int
    status: EventStatus
    alert: EventStatus | None
    alert_at: datetime | None
    steps: list[StepView]
    carrier_name: str | None
    tracking_number: str | None
    tracking_url: str | None
    live_tracking: bool
    estimated_delivery: datetime | None
    first_estimated_delivery: datetime | None
    """Set only when the estimate slipped to a later day: "Delayed, was due on …"."""
    items: list[LineView]
    events: list[EventView]
    last_position: tuple[float, float] | None
    positions: list[EventView]
    """The events with a place on the map, oldest first (live carriers only)."""
    moving: bool = False
    """On the move: its map is shown open (others' maps only on request)."""
    delivered_at: datetime | None = None
    predicted: Prediction | None = None
    """Our estimate, shown when the carrier gave none: it most likely arrives between
    these days (marked as ours on the page)."""
    later_than_usual: date | None = None
    """Staff only: the day our history says deliveries like this one arrive by, when the
    carrier's own date is later ("may arrive later than usual")."""


@dataclass(frozen=True, slots=True)
class OwnerDetails:
    email: str | None
    phone: str | None
    update_email: str | None
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    payment: str
    """Card brand and last digits, or the brand alone; empty when only the method is known."""
    payment_method: str
    can_opt_in: bool
    share_token: str | None


@dataclass(frozen=True, slots=True)
class OrderView:
    viewer: Viewer
    shop: ShopData
    order_id: int
    name: str
    number: str
    currency: str
    created_at: datetime
    headline: Headline
    estimated_delivery: datetime | None
    shipments: list[ShipmentView]
    unfulfilled: list[LineView]
    messages_top: list[str]
    messages_bottom: list[str]
    first_name: str | None
    """For "Thank you, Kari!": owner and staff only."""
    owner: OwnerDetails | None
    totals: OrderTotals | None
    items: list[LineView] = field(default_factory=list)
    """Everything ordered: with prices for owner and staff, without for the public."""
    delivered_at: datetime | None = None
    """When the last shipment arrived, once every one has (for "Delivered on …")."""
    cancelled_at: datetime | None = None
    """The shop cancelled the order (on its platform)."""
    predicted: Prediction | None = None
    """Our estimate for the order, when no carrier gave a date: the latest shipment's."""

    @property
    def is_public(self) -> bool:
        return self.viewer is Viewer.PUBLIC

    @property
    def is_staff_preview(self) -> bool:
        return self.viewer is Viewer.STAFF


def _place_name(name: str | None) -> str | None:
    """Carriers often shout ("TROMSØ"); show place names as people write them."""
    if name and name.isupper():
        return " ".join(w.capitalize() for w in name.split())
    return name


def _city_level(value: float | None) -> float | None:
    """About 1 km: enough for a city on a map, not enough for a street."""
    return None if value is None else round(value, 2)


def _line(item: ItemData, quantity: int, private: bool) -> LineView:
    return LineView(
        title=item.title,
        variant=item.variant,
        quantity=quantity,
        image_url=item.image_url,
        unit_price=item.unit_price if private else None,
        line_total=item.unit_price * quantity if private else None,
    )


def _payment(order: OrderData) -> str:
    if order.payment_brand and order.payment_last4:
        return f"{order.payment_brand} •••• {order.payment_last4}"
    return order.payment_brand or ""


def _shipment(
    order: OrderData,
    shipment: ShipmentData,
    number: int,
    items: dict[int, ItemData],
    private: bool,
    staff: bool = False,
) -> ShipmentView:
    points = [StatusPoint(e.status, e.occurred_at) for e in shipment.events]
    progress = derive_progress(
        points, ordered_at=order.created_at, fulfilled_at=shipment.created_at
    )
    ordered = sorted(shipment.events, key=lambda e: (e.occurred_at, e.id), reverse=True)
    alert_at = next((e.occurred_at for e in ordered if e.status is progress.alert), None)
    steps = [
        StepView(
            step=step,
            reached_at=progress.reached_at.get(step),
            current=step is progress.step,
            alert=progress.alert if step is progress.step else None,
        )
        for step in Step
    ]
    precise = (lambda v: v) if private else _city_level
    events = [
        EventView(
            id=e.id,
            status=e.status,
            occurred_at=e.occurred_at,
            message=e.message if private else None,
            city=_place_name(e.city),
            region=_place_name(e.region) if e.region != e.city else None,
            country_code=e.country_code,
            latitude=precise(e.latitude),
            longitude=precise(e.longitude),
        )
        for e in ordered
    ]
    positioned = [
        e
        for e in events
        if e.latitude is not None and e.longitude is not None and shipment.live_tracking
    ]
    last_position = (positioned[0].latitude, positioned[0].longitude) if positioned else None
    done = progress.status in (EventStatus.DELIVERED, EventStatus.PICKED_UP)
    first, now = shipment.first_estimated_delivery, shipment.estimated_delivery
    slipped = first is not None and now is not None and now.date() > first.date() and not done
    usual = shipment.usual if not done else None
    return ShipmentView(
        id=shipment.id,
        number=number,
        status=progress.status,
        alert=progress.alert,
        alert_at=alert_at,
        steps=steps,
        carrier_name=shipment.carrier_name,
        tracking_number=shipment.tracking_number if private else None,
        tracking_url=shipment.tracking_url if private else None,
        live_tracking=shipment.live_tracking,
        estimated_delivery=shipment.estimated_delivery,
        first_estimated_delivery=first if slipped else None,
        items=[_line(items[i], q, private) for i, q in shipment.items if i in items],
        events=events,
        last_position=last_position,  # type: ignore[arg-type]
        positions=list(reversed(positioned)),
        moving=progress.status in MOVING,
        delivered_at=progress.reached_at.get(Step.DELIVERED) if done else None,
        predicted=usual if now is None and progress.step is Step.IN_TRANSIT else None,
        later_than_usual=usual.latest
        if staff and usual is not None and now is not None and later_than_usual(now.date(), usual)
        else None,
    )


def _messages(order: OrderData, placement: str, locale: str, private: bool) -> list[str]:
    status = order.delivery_status or "confirmed"
    return [
        m.html
        for m in order.messages
        if m.placement == placement
        and (private or not m.for_this_order)
        and (not m.statuses or status in m.statuses or order.fulfillment_status in m.statuses)
        and (m.locale is None or m.locale.split("-")[0] == locale.split("-")[0])
    ]


def build_view(order: OrderData, shop: ShopData, viewer: Viewer, *, locale: str) -> OrderView:
    """What ``viewer`` may see of ``order``. The only place that decides it."""
    private = viewer is not Viewer.PUBLIC
    items = {item.id: item for item in order.items}
    shipments = [
        _shipment(order, s, n, items, private, viewer is Viewer.STAFF)
        for n, s in enumerate(order.shipments, start=1)
    ]
    shipped: dict[int, int] = {}
    for s in order.shipments:
        for item_id, quantity in s.items:
            shipped[item_id] = shipped.get(item_id, 0) + quantity
    unfulfilled = [
        _line(item, item.quantity - shipped.get(item.id, 0), private)
        for item in order.items
        if item.quantity > shipped.get(item.id, 0)
    ]
    pending = [
        s.estimated_delivery
        for s in shipments
        if s.estimated_delivery and s.status not in (EventStatus.DELIVERED, EventStatus.PICKED_UP)
    ]
    ours = [
        s.predicted
        for s in shipments
        if s.predicted and s.status not in (EventStatus.DELIVERED, EventStatus.PICKED_UP)
    ]
    owner = None
    if private:
        owner = OwnerDetails(
            email=order.email,
            phone=order.phone,
            update_email=order.update_email,
            shipping_address=order.shipping_address,
            billing_address=order.billing_address,
            payment=_payment(order),
            payment_method=order.payment_method,
            can_opt_in=viewer is Viewer.OWNER and order.email is None,
            share_token=order.share_token if viewer is Viewer.OWNER else None,
        )
    return OrderView(
        viewer=viewer,
        shop=shop,
        order_id=order.id,
        name=f"#{order.number}",
        number=order.number,
        currency=order.currency,
        created_at=order.created_at,
        headline=headline([s.status for s in shipments], unshipped_items=bool(unfulfilled)),
        estimated_delivery=max(pending) if pending else None,
        predicted=max(ours, key=lambda p: (p.latest, p.earliest)) if ours and not pending else None,
        shipments=shipments,
        unfulfilled=unfulfilled,
        messages_top=_messages(order, "top", locale, private),
        messages_bottom=_messages(order, "bottom", locale, private),
        first_name=order.first_name if private else None,
        owner=owner,
        totals=OrderTotals(
            subtotal=order.subtotal,
            shipping=order.shipping_total,
            discount=order.discount_total,
            tax=order.tax_total,
            total=order.total,
            taxes_included=order.taxes_included,
        )
        if private
        else None,
        items=[_line(item, item.quantity, private) for item in order.items],
        delivered_at=_all_delivered_at(shipments),
        cancelled_at=order.cancelled_at,
    )


def _all_delivered_at(shipments: list[ShipmentView]) -> datetime | None:
    """When the headline says "Delivered": the last shipment's arrival."""
    times = [s.delivered_at for s in shipments if s.status in FINAL]
    if not shipments or len(times) < len(shipments) or None in times:
        return None
    return max(t for t in times if t is not None)


__all__ = ["ALERTS", "OrderView", "Viewer", "build_view"]

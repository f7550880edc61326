"""What the admin's pages show besides the order itself (which is an
:class:`~orderstatus.services.order_records.OrderRecord`), as plain data: shipments with
their carriers' names, links and events, the shop's page notes, keys, secrets, the mailbox.

The web layer renders these and never holds a database row: what a page may show is
read here, in one place, while the session is open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from orderstatus.domain.timeline import ActivityFact, EventFact


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


def shipment_rows(
    order: Order, events: Mapping[int, Sequence[TrackingEvent]] | None = None
) -> tuple[ShipmentRow, ...]:
    """Every shipment of the order, cancelled ones too, oldest first; its items and
    shipments must be loaded. ``events`` by shipment id, newest first, where the page
    shows them."""
    numbers = shipment_numbers(order)
    titles = {item.id: (item.title, item.variant) for item in order.line_items}
    return tuple(
        _shipment(order, f, numbers.get(f.id), titles, (events or {}).get(f.id, ()))
        for f in order.fulfillments
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

"""What a message template sees: plain values made from the order, shop and shipment.

Only strings, numbers, booleans, lists and dicts go in, already formatted for the
customer's language, so a template never reaches a database object or a method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from orderstatus import i18n
from orderstatus.carriers.registry import get_carrier, tracking_link
from orderstatus.domain.inputs import display_phone
from orderstatus.domain.links import expiry, page_link
from orderstatus.domain.notifications import Kind

SAMPLE_LINK_DAYS = 30
"""Made-up orders' links carry a key like the default setting's."""
SHORT_NAME = 20
"""Shop names in text messages are cut to this, to leave room for the link."""


@dataclass(frozen=True, slots=True)
class ShopFacts:
    name: str
    handle: str
    logo_path: str | None
    accent_color: str
    contact_email: str | None
    website_url: str | None
    timezone: str
    default_locale: str


@dataclass(frozen=True, slots=True)
class ItemFacts:
    id: int
    title: str
    variant: str | None
    quantity: int
    unit_price: Decimal
    image_url: str | None


@dataclass(frozen=True, slots=True)
class EventFacts:
    status: str
    occurred_at: datetime
    message: str | None
    city: str | None
    country_code: str | None


@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    id: int
    status: str
    carrier_code: str | None
    tracking_number: str | None
    tracking_url: str | None
    estimated_delivery: datetime | None
    items: list[tuple[int, int]]
    """(line item id, quantity)"""
    latest_event: EventFacts | None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class OrderFacts:
    id: int
    number: str
    status_token: str
    locale: str | None
    currency: str
    first_name: str
    last_name: str | None
    created_at: datetime
    subtotal: Decimal
    shipping_total: Decimal
    discount_total: Decimal
    tax_total: Decimal
    taxes_included: bool
    total: Decimal
    fulfillment_status: str
    shipping_zip: str | None
    shipping_country: str | None
    items: list[ItemFacts]
    phone: str | None = None
    """In E.164; shown in the international format."""
    shipping_address: dict[str, Any] | None = None
    """For the inbox markup of shipping e-mails (see notify.markup)."""


@lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, language: str) -> str:
    """Prices repeat across a shop's messages, and formatting one is the dearest part
    of building a message's context."""
    i18n.activate(language)
    return i18n.fmt_money(amount, currency)


@dataclass(frozen=True, slots=True)
class LinkRights:
    """How the page links in messages open the page: with the server's secret, links
    sent at ``sent_at`` open the owner's view for ``days`` (0: the plain page)."""

    secret_key: str | None
    days: int
    sent_at: datetime
    via: str | None = None
    """The kind of message the links are in (domain.links.VIA), so a click is counted."""


def status_url(base_url: str, status_token: str, rights: LinkRights | None = None) -> str:
    """The one place a message's page link is made (e-mail, SMS, anything later)."""
    if rights is None:
        return page_link(base_url, status_token, secret_key=None, expires_at=None)
    return page_link(
        base_url,
        status_token,
        secret_key=rights.secret_key,
        expires_at=expiry(rights.sent_at, rights.days),
        via=rights.via,
    )


def short_name(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= SHORT_NAME else name[: SHORT_NAME - 1].rstrip() + "…"


def build(
    *,
    kind: Kind,
    language: str,
    order: OrderFacts,
    shop: ShopFacts,
    shipment: ShipmentFacts | None,
    base_url: str,
    rights: LinkRights | None = None,
) -> dict[str, Any]:
    """The template context for one message in one language; ``rights``: the page links
    are pre-authenticated (see :mod:`orderstatus.domain.links`)."""
    i18n.activate(language)

    def money(amount: Decimal) -> str:
        return _money(amount, order.currency, language)

    by_id = {item.id: item for item in order.items}

    def item(facts: ItemFacts, quantity: int) -> dict[str, Any]:
        return {
            "title": facts.title,
            "variant": facts.variant,
            "quantity": quantity,
            "image_url": facts.image_url,
            "price": money(facts.unit_price),
            "total": money(facts.unit_price * quantity),
        }

    order_items = [item(i, i.quantity) for i in order.items]
    page_url = status_url(base_url, order.status_token, rights)
    phone = display_phone(order.phone) if order.phone else None
    shipment_data: dict[str, Any] | None = None
    if shipment is not None:
        carrier = get_carrier(shipment.carrier_code)
        event = shipment.latest_event
        place = None
        if event is not None and event.city:
            place = event.city
            if event.country_code and event.country_code != order.shipping_country:
                place = f"{event.city}, {i18n.country_name(event.country_code)}"
        link = None
        if shipment.tracking_number or shipment.tracking_url:
            link = tracking_link(
                shipment.carrier_code,
                shipment.tracking_number or "",
                postcode=order.shipping_zip,
                country=order.shipping_country,
                locale=order.locale,
                merchant_url=shipment.tracking_url,
            )
        shipment_data = {
            "status": shipment.status,
            "carrier": (
                carrier.name if carrier and carrier.code != "other" else shipment.carrier_code
            ),
            "tracking_number": shipment.tracking_number,
            "tracking_url": link,
            "estimated_delivery": (
                i18n.fmt_date(shipment.estimated_delivery, shop.timezone)
                if shipment.estimated_delivery
                else None
            ),
            "items": [item(by_id[i], q) for i, q in shipment.items if i in by_id],
            "event": (
                {
                    "status": event.status,
                    "message": event.message,
                    "place": place,
                    "time": i18n.fmt_datetime(event.occurred_at, shop.timezone),
                }
                if event is not None
                else None
            ),
        }
    return {
        "kind": kind.value,
        "locale": language,
        "status_url": page_url,
        "order_status_url": page_url,
        "shop": {
            "name": shop.name,
            "short_name": short_name(shop.name),
            "logo_url": f"{base_url}/media/{shop.logo_path}" if shop.logo_path else None,
            "accent_color": shop.accent_color,
            "contact_email": shop.contact_email,
            "website_url": shop.website_url,
        },
        "order": {
            "number": order.number,
            "name": f"#{order.number}",
            "date": i18n.fmt_date(order.created_at, shop.timezone),
            "first_name": order.first_name,
            "last_name": order.last_name,
            "phone": phone,
            "subtotal": money(order.subtotal),
            "shipping": money(order.shipping_total),
            "discount": money(-order.discount_total),
            "has_discount": order.discount_total != 0,
            "tax": money(order.tax_total),
            "has_tax": order.tax_total != 0,
            "taxes_included": order.taxes_included,
            "total": money(order.total),
            "fully_shipped": order.fulfillment_status == "fulfilled",
            "items": order_items,
        },
        "customer": {
            "first_name": order.first_name,
            "last_name": order.last_name,
            "phone": phone,
        },
        "shipment": shipment_data,
        "fulfillment": shipment_data,
        "items": shipment_data["items"] if shipment_data else order_items,
    }


def for_push(values: dict[str, Any]) -> dict[str, Any]:
    """What a push may say, picked from a message's context: the shop, the order's
    number and the shipment's news. A notification shows on a lock screen, so no name,
    contact, address, price or tracking number goes in, whatever a template asks for
    (a push template that names one fails to render instead)."""
    shipment = values.get("shipment")
    event = shipment.get("event") if shipment else None
    return {
        "kind": values["kind"],
        "locale": values["locale"],
        "shop": {"name": values["shop"]["name"], "short_name": values["shop"]["short_name"]},
        "order": {"name": values["order"]["name"], "number": values["order"]["number"]},
        "shipment": (
            {
                "status": shipment["status"],
                "carrier": shipment["carrier"],
                "estimated_delivery": shipment["estimated_delivery"],
                "event": (
                    {
                        "status": event["status"],
                        "message": event["message"],
                        "place": event["place"],
                        "time": event["time"],
                    }
                    if event
                    else None
                ),
            }
            if shipment
            else None
        ),
    }


def sample(kind: Kind, language: str, *, shop: ShopFacts, base_url: str) -> dict[str, Any]:
    """A made-up order for previews and for checking a template before it is saved;
    it has every field a real message can have."""
    now = datetime.now(UTC)
    items = [
        ItemFacts(1, "Stoneware mug", "Fjord blue", 2, Decimal("249.00"), None),
        ItemFacts(2, "Wool scarf", None, 1, Decimal("599.00"), None),
    ]
    order = OrderFacts(
        id=0,
        number="1001",
        status_token="preview",  # noqa: S106 - not a secret: the page of a made-up order
        locale=language,
        currency="NOK",
        first_name="Kari",
        last_name="Nordmann",
        created_at=now - timedelta(days=2),
        subtotal=Decimal("1097.00"),
        shipping_total=Decimal("99.00"),
        discount_total=Decimal("0.00"),
        tax_total=Decimal("239.20"),
        taxes_included=True,
        total=Decimal("1196.00"),
        fulfillment_status="fulfilled",
        shipping_zip="0155",
        shipping_country="NO",
        items=items,
        phone="+4791234567",
    )
    status = {
        Kind.ORDER_CONFIRMATION: "in_transit",
        Kind.SHIPPING_CONFIRMATION: "in_transit",
        Kind.SHIPPING_UPDATE: "attempted_delivery",
        Kind.OUT_FOR_DELIVERY: "out_for_delivery",
        Kind.DELIVERED: "delivered",
        Kind.READY_FOR_PICKUP: "ready_for_pickup",
        Kind.NO_RECENT_UPDATES: "no_recent_updates",
    }[kind]
    shipment = ShipmentFacts(
        id=0,
        status=status,
        carrier_code="bring",
        tracking_number="370722150004528013",
        tracking_url=None,
        estimated_delivery=now + timedelta(days=1),
        items=[(1, 2), (2, 1)],
        latest_event=EventFacts(status, now, "Nobody was home", "Oslo", "NO"),
    )
    return build(
        kind=kind,
        language=language,
        order=order,
        shop=shop,
        shipment=None if kind is Kind.ORDER_CONFIRMATION else shipment,
        base_url=base_url,
        # A link as long as a real one, so a preview counts a text's segments truly.
        rights=LinkRights("preview", SAMPLE_LINK_DAYS, now),
    )

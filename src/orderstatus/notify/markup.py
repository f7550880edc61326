"""Inbox tracking: shipping e-mails carry a schema.org ``ParcelDelivery`` in JSON-LD, which
mail services (Gmail's e-mail markup, Apple Mail, Outlook) read to show the parcel, its
carrier and arrival in the inbox with a button to the order's page.

The markup says what the e-mail itself tells its reader, the owner: the address it goes
to, the carrier and tracking number, the items. It is added to every shipping e-mail,
the merchant's own wording too, after the template has rendered.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from orderstatus.notify import context as ctx

CONTEXT = "http://schema.org"


def parcel_delivery(
    *,
    order: ctx.OrderFacts,
    shop: ctx.ShopFacts,
    shipment: ctx.ShipmentFacts,
    values: dict[str, Any],
) -> dict[str, Any]:
    """The ``ParcelDelivery`` of one shipment; ``values``: the message's template context
    (carrier name, tracking link and the page's link as the message shows them)."""
    shown = values["shipment"] or {}
    by_id = {item.id: item for item in order.items}
    items = [
        {
            "@type": "Product",
            "name": f"{item.title} ({item.variant})" if item.variant else item.title,
        }
        for line_id, _quantity in shipment.items
        if (item := by_id.get(line_id)) is not None
    ]
    delivery: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "ParcelDelivery",
        "carrier": {"@type": "Organization", "name": shown.get("carrier") or shop.name},
        "itemShipped": items,
        "partOfOrder": {
            "@type": "Order",
            "orderNumber": order.number,
            "merchant": _organisation(shop),
            "seller": _organisation(shop),
            "url": values["status_url"],
        },
        "potentialAction": {
            "@type": "TrackAction",
            "name": "Track",
            "target": values["status_url"],
            "url": values["status_url"],
        },
    }
    address = _address(order.shipping_address)
    if address:
        delivery["deliveryAddress"] = address
    arrival = _arrival(shipment)
    if arrival is not None:
        delivery["expectedArrivalUntil"] = arrival.isoformat()
    if shipment.tracking_number:
        delivery["trackingNumber"] = shipment.tracking_number
    if shown.get("tracking_url"):
        delivery["trackingUrl"] = shown["tracking_url"]
    return delivery


def _organisation(shop: ctx.ShopFacts) -> dict[str, str]:
    found = {"@type": "Organization", "name": shop.name}
    if shop.website_url:
        found["url"] = shop.website_url
    return found


def _address(address: dict[str, Any] | None) -> dict[str, str] | None:
    if not address or not address.get("city"):
        return None
    street = ", ".join(p for p in (address.get("address1"), address.get("address2")) if p)
    fields = {
        "@type": "PostalAddress",
        "name": address.get("name"),
        "streetAddress": street,
        "addressLocality": address.get("city"),
        "addressRegion": address.get("province"),
        "postalCode": address.get("zip"),
        "addressCountry": address.get("country_code"),
    }
    return {k: str(v) for k, v in fields.items() if v}


def _arrival(shipment: ctx.ShipmentFacts) -> datetime | None:
    """When it is expected: the carrier's estimate, or for a delivered parcel the time it
    arrived."""
    event = shipment.latest_event
    if shipment.status in ("delivered", "picked_up") and event is not None:
        return event.occurred_at
    return shipment.estimated_delivery


def embed(html: str, data: dict[str, Any]) -> str:
    """The HTML with the markup as a JSON-LD script at the end of its body (nothing in
    the data can close the script: ``<``, ``>`` and ``&`` are escaped)."""
    text = (
        json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    script = f'<script type="application/ld+json">{text}</script>\n'
    at = html.lower().rfind("</body>")
    return html + script if at < 0 else html[:at] + script + html[at:]

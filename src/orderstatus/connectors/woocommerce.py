"""WooCommerce order webhooks (``order.created``, ``order.updated``, ``order.deleted``).

The body is the REST API v3 order; ``X-WC-Webhook-Signature`` is the base64 HMAC-SHA256
of the body with the webhook's secret. Tracking comes from the Shipment Tracking
extension's order meta ``_wc_shipment_tracking_items``; an order ``completed`` without it
was shipped without tracking.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orderstatus.connectors import (
    Message,
    PayloadError,
    PlatformOrder,
    Shipment,
    SignedRequest,
    address,
    amount,
    hmac_base64,
    identifier,
    json_object,
    mapping,
    money,
    objects,
    text,
    when,
)

NAME = "woocommerce"
TITLE = "WooCommerce"
SIGNATURE = "x-wc-webhook-signature"
TOPICS = frozenset({"order.created", "order.updated", "order.deleted", "order.restored"})
TRACKING_META = "_wc_shipment_tracking_items"
CANCELLED = frozenset({"cancelled", "refunded", "trash"})
UNTRACKED = "completed"
"""The platform id of the shipment an order ``completed`` without tracking stands for."""

_PING = re.compile(rb"webhook_id=[0-9]{1,20}")


def verify(request: SignedRequest, key: str) -> None:
    if is_ping(request):
        return  # says nothing and changes nothing: answered without a signature
    hmac_base64(request, key, SIGNATURE)


def is_ping(request: SignedRequest) -> bool:
    """The form WooCommerce posts when a webhook is saved, to see that the URL answers."""
    return _PING.fullmatch(request.body.strip()) is not None


def parse(request: SignedRequest) -> Message:
    topic = request.headers.get("x-wc-webhook-topic", "").strip()
    delivery = text(request.headers.get("x-wc-webhook-delivery-id"))
    if is_ping(request):
        return Message(topic or "ping", delivery, ping=True)
    if not topic:
        raise PayloadError("X-WC-Webhook-Topic is missing")
    return Message(topic, delivery, json_object(request))


def map(message: Message) -> PlatformOrder | None:
    if message.ping or message.topic not in TOPICS:
        return None
    data = message.data
    order_id = identifier(data.get("id"), "id")
    if message.topic == "order.deleted":
        return PlatformOrder(platform_id=order_id, updated_at=None, deleted=True)
    currency = identifier(data.get("currency"), "currency").upper()
    status = text(data.get("status")) or "pending"
    included = bool(data.get("prices_include_tax"))
    billing = mapping(data.get("billing"), "billing")
    shipping = mapping(data.get("shipping"), "shipping")
    lines = objects(data.get("line_items"), "line_items")
    if not lines:
        raise PayloadError("line_items is empty")
    items = []
    subtotal = Decimal(0)
    for index, line in enumerate(lines):
        where = f"line_items[{index}]"
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise PayloadError(f"{where}.quantity must be a whole number above 0")
        line_subtotal = amount(line.get("subtotal"), f"{where}.subtotal")
        if included:
            line_subtotal += amount(line.get("subtotal_tax"), f"{where}.subtotal_tax")
        subtotal += line_subtotal
        image = mapping(line.get("image"), f"{where}.image")
        items.append(
            {
                "title": text(line.get("name")) or text(line.get("sku")) or f"#{line.get('id')}",
                "sku": text(line.get("sku")),
                "quantity": quantity,
                "price": money(line_subtotal / quantity, currency),
                "image_url": text(image.get("src")),
            }
        )
    shipping_total = amount(data.get("shipping_total"), "shipping_total")
    discount = amount(data.get("discount_total"), "discount_total")
    if included:
        shipping_total += amount(data.get("shipping_tax"), "shipping_tax")
        discount += amount(data.get("discount_tax"), "discount_tax")
    for index, fee in enumerate(objects(data.get("fee_lines"), "fee_lines")):
        charge = amount(fee.get("total"), f"fee_lines[{index}].total")
        if included:
            charge += amount(fee.get("total_tax"), f"fee_lines[{index}].total_tax")
        if charge >= 0:
            shipping_total += charge  # a fee is shown with the shipping
        else:
            discount -= charge
    name = _person(shipping) or _person(billing)
    if name is None:
        raise PayloadError("the order names no customer (billing.first_name)")
    first, last = name
    order: dict[str, Any] = {
        "number": text(data.get("number")) or order_id,
        "email": text(billing.get("email")),
        "phone": text(billing.get("phone")) or text(shipping.get("phone")),
        "currency": currency,
        "customer": {"first_name": first, "last_name": last},
        "shipping_address": _address(shipping) or _address(billing),
        "billing_address": _address(billing),
        "payment": {
            "method": (
                text(data.get("payment_method_title")) or text(data.get("payment_method")) or "-"
            )[:64]
        },
        "line_items": [{k: v for k, v in item.items() if v is not None} for item in items],
        "totals": {
            "subtotal": money(subtotal, currency),
            "shipping": money(shipping_total, currency),
            "discount": money(discount, currency),
            "tax": money(amount(data.get("total_tax"), "total_tax"), currency),
            "taxes_included": included,
            "total": money(amount(data.get("total"), "total"), currency),
        },
    }
    shipments = _tracking(data.get("meta_data"))
    if status == "completed" and not shipments:
        shipments = [Shipment(platform_id=UNTRACKED)]
    return PlatformOrder(
        platform_id=order_id,
        updated_at=when(data.get("date_modified_gmt"), "date_modified_gmt"),
        order={k: v for k, v in order.items() if v is not None},
        line_ids=[
            identifier(line.get("id"), f"line_items[{i}].id") for i, line in enumerate(lines)
        ],
        shipments=shipments,
        cancelled=status in CANCELLED,
    )


def _person(fields: dict[str, Any]) -> tuple[str, str | None] | None:
    first = text(fields.get("first_name"))
    last = text(fields.get("last_name"))
    if first is None and last is None:
        return None
    return (first, last) if first else (last or "", None)


def _address(fields: dict[str, Any]) -> dict[str, Any] | None:
    person = _person(fields)
    return address(
        {
            "name": " ".join(p for p in person if p) if person else None,
            "company": text(fields.get("company")),
            "address1": text(fields.get("address_1")),
            "address2": text(fields.get("address_2")),
            "city": text(fields.get("city")),
            "province": text(fields.get("state")),
            "zip": text(fields.get("postcode")),
            "country_code": text(fields.get("country")),
            "phone": text(fields.get("phone")),
        }
    )


def _tracking(meta: Any) -> list[Shipment]:
    """The Shipment Tracking extension's parcels (tracking_provider is the extension's
    slug of a known carrier, custom_tracking_provider the name of any other)."""
    for entry in objects(meta, "meta_data"):
        if entry.get("key") != TRACKING_META:
            continue
        shipments = []
        for index, item in enumerate(objects(entry.get("value"), TRACKING_META)):
            number = text(item.get("tracking_number"))
            if number is None:
                continue
            provider = text(item.get("tracking_provider")) or text(
                item.get("custom_tracking_provider")
            )
            shipped = _shipped(item.get("date_shipped"))
            shipments.append(
                Shipment(
                    platform_id=text(item.get("tracking_id")) or f"{index}:{number}"[:64],
                    tracking_number=number,
                    carrier=provider.replace("-", "_") if provider else None,
                    tracking_url=text(item.get("custom_tracking_link")),
                    status_at=shipped,
                )
            )
        return shipments
    return []


def _shipped(value: Any) -> datetime | None:
    """``date_shipped`` is a Unix time (as text)."""
    found = text(value)
    if found is None or not found.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(found), UTC)
    except (OverflowError, ValueError, OSError):
        return None

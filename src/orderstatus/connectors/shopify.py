"""Shopify webhooks: ``orders/create``, ``orders/updated``, ``orders/cancelled`` (the
order) and ``fulfillments/create``, ``fulfillments/update`` (one fulfilment).

``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body with the app's
secret; ``X-Shopify-Webhook-Id`` is the same on every retry of a delivery. A
fulfilment's ``shipment_status`` is where the carrier says the parcel is.
"""

from __future__ import annotations

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
from orderstatus.domain.statuses import EventStatus

NAME = "shopify"
TITLE = "Shopify"
SIGNATURE = "x-shopify-hmac-sha256"
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})

SHIPMENT_STATUS = {
    "label_printed": EventStatus.LABEL_PRINTED,
    "label_purchased": EventStatus.LABEL_PURCHASED,
    "confirmed": EventStatus.CONFIRMED,
    "in_transit": EventStatus.IN_TRANSIT,
    "out_for_delivery": EventStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": EventStatus.ATTEMPTED_DELIVERY,
    "ready_for_pickup": EventStatus.READY_FOR_PICKUP,
    "picked_up": EventStatus.PICKED_UP,
    "delivered": EventStatus.DELIVERED,
    "failure": EventStatus.FAILURE,
}
"""A fulfilment's ``shipment_status`` to our event; any other value is no event."""
UNSHIPPED = frozenset({"cancelled", "error", "failure"})
"""A fulfilment ``status`` that means nothing left (or will leave) the warehouse."""


def verify(request: SignedRequest, key: str) -> None:
    hmac_base64(request, key, SIGNATURE)


def parse(request: SignedRequest) -> Message:
    topic = request.headers.get("x-shopify-topic", "").strip()
    if not topic:
        raise PayloadError("X-Shopify-Topic is missing")
    delivery = text(request.headers.get("x-shopify-webhook-id")) or text(
        request.headers.get("x-shopify-event-id")
    )
    return Message(topic, delivery, json_object(request))


def map(message: Message) -> PlatformOrder | None:
    data = message.data
    if message.topic in FULFILLMENT_TOPICS:
        order_id = identifier(data.get("order_id"), "order_id")
        return PlatformOrder(
            platform_id=order_id, updated_at=None, shipments=_shipments([data], "")
        )
    if message.topic not in ORDER_TOPICS:
        return None
    order_id = identifier(data.get("id"), "id")
    currency = identifier(data.get("currency"), "currency").upper()
    lines = objects(data.get("line_items"), "line_items")
    if not lines:
        raise PayloadError("line_items is empty")
    items = []
    for index, line in enumerate(lines):
        where = f"line_items[{index}]"
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise PayloadError(f"{where}.quantity must be a whole number above 0")
        items.append(
            {
                k: v
                for k, v in {
                    "title": text(line.get("title")) or text(line.get("name")) or "-",
                    "variant": text(line.get("variant_title")),
                    "sku": text(line.get("sku")),
                    "quantity": quantity,
                    "price": money(amount(line.get("price"), f"{where}.price"), currency),
                }.items()
                if v is not None
            }
        )
    customer = mapping(data.get("customer"), "customer")
    shipping = mapping(data.get("shipping_address"), "shipping_address")
    billing = mapping(data.get("billing_address"), "billing_address")
    first = text(customer.get("first_name")) or text(shipping.get("first_name"))
    last = text(customer.get("last_name")) or text(shipping.get("last_name"))
    first = first or text(billing.get("first_name")) or last
    if first is None:
        raise PayloadError("the order names no customer (customer.first_name)")
    shipping_price = mapping(
        mapping(data.get("total_shipping_price_set"), "total_shipping_price_set").get("shop_money"),
        "total_shipping_price_set.shop_money",
    )
    gateways = data.get("payment_gateway_names")
    gateway = gateways[0] if isinstance(gateways, list) and gateways else data.get("gateway")
    order: dict[str, Any] = {
        "number": text(data.get("order_number")) or text(data.get("name")) or order_id,
        "email": text(data.get("email")) or text(data.get("contact_email")),
        "phone": text(data.get("phone")) or text(customer.get("phone")),
        "locale": text(data.get("customer_locale")),
        "currency": currency,
        "customer": {"first_name": first, "last_name": last if last != first else None},
        "shipping_address": _address(shipping) or _address(billing),
        "billing_address": _address(billing),
        "payment": {"method": (text(gateway) or "-")[:64]},
        "line_items": items,
        "totals": {
            "subtotal": money(
                amount(data.get("total_line_items_price"), "total_line_items_price"), currency
            ),
            "shipping": money(amount(shipping_price.get("amount"), "shipping"), currency),
            "discount": money(amount(data.get("total_discounts"), "total_discounts"), currency),
            "tax": money(amount(data.get("total_tax"), "total_tax"), currency),
            "taxes_included": bool(data.get("taxes_included")),
            "total": money(amount(data.get("total_price"), "total_price"), currency),
        },
    }
    return PlatformOrder(
        platform_id=order_id,
        updated_at=when(data.get("updated_at"), "updated_at"),
        order={k: v for k, v in order.items() if v is not None},
        line_ids=[
            identifier(line.get("id"), f"line_items[{i}].id") for i, line in enumerate(lines)
        ],
        shipments=_shipments(objects(data.get("fulfillments"), "fulfillments"), "fulfillments"),
        cancelled=data.get("cancelled_at") not in (None, ""),
    )


def _address(fields: dict[str, Any]) -> dict[str, Any] | None:
    name = text(fields.get("name")) or " ".join(
        p for p in (text(fields.get("first_name")), text(fields.get("last_name"))) if p
    )
    return address(
        {
            "name": name,
            "company": text(fields.get("company")),
            "address1": text(fields.get("address1")),
            "address2": text(fields.get("address2")),
            "city": text(fields.get("city")),
            "province": text(fields.get("province")),
            "zip": text(fields.get("zip")),
            "country_code": text(fields.get("country_code")),
            "phone": text(fields.get("phone")),
        }
    )


def _shipments(fulfillments: list[dict[str, Any]], where: str) -> list[Shipment]:
    found = []
    for index, fulfillment in enumerate(fulfillments):
        at = f"{where}[{index}]" if where else "fulfillment"
        status = text(fulfillment.get("status"))
        if status == "pending":
            continue  # not shipped yet
        items: dict[str, int] = {}
        for line in objects(fulfillment.get("line_items"), f"{at}.line_items"):
            quantity = line.get("quantity")
            if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
                line_id = identifier(line.get("id"), f"{at}.line_items.id")
                items[line_id] = items.get(line_id, 0) + quantity
        numbers = fulfillment.get("tracking_numbers")
        number = text(fulfillment.get("tracking_number")) or (
            text(numbers[0]) if isinstance(numbers, list) and numbers else None
        )
        shipment_status = text(fulfillment.get("shipment_status"))
        found.append(
            Shipment(
                platform_id=identifier(fulfillment.get("id"), f"{at}.id"),
                tracking_number=number,
                carrier=text(fulfillment.get("tracking_company")),
                tracking_url=text(fulfillment.get("tracking_url")),
                items=items or None,
                status=SHIPMENT_STATUS.get(shipment_status or ""),
                status_at=when(fulfillment.get("updated_at"), f"{at}.updated_at"),
                cancelled=status in UNSHIPPED,
            )
        )
    return found

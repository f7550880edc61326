"""Saleor webhooks: ``ORDER_CREATED``, ``ORDER_UPDATED``, ``ORDER_FULFILLED``,
``FULFILLMENT_CREATED``, each with the subscription query in :data:`SUBSCRIPTION` (Saleor
sends what the app's query asks for: every event carries the whole order).

``Saleor-Signature`` is a detached JWS (RS256, unencoded payload, RFC 7797) made with the
instance's key, which is checked against the instance's JWKS at ``/.well-known/jwks.json``
(fetched and kept, :mod:`orderstatus.connectors.jwks`). An instance whose webhook has a
secret key signs with the hex HMAC-SHA256 of the body instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from orderstatus.carriers.sources import hmac_sha256, same
from orderstatus.connectors import (
    Message,
    PayloadError,
    PlatformOrder,
    Shipment,
    SignatureError,
    SignedRequest,
    address,
    amount,
    identifier,
    json_object,
    mapping,
    money,
    objects,
    text,
    when,
)

NAME = "saleor"
TITLE = "Saleor"
SIGNATURE = "saleor-signature"
EVENTS = frozenset({"order_created", "order_updated", "order_fulfilled", "fulfillment_created"})
CANCELLED = frozenset({"CANCELED"})
SHIPMENT_CANCELLED = frozenset({"CANCELED", "REFUNDED", "RETURNED", "REPLACED"})

_MONEY = "gross { amount currency } net { amount } tax { amount }"
_ADDRESS = (
    "firstName lastName companyName streetAddress1 streetAddress2 city postalCode "
    "countryArea country { code } phone"
)
SUBSCRIPTION = (
    "subscription { event { ... on OrderCreated { order { ...Order } } "
    "... on OrderUpdated { order { ...Order } } ... on OrderFulfilled { order { ...Order } } "
    "... on FulfillmentCreated { order { ...Order } } } } "
    "fragment Order on Order { id number updatedAt status userEmail languageCodeEnum "
    f"displayGrossPrices billingAddress {{ {_ADDRESS} }} shippingAddress {{ {_ADDRESS} }} "
    "lines { id productName variantName productSku quantity "
    "unitPrice { gross { amount } net { amount } } } "
    f"subtotal {{ {_MONEY} }} shippingPrice {{ {_MONEY} }} total {{ {_MONEY} }} "
    "paymentMethod: payments { gateway } "
    "fulfillments { id status trackingNumber created lines { quantity orderLine { id } } } }"
)
"""The subscription query to give the app's webhook (the README prints it readably)."""


class UnknownKey(SignatureError):
    """The signature names a key the kept JWKS does not have (fetch it again)."""


@dataclass(frozen=True, slots=True)
class Key:
    secret: str
    jwks: dict[str, Any] | None
    """The instance's JWKS as fetched, or None when it could not be."""


def verify(request: SignedRequest, key: Key) -> None:
    signature = request.headers.get(SIGNATURE, "").strip()
    if not signature:
        raise SignatureError("Saleor-Signature is missing")
    if "." not in signature:
        expected = hmac_sha256(key.secret.encode(), request.body).hex()
        if not same(signature.lower(), expected):
            raise SignatureError("Saleor-Signature does not match the body")
        return
    header_part, _, rest = signature.partition(".")
    payload_part, _, signature_part = rest.partition(".")
    try:
        header = json.loads(_unbase64(header_part))
        signed = _unbase64(signature_part)
    except (ValueError, binascii.Error):
        raise SignatureError("Saleor-Signature is not a JWS") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise SignatureError("Saleor-Signature must be RS256")
    if payload_part:
        raise SignatureError("Saleor-Signature must be detached")
    unencoded = header.get("b64") is False
    if unencoded and "b64" not in (header.get("crit") or []):
        raise SignatureError("Saleor-Signature: b64 must be critical")
    body = request.body if unencoded else _base64(request.body).encode()
    public = _public_key(key.jwks, header.get("kid"))
    try:
        public.verify(
            signed, header_part.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise SignatureError("Saleor-Signature does not match the body") from None


def _public_key(jwks: dict[str, Any] | None, kid: Any) -> rsa.RSAPublicKey:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if kid is not None and jwk.get("kid") != kid:
            continue
        try:
            n = int.from_bytes(_unbase64(str(jwk["n"])), "big")
            e = int.from_bytes(_unbase64(str(jwk["e"])), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        except (KeyError, ValueError, binascii.Error):
            continue
    raise UnknownKey("the instance has no key with this signature's kid")


def _unbase64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _base64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


def parse(request: SignedRequest) -> Message:
    event = request.headers.get("saleor-event", "").strip().lower()
    if not event:
        raise PayloadError("Saleor-Event is missing")
    # Saleor gives a delivery no id of its own; a retry is the same event and body.
    delivery = hashlib.sha256(event.encode() + b"\n" + request.body).hexdigest()
    return Message(event, delivery, json_object(request))


def map(message: Message) -> PlatformOrder | None:
    if message.topic not in EVENTS:
        return None
    data = mapping(message.data.get("order"), "order")
    if not data:
        raise PayloadError("order is missing (see the subscription query in the README)")
    order_id = identifier(data.get("id"), "order.id")
    gross = bool(data.get("displayGrossPrices", True))
    kind = "gross" if gross else "net"
    total = mapping(data.get("total"), "order.total")
    currency = identifier(mapping(total.get("gross"), "total.gross").get("currency"), "currency")
    currency = currency.upper()

    def price(field: str) -> Decimal:
        part = mapping(mapping(data.get(field), f"order.{field}").get(kind), f"{field}.{kind}")
        return amount(part.get("amount"), f"order.{field}.{kind}.amount")

    lines = objects(data.get("lines"), "order.lines")
    if not lines:
        raise PayloadError("order.lines is empty")
    items = []
    for index, line in enumerate(lines):
        where = f"order.lines[{index}]"
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise PayloadError(f"{where}.quantity must be a whole number above 0")
        unit = mapping(mapping(line.get("unitPrice"), f"{where}.unitPrice").get(kind), kind)
        items.append(
            {
                k: v
                for k, v in {
                    "title": text(line.get("productName")) or "-",
                    "variant": text(line.get("variantName")),
                    "sku": text(line.get("productSku")),
                    "quantity": quantity,
                    "price": money(amount(unit.get("amount"), f"{where}.unitPrice"), currency),
                }.items()
                if v is not None
            }
        )
    subtotal, shipping = price("subtotal"), price("shippingPrice")
    grand = amount(mapping(total.get("gross"), "total.gross").get("amount"), "order.total.gross")
    tax = amount(mapping(total.get("tax"), "total.tax").get("amount"), "order.total.tax")
    # Saleor's prices are after discounts; what the subtotal and shipping do not reach is one.
    discount = subtotal + shipping - grand if gross else subtotal + shipping + tax - grand
    shipping_address = mapping(data.get("shippingAddress"), "order.shippingAddress")
    billing = mapping(data.get("billingAddress"), "order.billingAddress")
    person = shipping_address if text(shipping_address.get("firstName")) else billing
    first = text(person.get("firstName")) or text(person.get("lastName"))
    if first is None:
        raise PayloadError("the order names no customer (order.shippingAddress.firstName)")
    payments = data.get("paymentMethod")
    gateway = payments[0].get("gateway") if isinstance(payments, list) and payments else None
    order: dict[str, Any] = {
        "number": text(data.get("number")) or order_id,
        "email": text(data.get("userEmail")),
        "phone": text(billing.get("phone")) or text(shipping_address.get("phone")),
        "locale": _locale(data.get("languageCodeEnum")),
        "currency": currency,
        "customer": {
            "first_name": first,
            "last_name": text(person.get("lastName")) if text(person.get("firstName")) else None,
        },
        "shipping_address": _address(shipping_address) or _address(billing),
        "billing_address": _address(billing),
        "payment": {"method": (text(gateway) or "-")[:64]},
        "line_items": items,
        "totals": {
            "subtotal": money(subtotal, currency),
            "shipping": money(shipping, currency),
            "discount": money(max(discount, Decimal(0)), currency),
            "tax": money(tax, currency),
            "taxes_included": gross,
            "total": money(grand, currency),
        },
    }
    return PlatformOrder(
        platform_id=order_id,
        updated_at=when(data.get("updatedAt"), "order.updatedAt"),
        order={k: v for k, v in order.items() if v is not None},
        line_ids=[
            identifier(line.get("id"), f"order.lines[{i}].id") for i, line in enumerate(lines)
        ],
        shipments=_shipments(objects(data.get("fulfillments"), "order.fulfillments")),
        cancelled=text(data.get("status")) in CANCELLED,
    )


def _locale(value: Any) -> str | None:
    """``EN_US`` → ``en-US``."""
    found = text(value)
    return found.replace("_", "-").lower() if found else None


def _address(fields: dict[str, Any]) -> dict[str, Any] | None:
    country = mapping(fields.get("country"), "country")
    return address(
        {
            "name": " ".join(
                p for p in (text(fields.get("firstName")), text(fields.get("lastName"))) if p
            ),
            "company": text(fields.get("companyName")),
            "address1": text(fields.get("streetAddress1")),
            "address2": text(fields.get("streetAddress2")),
            "city": text(fields.get("city")),
            "province": text(fields.get("countryArea")),
            "zip": text(fields.get("postalCode")),
            "country_code": text(country.get("code")),
            "phone": text(fields.get("phone")),
        }
    )


def _shipments(fulfillments: list[dict[str, Any]]) -> list[Shipment]:
    found = []
    for index, fulfillment in enumerate(fulfillments):
        where = f"order.fulfillments[{index}]"
        status = text(fulfillment.get("status"))
        if status == "WAITING_FOR_APPROVAL":
            continue
        items: dict[str, int] = {}
        for line in objects(fulfillment.get("lines"), f"{where}.lines"):
            quantity = line.get("quantity")
            order_line = mapping(line.get("orderLine"), f"{where}.lines.orderLine")
            if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
                line_id = identifier(order_line.get("id"), f"{where}.lines.orderLine.id")
                items[line_id] = items.get(line_id, 0) + quantity
        found.append(
            Shipment(
                platform_id=identifier(fulfillment.get("id"), f"{where}.id"),
                tracking_number=text(fulfillment.get("trackingNumber")),
                items=items or None,
                status_at=when(fulfillment.get("created"), f"{where}.created"),
                cancelled=status in SHIPMENT_CANCELLED,
            )
        )
    return found

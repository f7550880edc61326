"""Shop platform connectors: each module turns one platform's order webhooks into our
orders and shipments.

Every connector has the same shape, as the carriers' inbound sources do:

- ``NAME``, the platform's name in ``/connect/{platform}/{handle}``;
- ``verify(request, key)``: the webhook is signed by the platform (else SignatureError);
- ``parse(request) -> Message``: what the delivery is (topic, the platform's delivery id,
  its JSON), or PayloadError;
- ``map(message) -> PlatformOrder | None``: the order as we keep it (None: nothing of ours).

A connector knows the platform's payloads and nothing of storage: one service
(``services.connections``) applies a :class:`PlatformOrder` with the services every
order goes through.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import ModuleType
from typing import Any

from orderstatus.carriers.sources import (
    PayloadError,
    SignatureError,
    SignedRequest,
    hmac_sha256,
    load_json,
    same,
)
from orderstatus.domain.money import precision
from orderstatus.domain.statuses import EventStatus

__all__ = [
    "Message",
    "PayloadError",
    "PlatformOrder",
    "Shipment",
    "SignatureError",
    "SignedRequest",
    "registry",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery as the platform sent it."""

    topic: str
    delivery_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    ping: bool = False
    """A check that the URL answers (WooCommerce's when a webhook is saved)."""


@dataclass(frozen=True, slots=True)
class Shipment:
    """A platform's fulfilment of some of the order's items."""

    platform_id: str
    tracking_number: str | None = None
    carrier: str | None = None
    tracking_url: str | None = None
    items: dict[str, int] | None = None
    """Quantity by the platform's line item id; None: every item not shipped yet."""
    status: EventStatus | None = None
    """Where the platform says the parcel is, at ``status_at``."""
    status_at: datetime | None = None
    cancelled: bool = False
    """The platform cancelled the shipment: its items count as not shipped again."""


@dataclass(frozen=True, slots=True)
class PlatformOrder:
    """What a delivery says about one of the platform's orders."""

    platform_id: str
    updated_at: datetime | None
    """The platform's time of this version of the order: an older one changes nothing."""
    order: dict[str, Any] | None = None
    """The order in the API's shape (``OrderInput``); None when the delivery is about a
    shipment only, and cannot create the order."""
    line_ids: list[str] = field(default_factory=list)
    """The platform's id of each of ``order["line_items"]``, in the same order."""
    shipments: list[Shipment] = field(default_factory=list)
    cancelled: bool = False
    deleted: bool = False
    """The order is gone from the platform: cancelled whatever comes after."""


def hmac_base64(request: SignedRequest, secret: str, header: str) -> None:
    """The header is the base64 HMAC-SHA256 of the raw body with the secret (WooCommerce,
    Shopify)."""
    given = request.headers.get(header, "").strip()
    expected = base64.b64encode(hmac_sha256(secret.encode(), request.body)).decode()
    if not given or not same(given, expected):
        raise SignatureError(f"{header} does not match the body")


def json_object(request: SignedRequest) -> dict[str, Any]:
    return load_json(request.body)


def text(value: Any) -> str | None:
    """A payload's text field, stripped; None when empty or not text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def identifier(value: Any, where: str) -> str:
    """A platform id (a number or text) as text; PayloadError when missing."""
    found = text(value)
    if found is None or len(found) > 64:
        raise PayloadError(f"{where} is missing")
    return found


def amount(value: Any, where: str) -> Decimal:
    """An amount the platform sends as text ("12.50") or a number; 0 when missing."""
    if value in (None, ""):
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PayloadError(f"{where} is not an amount")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"{where} is not an amount: {value!r}") from None
    if not number.is_finite():
        raise PayloadError(f"{where} is not an amount: {value!r}")
    return number


def money(value: Decimal, currency: str) -> str:
    """An amount as the API takes it, rounded to the currency's minor unit."""
    try:
        places = precision(currency)
    except (KeyError, ValueError):
        places = 2
    try:
        return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise PayloadError(f"{value} is not an amount we can keep") from None


def when(value: Any, where: str) -> datetime | None:
    """An ISO 8601 time; one without a zone is UTC (the platforms' ``*_gmt`` fields)."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A list of JSON objects (a missing list is empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PayloadError(f"{where} must be a list of objects")
    return value


def mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    return value


def drop_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "", [], {})}


def address(fields: dict[str, Any]) -> dict[str, Any] | None:
    """An address for ``OrderInput`` from our field names, or None when it is not one
    (a platform's empty address has every field blank)."""
    found = drop_empty(fields)
    if not all(found.get(k) for k in ("name", "address1", "city", "country_code")):
        return None
    return found


def registry() -> dict[str, ModuleType]:
    """The connectors by the name used in their URLs."""
    from orderstatus.connectors import saleor, shopify, woocommerce

    return {m.NAME: m for m in (woocommerce, shopify, saleor)}

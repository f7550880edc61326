"""Apple Wallet orders: what an order's ``order.json`` says, in Wallet's terms.

Built from the owner's view (:func:`orderstatus.domain.view.build_view`), so a package
carries nothing the owner's page does not show; and of that, only what Wallet needs to
track the order: no contact, address or payment details, which Wallet would keep and
sync long after the page's link expired.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orderstatus.domain.statuses import FINAL, EventStatus
from orderstatus.domain.view import LineView, OrderView, ShipmentView, Viewer

SCHEMA_VERSION = 1
MIN_TOKEN_LENGTH = 16
"""Wallet refuses an authentication token shorter than this."""

WALLET_STATUS: dict[EventStatus, str] = {
    EventStatus.LABEL_PURCHASED: "processing",
    EventStatus.LABEL_PRINTED: "processing",
    EventStatus.CONFIRMED: "processing",
    EventStatus.CARRIER_PICKED_UP: "onTheWay",
    EventStatus.IN_TRANSIT: "onTheWay",
    EventStatus.DELAYED: "onTheWay",
    EventStatus.NO_RECENT_UPDATES: "onTheWay",
    EventStatus.OUT_FOR_DELIVERY: "outForDelivery",
    EventStatus.ATTEMPTED_DELIVERY: "issue",
    EventStatus.READY_FOR_PICKUP: "issue",
    EventStatus.FAILURE: "issue",
    EventStatus.RETURNED_TO_SENDER: "issue",
    EventStatus.DELIVERED: "delivered",
    EventStatus.PICKED_UP: "delivered",
}
"""A shipment's status as Wallet's fulfilment statuses say it (``issue`` where the
customer has something to do or to know: a missed delivery, a parcel waiting, a loss)."""


@dataclass(frozen=True, slots=True)
class WalletOrder:
    """The parts of ``order.json`` that are not in the view."""

    order_type_id: str
    merchant_id: str
    order_identifier: str
    authentication_token: str
    web_service_url: str
    order_url: str
    """The order's page: where Wallet's "Manage order" goes."""
    updated_at: datetime
    logo: str | None
    """The logo's file name in the package, if the shop has one."""
    images: dict[str, str]
    """Line item image URL → its file name in the package."""


def authentication_token(secret_key: str, status_token: str) -> str:
    """The token Wallet sends back with each request about the order. Derived from the
    order's own random token, so it needs no storage, and it changes (refusing old
    packages) if the order's data is ever removed and its id reused."""
    digest = hmac.new(secret_key.encode(), b"wallet-order:" + status_token.encode(), "sha256")
    return digest.hexdigest()


def token_matches(secret_key: str, status_token: str, given: str) -> bool:
    return hmac.compare_digest(authentication_token(secret_key, status_token), given)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": float(value), "currency": currency}


def _line(line: LineView, currency: str, images: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"title": line.title, "quantity": line.quantity}
    if line.variant:
        item["subtitle"] = line.variant
    if line.unit_price is not None:
        item["price"] = _amount(line.unit_price, currency)
    if line.image_url and line.image_url in images:
        item["image"] = images[line.image_url]
    return item


def _fulfilment(view: OrderView, shipment: ShipmentView, images: dict[str, str]) -> dict[str, Any]:
    fulfilment: dict[str, Any] = {
        "fulfillmentType": "shipping",
        "fulfillmentIdentifier": str(shipment.id),
        "status": WALLET_STATUS.get(shipment.status, "onTheWay"),
        "lineItems": [_line(line, view.currency, images) for line in shipment.items],
    }
    if shipment.carrier_name:
        fulfilment["carrier"] = shipment.carrier_name
    if shipment.tracking_number:
        fulfilment["trackingNumber"] = shipment.tracking_number
    if shipment.tracking_url:
        fulfilment["trackingURL"] = shipment.tracking_url
    if shipment.estimated_delivery and shipment.status not in FINAL:
        fulfilment["estimatedDeliveryAt"] = rfc3339(shipment.estimated_delivery)
    if shipment.delivered_at:
        fulfilment["deliveredAt"] = rfc3339(shipment.delivered_at)
    shipped = shipment.steps[1].reached_at if len(shipment.steps) > 1 else None
    if shipped:
        fulfilment["shippedAt"] = rfc3339(shipped)
    return fulfilment


def order_json(view: OrderView, wallet: WalletOrder) -> dict[str, Any]:
    """``order.json`` for the owner's view of an order."""
    if view.viewer is not Viewer.OWNER:
        raise ValueError("a Wallet order is made from the owner's view only")
    finished = bool(view.shipments) and not view.unfulfilled and view.delivered_at is not None
    merchant: dict[str, Any] = {
        "merchantIdentifier": wallet.merchant_id,
        "displayName": view.shop.name,
        "url": view.shop.website_url or wallet.order_url,
    }
    if wallet.logo:
        merchant["logo"] = wallet.logo
    if view.shop.contact_email:
        merchant["emailAddress"] = view.shop.contact_email
    order: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "orderTypeIdentifier": wallet.order_type_id,
        "orderIdentifier": wallet.order_identifier,
        "orderType": "ecommerce",
        "orderNumber": view.number,
        "orderManagementURL": wallet.order_url,
        "createdAt": rfc3339(view.created_at),
        "updatedAt": rfc3339(max(wallet.updated_at, view.created_at)),
        "status": "completed" if finished else "open",
        "merchant": merchant,
        "lineItems": [_line(line, view.currency, wallet.images) for line in view.items],
        "fulfillments": [_fulfilment(view, s, wallet.images) for s in view.shipments],
        "webServiceURL": wallet.web_service_url,
        "authenticationToken": wallet.authentication_token,
    }
    if view.totals is not None:
        order["payment"] = {"total": _amount(view.totals.total, view.currency)}
    return order


def manifest(files: dict[str, bytes]) -> dict[str, str]:
    """``manifest.json``: each file of the package by its SHA-256 (hex)."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def image_name(url: str, suffix: str) -> str:
    """A line item image's file name in the package: the same for the same URL."""
    return "item-" + hashlib.sha256(url.encode()).hexdigest()[:16] + suffix

"""The platforms' documented example payloads (tests/connectors/fixtures), signed as each
platform signs them, and the deliveries of one order's life on each platform."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "wc_secret_" + "k" * 30


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@dataclass(frozen=True)
class Delivery:
    """One webhook as the platform posts it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class SaleorInstance:
    """A Saleor instance's signing key and its JWKS."""

    def __init__(self, kid: str = "instance-key-1") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def sign(self, body: bytes) -> str:
        """A detached JWS with an unencoded payload (RFC 7797), as Saleor signs."""
        header = {"alg": "RS256", "b64": False, "crit": ["b64"], "kid": self.kid}
        protected = b64url(json.dumps(header, separators=(",", ":")).encode())
        signature = self.key.sign(
            protected.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{protected}..{b64url(signature)}"

    def pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _hmac64(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def woocommerce(
    topic: str, order: dict[str, Any], delivery_id: str, secret: str = SECRET
) -> Delivery:
    body = json.dumps(order).encode()
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": _hmac64(body, secret),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id,
        },
    )


def shopify(topic: str, data: dict[str, Any], webhook_id: str, secret: str = SECRET) -> Delivery:
    body = json.dumps(data).encode()
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": _hmac64(body, secret),
            "X-Shopify-Shop-Domain": "example.myshopify.com",
            "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": webhook_id,
        },
    )


def saleor(event: str, data: dict[str, Any], instance: SaleorInstance) -> Delivery:
    body = json.dumps(data).encode()
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "Saleor-Event": event,
            "Saleor-Domain": "saleor.example",
            "Saleor-Api-Url": "https://saleor.example/graphql/",
            "Saleor-Signature": instance.sign(body),
        },
    )


TRACKING = [
    {
        "tracking_provider": "postnord-norway",
        "custom_tracking_provider": "",
        "custom_tracking_link": "",
        "tracking_number": "00370712345678901234",
        "date_shipped": "1764676800",
        "tracking_id": "5f1c0d3e2b",
    }
]


def woocommerce_life(order_id: int = 727) -> list[Delivery]:
    """Placed, changed (a second item of the first kind), completed with tracking."""
    placed = fixture("woocommerce_order")
    placed["id"] = order_id
    placed["number"] = str(order_id)
    changed = copy.deepcopy(placed)
    changed["date_modified_gmt"] = "2026-11-30T14:00:00"
    changed["billing"]["phone"] = "+47 913 00 000"
    shipped = copy.deepcopy(changed)
    shipped["status"] = "completed"
    shipped["date_modified_gmt"] = "2026-12-02T12:00:00"
    shipped["meta_data"].append(
        {"id": 13200, "key": "_wc_shipment_tracking_items", "value": TRACKING}
    )
    return [
        woocommerce("order.created", placed, f"{order_id}-1"),
        woocommerce("order.updated", changed, f"{order_id}-2"),
        woocommerce("order.updated", shipped, f"{order_id}-3"),
    ]


def shopify_life(order_id: int = 820982911946154508) -> list[Delivery]:
    """Placed; fulfilled with UPS (in transit); the order updated with the fulfilment;
    delivered."""
    placed = fixture("shopify_order")
    placed["id"] = order_id
    placed["order_number"] = order_id % 100000
    fulfillment = fixture("shopify_fulfillment")
    fulfillment["order_id"] = order_id
    fulfillment["id"] = order_id % 1000000 + 1
    updated = copy.deepcopy(placed)
    updated["updated_at"] = "2026-12-01T09:00:00-05:00"
    updated["fulfillment_status"] = "fulfilled"
    updated["fulfillments"] = [fulfillment]
    delivered = copy.deepcopy(fulfillment)
    delivered["shipment_status"] = "delivered"
    delivered["updated_at"] = "2026-12-02T15:30:00-05:00"
    return [
        shopify("orders/create", placed, f"{order_id}-a"),
        shopify("fulfillments/create", fulfillment, f"{order_id}-b"),
        shopify("orders/updated", updated, f"{order_id}-c"),
        shopify("fulfillments/update", delivered, f"{order_id}-d"),
    ]


def saleor_life(instance: SaleorInstance, order_id: str = "T3JkZXI6MQ==") -> list[Delivery]:
    """Created, updated (the e-mail corrected), fulfilled with a tracking number."""
    created = fixture("saleor_order")
    created["order"]["id"] = order_id
    created["order"]["number"] = str(int(hashlib.sha256(order_id.encode()).hexdigest()[:6], 16))
    updated = copy.deepcopy(created)
    updated["order"]["updatedAt"] = "2026-11-30T11:00:00.000000+00:00"
    updated["order"]["userEmail"] = "anna.hansen@example.com"
    fulfilled = copy.deepcopy(updated)
    fulfilled["order"]["updatedAt"] = "2026-12-01T08:00:00.000000+00:00"
    fulfilled["order"]["status"] = "FULFILLED"
    lines = fulfilled["order"]["lines"]
    fulfilled["order"]["fulfillments"] = [
        {
            "id": "RnVsZmlsbG1lbnQ6MQ==",
            "status": "FULFILLED",
            "trackingNumber": "70730259304981041",
            "created": "2026-12-01T08:00:00.000000+00:00",
            "lines": [
                {"quantity": line["quantity"], "orderLine": {"id": line["id"]}} for line in lines
            ],
        }
    ]
    return [
        saleor("order_created", created, instance),
        saleor("order_updated", updated, instance),
        saleor("fulfillment_created", fulfilled, instance),
        saleor("order_fulfilled", fulfilled, instance),
    ]

"""A small example delivery per platform, signed with a connection's secret, for the
admin's "Send a test": it goes through the connector as a real delivery would."""

from __future__ import annotations

import base64
import json
from typing import Any

from orderstatus.carriers.sources import SignedRequest, hmac_sha256

_ADDRESS = {"city": "Oslo", "country": "NO"}

_BODIES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "woocommerce": (
        {"x-wc-webhook-topic": "order.updated", "x-wc-webhook-delivery-id": "test"},
        {
            "id": 1,
            "number": "TEST-1",
            "status": "processing",
            "currency": "NOK",
            "date_modified_gmt": "2026-01-01T12:00:00",
            "prices_include_tax": True,
            "total": "100.00",
            "total_tax": "20.00",
            "billing": {
                "first_name": "Test",
                "email": "test@example.com",
                "address_1": "Test 1",
                **_ADDRESS,
            },
            "shipping": {},
            "line_items": [
                {
                    "id": 1,
                    "name": "Test",
                    "quantity": 1,
                    "subtotal": "80.00",
                    "subtotal_tax": "20.00",
                }
            ],
        },
    ),
    "shopify": (
        {"x-shopify-topic": "orders/updated", "x-shopify-webhook-id": "test"},
        {
            "id": 1,
            "order_number": "TEST-1",
            "email": "test@example.com",
            "currency": "NOK",
            "updated_at": "2026-01-01T12:00:00Z",
            "taxes_included": True,
            "total_line_items_price": "100.00",
            "total_tax": "20.00",
            "total_price": "100.00",
            "customer": {"first_name": "Test"},
            "shipping_address": {
                "name": "Test",
                "address1": "Test 1",
                "city": "Oslo",
                "country_code": "NO",
            },
            "line_items": [{"id": 1, "title": "Test", "quantity": 1, "price": "100.00"}],
        },
    ),
    "saleor": (
        {"saleor-event": "order_updated"},
        {
            "order": {
                "id": "test",
                "number": "TEST-1",
                "updatedAt": "2026-01-01T12:00:00+00:00",
                "userEmail": "test@example.com",
                "displayGrossPrices": True,
                "shippingAddress": {
                    "firstName": "Test",
                    "streetAddress1": "Test 1",
                    "city": "Oslo",
                    "country": {"code": "NO"},
                },
                "lines": [
                    {
                        "id": "test",
                        "productName": "Test",
                        "quantity": 1,
                        "unitPrice": {"gross": {"amount": 100}, "net": {"amount": 80}},
                    }
                ],
                "subtotal": {"gross": {"amount": 100, "currency": "NOK"}},
                "shippingPrice": {"gross": {"amount": 0, "currency": "NOK"}},
                "total": {"gross": {"amount": 100, "currency": "NOK"}, "tax": {"amount": 20}},
                "fulfillments": [],
            }
        },
    ),
}


def example(platform: str, secret: str) -> SignedRequest:
    """The platform's example delivery, signed as the platform signs with this secret
    (Saleor's with the secret key form of its signature)."""
    headers, data = _BODIES[platform]
    body = json.dumps(data).encode()
    digest = hmac_sha256(secret.encode(), body)
    signature = {
        "woocommerce": ("x-wc-webhook-signature", base64.b64encode(digest).decode()),
        "shopify": ("x-shopify-hmac-sha256", base64.b64encode(digest).decode()),
        "saleor": ("saleor-signature", digest.hex()),
    }[platform]
    return SignedRequest(body=body, headers={**headers, signature[0]: signature[1]})

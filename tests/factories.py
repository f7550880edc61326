"""Request bodies as a checkout would send them."""

from __future__ import annotations

from typing import Any


def order_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "kari@example.com",
        "currency": "NOK",
        "locale": "nb-NO",
        "customer": {"first_name": "Kari", "last_name": "Nordmann"},
        "shipping_address": {
            "name": "Kari Nordmann",
            "address1": "Storgata 1",
            "city": "Oslo",
            "zip": "0155",
            "country_code": "NO",
        },
        "payment": {"method": "card", "brand": "Visa", "last4": "4242"},
        "line_items": [
            {"title": "Mug", "variant": "Blue", "sku": "MUG-B", "quantity": 1, "price": "249.00"},
            {"title": "Scarf", "quantity": 1, "price": "299"},
            {"title": "Socks", "quantity": 1, "price": "199"},
        ],
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def event_payload(status: str, occurred_at: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "occurred_at": occurred_at, **extra}

"""Real-world input that once answered 500: each now gets a documented answer and
writes nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.services import status_pages
from orderstatus.services.webhooks import set_webhook_secret
from tests.conftest import ShopClient
from tests.factories import event_payload, order_payload
from tests.integration.helpers import create_order, fulfil, row_counts
from tests.integration.live_server import serving
from tests.integration.test_webhooks import SECRET, post

TOO_BIG = str(2**63)
DEEP = 100_000


# ---- ids above 2^63 - 1 ----


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/orders/{big}"),
        ("GET", "/api/v1/orders/{big}/status"),
        ("POST", "/api/v1/orders/{big}/fulfillments"),
        ("POST", "/api/v1/fulfillments/{big}/events"),
        ("PATCH", "/api/v1/webhooks/{big}"),
        ("DELETE", "/api/v1/webhooks/{big}"),
    ],
)
async def test_api_ids_beyond_64_bits_are_404(
    api: ShopClient, database: Database, method: str, path: str
) -> None:
    before = await row_counts(database)
    body: dict[str, object] = (
        event_payload("in_transit", "2024-05-01T10:00:00Z") if "events" in path else {}
    )
    if method == "PATCH":
        body = {"active": False}
    for big in (TOO_BIG, str(2**31)):  # beyond 64 bits, and beyond the INTEGER column
        response = await api.http.request(method, path.format(big=big), json=body)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert await row_counts(database) == before


# ---- Unicode digits where a number is expected ----


@pytest.fixture
async def base(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with serving(settings, database) as (url, _app):
        yield url


async def test_unicode_digits_in_the_stream_version_are_ignored(
    api: ShopClient, database: Database, base: str
) -> None:
    order = await create_order(api.http)
    token = order["status_page_url"].rsplit("/", 1)[1]
    async with database.write() as session:
        share = await status_pages.create_share_link(session, order_id=order["id"])
    async with httpx.AsyncClient(base_url=base) as browser:
        for path in (f"/orders/{token}/events", f"/shared/{share}/events"):
            for version in ("²", "٣", TOO_BIG):
                async with browser.stream("GET", path, params={"v": version}) as r:
                    assert r.status_code == 200
                    assert r.headers["content-type"].startswith("text/event-stream")


# ---- dates that overflow once their offset is applied ----

OVERFLOWING = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("when", OVERFLOWING)
async def test_api_dates_that_overflow_are_422(
    api: ShopClient, database: Database, when: str
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    url = f"/api/v1/fulfillments/{shipment['id']}/events"
    for body in (
        event_payload("in_transit", when),
        event_payload("in_transit", "2024-05-01T10:00:00Z", estimated_delivery=when),
    ):
        response = await api.http.post(url, json=body)
        assert response.status_code == 422, response.text
    assert await row_counts(database) == before


# ---- webhooks ----


def _custom(number: str, **event: Any) -> bytes:
    reported = {"status": "in_transit", "occurred_at": "2024-05-01T10:00:00Z", **event}
    return json.dumps({"tracking_number": number, "events": [reported]}).encode()


@pytest.mark.parametrize("number", ["", "AB", " a ", "X" * 65])
async def test_webhook_numbers_too_short_or_long_are_unmatched(
    api: ShopClient, database: Database, number: str
) -> None:
    async with database.write() as session:
        await set_webhook_secret(session, shop_id=api.shop_id, source="custom", secret=SECRET)
    before = await row_counts(database)
    response = await post(api.http, "custom", _custom(number))
    if number == "":
        assert response.status_code == 400, response.text  # the source's own rule
    else:
        assert response.status_code == 200, response.text
        assert response.json()["unmatched"] == [number]
    assert await row_counts(database) == before


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_json_nested_too_deep_is_400(api: ShopClient, database: Database) -> None:
    async with database.write() as session:
        await set_webhook_secret(session, shop_id=api.shop_id, source="custom", secret=SECRET)
    before = await row_counts(database)
    nested = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    for body in (_deep(DEEP), nested):
        response = await api.http.post(
            "/api/v1/orders", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        for source in ("custom", "easypost"):
            response = await post(api.http, source, body)
            assert response.status_code in (400, 401), response.text
        response = await post(api.http, "custom", body)
        assert response.status_code == 400, response.text
    assert await row_counts(database) == before


# ---- NUL bytes and lone surrogates ----

BAD_TEXT = ["Mug\x00", "Mug\ud800"]


def _raw_json(data: Any) -> bytes:
    """JSON as a sender may write it: lone surrogates escaped, as JSON allows."""
    return json.dumps(data, ensure_ascii=True).encode()


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_api_text_with_nul_or_lone_surrogates_is_refused(
    api: ShopClient, database: Database, bad: str
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    items = [{"title": bad, "quantity": 1, "price": "1.00"}]
    attempts = [
        ("/api/v1/orders", order_payload(line_items=items)),
        ("/api/v1/orders", order_payload(customer={"first_name": bad})),
        ("/api/v1/orders", order_payload(number=bad)),
        (f"/api/v1/orders/{order['id']}/fulfillments", {"carrier": bad}),
        (f"/api/v1/orders/{order['id']}/fulfillments", {"tracking_number": bad}),
        (
            f"/api/v1/fulfillments/{shipment['id']}/events",
            event_payload("in_transit", "2024-05-01T10:00:00Z", message=bad),
        ),
        (
            f"/api/v1/fulfillments/{shipment['id']}/events",
            event_payload("in_transit", "2024-05-01T10:00:00Z", external_id=bad),
        ),
    ]
    for url, body in attempts:
        response = await api.http.post(
            url, content=_raw_json(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), (url, response.text)
    if "\x00" in bad:  # a lone surrogate cannot be written in an address
        for name in ("number", "email", "cursor", "status"):
            response = await api.http.get("/api/v1/orders", params={name: bad})
            assert response.status_code == 400, (name, response.text)
    assert await row_counts(database) == before


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_webhook_text_with_nul_or_lone_surrogates_is_refused(
    api: ShopClient, database: Database, bad: str
) -> None:
    async with database.write() as session:
        await set_webhook_secret(session, shop_id=api.shop_id, source="custom", secret=SECRET)
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    for body in (
        json.dumps(json.loads(_custom("1Z999", message=bad))).encode(),
        _raw_json(json.loads(_custom("1Z999", external_id=bad))),
        _raw_json(json.loads(_custom(f"1Z{bad}"))),
    ):
        response = await post(api.http, "custom", body.replace(b"\\u0000", b"\\u0000"))
        assert response.status_code == 400, response.text
    assert await row_counts(database) == before


async def test_storefront_text_with_nul_is_refused(
    api: ShopClient, database: Database, app_http: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    token = order["status_page_url"].rsplit("/", 1)[1]
    before = await row_counts(database)
    for path in (f"/orders/{token}%00", "/shared/x%00y", "/shop/acme%00/order-status"):
        response = await app_http.get(path)
        assert response.status_code in (400, 404), (path, response.text)
    response = await app_http.post(
        "/shop/acme/order-status", data={"number": "1001\x00", "contact": "kari@example.com"}
    )
    assert response.status_code in (400, 404, 422), response.text
    assert await row_counts(database) == before

"""Headers every response carries, and the API docs served without a third party."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.services.accounts import create_api_key, create_shop
from tests.factories import order_payload
from tests.integration.live_server import serving

HSTS = "max-age=31536000"


async def _api_key(database: Database) -> str:
    async with database.write() as session:
        shop = await create_shop(session=session, handle="acme", name="Acme", currency="NOK")
        _row, key = await create_api_key(session=session, shop=shop, name="tests")
    return key


@pytest.fixture
async def http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    key = await _api_key(database)
    async with (
        serving(settings, database) as (base, _app),
        httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client,
    ):
        yield client


async def test_every_kind_of_response_says_nosniff_and_hsts_on_https(
    http: httpx.AsyncClient,
) -> None:
    order = (await http.post("/api/v1/orders", json=order_payload())).json()
    token = order["status_page_url"].rsplit("/", 1)[1]
    answers = [
        await http.get("/api/v1/orders"),  # JSON
        await http.get("/api/v1/orders/999999"),  # JSON error
        await http.get("/admin"),  # redirect
        await http.get("/static/app.css"),  # static file
        await http.get("/static/leaflet/leaflet.js"),  # packaged static file
        await http.get("/healthz"),
        await http.post("/webhooks/shippo/acme", content=b"{}"),  # answered before routing
        await http.post("/api/v1/orders", content=b"x" * (2 * 1024 * 1024)),  # 413
        await http.get(f"/orders/{token}"),
        await http.get("/api/docs"),
        await http.get("/api/openapi.json"),
    ]
    async with http.stream("GET", f"/orders/{token}/events") as stream:  # SSE
        answers.append(stream)
    assert answers[2].status_code in (302, 303, 307)
    assert answers[-1].headers["content-type"].startswith("text/event-stream")
    for answer in answers:
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.url
        assert answer.headers.get("strict-transport-security") == HSTS, answer.url


async def test_no_hsts_when_the_base_url_is_plain_http(
    settings: Settings, database: Database
) -> None:
    plain = settings.model_copy(update={"base_url": "http://127.0.0.1:8000"})
    async with serving(plain, database) as (base, _app), httpx.AsyncClient() as client:
        answer = await client.get(f"{base}/healthz")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in answer.headers


async def test_the_api_docs_load_everything_from_us_under_a_strict_policy(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/api/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "https:" not in policy and "cdn" not in policy
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["x-content-type-options"] == "nosniff"

"""/metrics counts what the service does: webhooks, events, the outbox read at scrape
time, open live streams; and the Grafana dashboard plots only series we export.

In-process apps count in this process's memory, shared by the tests: each test compares
the numbers before and after what it does.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app
from tests.conftest import ShopClient, _shop
from tests.factories import event_payload, order_payload
from tests.integration.live_server import serving

TOKEN = "t" * 24
BEARER = {"Authorization": f"Bearer {TOKEN}"}
DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana-dashboard.json"
Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Found:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Found, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def watched(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": TOKEN})


@pytest.fixture
async def shop(watched: Settings, database: Database) -> AsyncIterator[ShopClient]:
    app = create_app(watched, database)
    shop_id, key = await _shop(database, "acme")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://testserver",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield ShopClient(http, shop_id, key)


async def scrape(http: httpx.AsyncClient) -> Found:
    answer = await http.get("/metrics", headers=BEARER)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


async def test_without_the_setting_metrics_is_not_there(app_http: httpx.AsyncClient) -> None:
    for headers in ({}, BEARER):
        answer = await app_http.get("/metrics", headers=headers)
        assert answer.status_code == 404
        assert "orderstatus_" not in answer.text


async def test_the_outbox_is_read_at_each_scrape_by_kind_and_channel(shop: ShopClient) -> None:
    before = await scrape(shop.http)
    assert (
        value(before, "orderstatus_outbox_pending", kind="order_confirmation", channel="email") == 0
    )
    created = await shop.http.post("/api/v1/orders", json=order_payload())
    assert created.status_code == 201
    after = await scrape(shop.http)
    labels = {"kind": "order_confirmation", "channel": "email"}
    assert value(after, "orderstatus_outbox_pending", **labels) == 1
    age = value(after, "orderstatus_outbox_oldest_pending_age_seconds", **labels)
    assert 0 <= age < 60
    assert "kari@example.com" not in (await shop.http.get("/metrics", headers=BEARER)).text


async def test_webhooks_are_counted_by_source_and_result(shop: ShopClient) -> None:
    before = await scrape(shop.http)
    body = b'{"tracking_number": "1Z1", "events": []}'
    bad = await shop.http.post(
        "/webhooks/custom/acme", content=body, headers={"X-Orderstatus-Signature": "t=1,v1=00"}
    )
    assert bad.status_code == 401
    assert (await shop.http.post("/webhooks/nosuch/acme", content=body)).status_code == 404
    after = await scrape(shop.http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("orderstatus_webhooks_total", source="custom", result="bad_signature") == 1
    assert delta("orderstatus_webhooks_total", source="unknown", result="unknown_source") == 1
    route = {"route": "/webhooks/{source}/{handle}", "method": "POST"}
    assert delta("orderstatus_http_requests_total", **route, status="401") == 1
    assert delta("orderstatus_http_requests_total", **route, status="404") == 1


async def test_new_tracking_events_are_counted_once(shop: ShopClient) -> None:
    order = (await shop.http.post("/api/v1/orders", json=order_payload())).json()
    line = order["line_items"][0]["id"]
    shipment = (
        await shop.http.post(
            f"/api/v1/orders/{order['id']}/fulfillments",
            json={"line_items": [{"id": line, "quantity": 1}], "carrier": "ups"},
        )
    ).json()
    before = await scrape(shop.http)
    event = event_payload("in_transit", "2026-11-20T08:00:00Z", external_id="e1")
    path = f"/api/v1/fulfillments/{shipment['id']}/events"
    assert (await shop.http.post(path, json=event)).status_code == 201
    assert (await shop.http.post(path, json=event)).status_code == 200  # a repeat
    after = await scrape(shop.http)
    name = "orderstatus_tracking_events_recorded_total"
    assert value(after, name, source="api") - value(before, name, source="api") == 1


async def test_open_live_streams_are_counted_while_open(
    watched: Settings, database: Database
) -> None:
    _shop_id, key = await _shop(database, "acme")
    async with (
        serving(watched, database) as (url, _app),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        order = await http.post(
            "/api/v1/orders", json=order_payload(), headers={"Authorization": f"Bearer {key}"}
        )
        token = order.json()["status_page_url"].rsplit("/", 1)[1]
        before = value(await scrape(http), "orderstatus_live_streams_open")
        async with http.stream("GET", f"/orders/{token}/events?v=0") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()  # kept: a dropped iterator closes the stream
            await anext(lines)
            assert value(await scrape(http), "orderstatus_live_streams_open") == before + 1
        for _ in range(50):  # the server notices the closed connection
            now = await scrape(http)
            if value(now, "orderstatus_live_streams_open") == before:
                break
        assert value(now, "orderstatus_live_streams_open") == before


async def test_every_dashboard_query_names_a_series_we_export(shop: ShopClient) -> None:
    answer = await shop.http.get("/metrics", headers=BEARER)
    exported = set()
    for family in text_string_to_metric_families(answer.text):
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
    exported.update(
        f"orderstatus_{name}_{suffix}"
        for name in ("http_request_duration_seconds",)
        for suffix in ("bucket", "count", "sum")
    )
    exported.update(f"{name}_total" for name in list(exported))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 8
    for expr in exprs:
        names = re.findall(r"\borderstatus_[a-z_]+", expr)
        assert names, expr
        for name in names:
            assert name in exported, (name, expr)


async def test_connections_in_use_are_those_checked_out(
    shop: ShopClient, database: Database
) -> None:
    name = "orderstatus_db_connections_in_use"
    before = value(await scrape(shop.http), name)
    async with database.engine.connect():
        assert value(await scrape(shop.http), name) == before + 1
    assert value(await scrape(shop.http), name) == before


async def test_static_files_count_under_one_route(shop: ShopClient) -> None:
    labels = {"route": "/static/{path}", "method": "GET", "status": "200"}
    before = value(await scrape(shop.http), "orderstatus_http_requests_total", **labels)
    assert (await shop.http.get("/static/app.css")).status_code == 200
    after = value(await scrape(shop.http), "orderstatus_http_requests_total", **labels)
    assert after == before + 1

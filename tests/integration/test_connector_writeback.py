"""The page link written back to the platform's order, through the worker with retries,
against local fakes of each platform's endpoint in its documented request shape."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import ConnectionDelivery, ConnectionWriteBack, Order, utcnow
from orderstatus.services import writeback
from orderstatus.services.connections import create_connection, write_back_credentials
from orderstatus.services.orders import get_shop
from tests.conftest import ShopClient
from tests.connectors import samples

PLATFORMS = ["woocommerce", "shopify", "saleor"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The fake shop is on 127.0.0.1: calling it is allowed in these tests (and refused
    by default, as a test below shows)."""
    return settings.model_copy(update={"webhooks_allow_private": True})


@dataclass
class FakeShop:
    """WooCommerce's, Shopify's and Saleor's endpoints on one local server."""

    key: samples.SaleorInstance
    base: str = ""
    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    fail_next: int = 0
    saleor_errors: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/.well-known/jwks.json":
            return web.json_response(self.key.jwks())
        body = await request.json()
        self.seen.append((request.method, request.path, dict(request.headers), body))
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"message": "busy"}, status=503)
        if request.path == "/graphql/":
            errors = [{"field": "id", "message": "Not found"}] if self.saleor_errors else []
            return web.json_response({"data": {"updateMetadata": {"errors": errors}}})
        return web.json_response({"ok": True}, status=201 if request.method == "POST" else 200)


@pytest.fixture
async def fake() -> AsyncIterator[FakeShop]:
    shop = FakeShop(samples.SaleorInstance())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", shop.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    shop.base = f"http://127.0.0.1:{port}"
    yield shop
    await runner.cleanup()


async def connect(database: Database, fake: FakeShop, platform: str) -> None:
    credentials = (
        write_back_credentials(api_key="ck_test", api_secret="cs_test")
        if platform == "woocommerce"
        else write_back_credentials(api_token="token-" + platform)
    )
    async with database.write() as session:
        shop = await get_shop(session, "acme")
        await create_connection(
            session,
            shop=shop,
            platform=platform,
            secret=samples.SECRET,
            shop_url=f"{fake.base}/graphql/" if platform == "saleor" else fake.base,
            credentials=credentials,
        )


def first(platform: str, fake: FakeShop) -> samples.Delivery:
    if platform == "woocommerce":
        return samples.woocommerce_life()[0]
    if platform == "shopify":
        return samples.shopify_life()[0]
    return samples.saleor_life(fake.key)[0]


async def state(database: Database) -> tuple[str, int, str | None]:
    async with database.read() as session:
        row = (
            await session.execute(
                select(
                    ConnectionWriteBack.state,
                    ConnectionWriteBack.attempts,
                    ConnectionWriteBack.error,
                )
            )
        ).one()
    return row[0], row[1], row[2]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_the_page_link_is_written_back_in_the_platforms_shape(
    api: ShopClient, database: Database, settings: Settings, fake: FakeShop, platform: str
) -> None:
    await connect(database, fake, platform)
    delivery = first(platform, fake)
    response = await api.http.post(
        f"/connect/{platform}/acme", content=delivery.body, headers=delivery.headers
    )
    assert response.status_code == 200, response.text
    async with database.read() as session:
        order = (await session.scalars(select(Order))).one()
    page = f"https://status.example.test/orders/{order.status_token}"
    fake.fail_next = 1
    assert await writeback.write_due(database, settings) == 1
    assert (await state(database))[:2] == ("pending", 1)  # a 503: tried again later
    assert await writeback.write_due(database, settings) == 0  # not yet
    async with database.write() as session:
        await session.execute(
            update(ConnectionWriteBack).values(next_try_at=utcnow() - timedelta(seconds=1))
        )
    assert await writeback.write_due(database, settings) == 1
    assert (await state(database))[0] == "done"
    method, path, headers, body = fake.seen[-1]
    if platform == "woocommerce":
        assert (method, path) == ("PUT", f"/wp-json/wc/v3/orders/{order.platform_order_id}")
        assert headers["Authorization"] == "Basic " + base64.b64encode(b"ck_test:cs_test").decode()
        assert body == {"meta_data": [{"key": "_orderstatus_page_url", "value": page}]}
    elif platform == "shopify":
        assert (method, path) == (
            "POST",
            f"/admin/api/2025-01/orders/{order.platform_order_id}/metafields.json",
        )
        assert headers["X-Shopify-Access-Token"] == "token-shopify"
        assert body == {
            "metafield": {
                "namespace": "orderstatus",
                "key": "page_url",
                "type": "url",
                "value": page,
            }
        }
    else:
        assert (method, path) == ("POST", "/graphql/")
        assert headers["Authorization"] == "Bearer token-saleor"
        assert "updateMetadata(id: $id, input: $input)" in body["query"]
        assert body["variables"] == {
            "id": order.platform_order_id,
            "input": [{"key": "orderstatus_page_url", "value": page}],
        }
    # Once written, it is not written again.
    assert await writeback.write_due(database, settings) == 0


async def test_an_order_without_credentials_is_not_queued_and_a_refusal_is_final(
    api: ShopClient, database: Database, settings: Settings, fake: FakeShop
) -> None:
    async with database.write() as session:
        shop = await get_shop(session, "acme")
        await create_connection(session, shop=shop, platform="woocommerce", secret=samples.SECRET)
    delivery = samples.woocommerce_life()[0]
    await api.http.post(
        "/connect/woocommerce/acme", content=delivery.body, headers=delivery.headers
    )
    async with database.read() as session:
        assert not (await session.scalars(select(ConnectionWriteBack))).all()
    await connect(database, fake, "saleor")
    fake.saleor_errors = True
    saleor = samples.saleor_life(fake.key)[0]
    await api.http.post("/connect/saleor/acme", content=saleor.body, headers=saleor.headers)
    assert await writeback.write_due(database, settings) == 1
    found, _attempts, error = await state(database)
    assert found == "failed" and error is not None and "Not found" in error


async def test_deliveries_are_kept_thirty_days(
    api: ShopClient, database: Database, settings: Settings, fake: FakeShop
) -> None:
    await connect(database, fake, "woocommerce")
    for delivery in samples.woocommerce_life()[:2]:
        await api.http.post(
            "/connect/woocommerce/acme", content=delivery.body, headers=delivery.headers
        )
    async with database.write() as session:
        await session.execute(
            update(ConnectionDelivery)
            .where(ConnectionDelivery.topic == "order.created")
            .values(received_at=utcnow() - timedelta(days=31))
        )
    assert await writeback.prune_deliveries(database) == 1
    async with database.read() as session:
        topics = (await session.scalars(select(ConnectionDelivery.topic))).all()
    assert topics == ["order.updated"]


async def test_a_shop_on_a_private_address_is_not_written_to(
    api: ShopClient, database: Database, settings: Settings, fake: FakeShop
) -> None:
    await connect(database, fake, "woocommerce")
    delivery = first("woocommerce", fake)
    response = await api.http.post(
        "/connect/woocommerce/acme", content=delivery.body, headers=delivery.headers
    )
    assert response.status_code == 200, response.text
    strict = settings.model_copy(update={"webhooks_allow_private": False})
    assert await writeback.write_due(database, strict) == 1
    state_, _attempts, error = await state(database)
    assert state_ == "failed"
    assert error is not None and "private" in error
    assert fake.seen == []

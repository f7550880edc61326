"""The demo storefront: off unless the shop turns it on, and limited per client when on.

Anyone can reach it, and every order placed there sends the shop's confirmation to the
address or number typed in: a real shop must not be made to send those for strangers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from orderstatus.db.engine import Database
from orderstatus.db.models import Shop
from tests.conftest import ShopClient
from tests.integration.helpers import row_counts
from tests.integration.test_status_page import csrf_of

ORDER_FORM = {
    "qty_mug": "1",
    "email": "ola@example.com",
    "first_name": "Ola",
    "address1": "Kirkegata 5",
    "zip": "0153",
    "city": "Oslo",
    "country_code": "NO",
    "payment": "card",
}


async def turn_on(database: Database, handle: str = "acme") -> None:
    async with database.write() as session:
        await session.execute(
            update(Shop).where(Shop.handle == handle).values(storefront_enabled=True)
        )


def client_at(api: ShopClient, address: str) -> httpx.AsyncClient:
    """A browser on a machine of its own (the client address the server sees)."""
    app = api.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


@pytest.fixture
async def stranger(api: ShopClient) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(api, "198.51.100.7") as client:
        yield client


async def place_order(client: httpx.AsyncClient, handle: str = "acme") -> httpx.Response:
    token = client.cookies.get("os_csrf")
    if token is None:
        token = csrf_of((await client.get(f"/shop/{handle}/order-status")).text)
    return await client.post(f"/shop/{handle}/checkout", data={"csrf_token": token, **ORDER_FORM})


async def test_a_shop_has_no_storefront_unless_it_turns_it_on(
    api: ShopClient, stranger: httpx.AsyncClient, database: Database
) -> None:
    before = await row_counts(database)
    for path in ("/shop/acme/", "/shop/acme/checkout?qty_mug=1"):
        assert (await stranger.get(path)).status_code == 404, path
    placed = await place_order(stranger)
    assert placed.status_code == 404
    assert "os_owner" not in placed.headers.get("set-cookie", "")
    assert await row_counts(database) == before  # no order, no confirmation in the outbox
    # Customers of every shop can still look their order up.
    assert (await stranger.get("/shop/acme/order-status")).status_code == 200

    await turn_on(database)
    assert (await stranger.get("/shop/acme/")).status_code == 200
    assert (await place_order(stranger)).status_code == 303
    assert len((await api.http.get("/api/v1/orders")).json()["orders"]) == 1


async def test_checkouts_are_limited_per_client(
    api: ShopClient, stranger: httpx.AsyncClient, database: Database
) -> None:
    await turn_on(database)
    for _ in range(5):
        assert (await place_order(stranger)).status_code == 303
    before = await row_counts(database)
    refused = await place_order(stranger)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many orders" in refused.text
    assert await row_counts(database) == before
    async with client_at(api, "203.0.113.9") as neighbour:
        assert (await place_order(neighbour)).status_code == 303

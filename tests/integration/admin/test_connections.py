"""Admin "Connections": pick a platform, copy the URL and secret, see the deliveries
received with their result, send a test."""

from __future__ import annotations

import re

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import Notification, Order
from tests.conftest import ShopClient
from tests.connectors import samples
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import row_counts


def _value(page: str, field: str) -> str:
    match = re.search(rf'id="{field}" readonly data-select-all value="([^"]+)"', page)
    assert match, field
    return match.group(1)


async def test_connect_a_platform_copy_its_url_and_secret_and_see_deliveries(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    page = await staff.http.get("/admin/connections")
    assert page.status_code == 200 and "Nothing received yet." in page.text
    made = await staff.post("/admin/connections", {"platform": "woocommerce"})
    assert made.status_code == 303
    page = (await staff.http.get("/admin/connections")).text
    url = _value(page, "url-woocommerce")
    secret = _value(page, "secret-woocommerce")
    assert url == "https://status.example.test/connect/woocommerce/acme"
    # The platform, given the URL and the secret, is heard at once.
    placed = samples.woocommerce_life()[0]
    signed = samples.woocommerce(
        "order.created", samples.fixture("woocommerce_order"), "x1", secret
    )
    assert placed.body == signed.body
    response = await api.http.post(
        "/connect/woocommerce/acme", content=signed.body, headers=signed.headers
    )
    assert response.status_code == 200, response.text
    page = (await staff.http.get("/admin/connections")).text
    assert "order.created" in page and 'data-result="applied"' in page and "#727" in page
    # A test goes through the connector but leaves no order and sends nothing.
    before = await row_counts(database)
    tested = await staff.post("/admin/connections/woocommerce/test")
    assert tested.status_code == 200
    assert "The test delivery was signed, read and understood" in tested.text
    after = await row_counts(database)
    assert after["orders"] == before["orders"]
    assert after["notifications"] == before["notifications"]


async def test_saleor_needs_its_instance_and_a_bad_secret_is_refused(
    staff: Staff, database: Database
) -> None:
    before = await row_counts(database)
    refused = await staff.post("/admin/connections", {"platform": "saleor"})
    assert refused.status_code == 422 and 'id="e-shop_url"' in refused.text
    short = await staff.post("/admin/connections", {"platform": "shopify", "secret": "short"})
    assert short.status_code == 422 and 'id="e-secret"' in short.text
    assert await row_counts(database) == before
    made = await staff.post(
        "/admin/connections",
        {"platform": "saleor", "shop_url": "https://saleor.example/graphql/"},
    )
    assert made.status_code == 303
    tested = await staff.post("/admin/connections/saleor/test")
    assert "The test delivery was signed, read and understood" in tested.text
    removed = await staff.post("/admin/connections/saleor/remove")
    assert removed.status_code == 303
    assert "connection-saleor" not in (await staff.http.get("/admin/connections")).text


async def test_another_shops_connection_is_not_shown(
    staff: Staff, other_staff: Staff, database: Database
) -> None:
    await staff.post("/admin/connections", {"platform": "shopify"})
    page = await other_staff.http.get("/admin/connections")
    assert "/connect/shopify/acme" not in page.text
    assert (await other_staff.post("/admin/connections/shopify/test")).status_code == 404
    async with database.read() as session:
        assert not (await session.scalars(select(Order))).all()
        assert not (await session.scalars(select(Notification))).all()

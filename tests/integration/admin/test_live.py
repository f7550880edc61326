"""The admin's order page hears when its order changes."""

from __future__ import annotations

import httpx

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from tests.conftest import ShopClient
from tests.integration.admin.conftest import add_staff, sign_in
from tests.integration.helpers import create_order, fulfil
from tests.integration.live_server import serving
from tests.integration.test_live import open_stream


async def test_an_open_order_page_is_told_of_changes(
    api: ShopClient, other_api: ShopClient, settings: Settings, database: Database
) -> None:
    order = await create_order(api.http, locale="en")
    shipment = await fulfil(api.http, order, [(0, 1)])
    await add_staff(database, "acme", "live@acme.example")
    plain_http = settings.model_copy(update={"base_url": "http://127.0.0.1"})
    async with (
        serving(plain_http, database) as (base, _app),
        httpx.AsyncClient(base_url=base, timeout=10) as browser,
        httpx.AsyncClient(
            base_url=base, timeout=10, headers={"Authorization": f"Bearer {api.key}"}
        ) as integrator,
    ):
        assert (await sign_in(browser, "live@acme.example")).status_code == 303
        page = await browser.get(f"/admin/orders/{order['id']}")
        assert 'id="admin-live"' in page.text
        version = page.text.split('data-version="', 1)[1].split('"', 1)[0]
        stream, context = await open_stream(
            browser, f"/admin/orders/{order['id']}/events?v={version}"
        )
        await stream.next_event()  # retry advice
        await integrator.post(
            f"/api/v1/fulfillments/{shipment['id']}/events",
            json={"status": "delivered", "occurred_at": "2026-11-20T09:00:00Z"},
        )
        changed = await stream.next_event()
        assert changed["event"] == "changed" and int(changed["data"]) > int(version)
        await context.__aexit__(None, None, None)

        # Nobody else's order, and nobody signed out.
        foreign = await create_order(other_api.http)
        assert (await browser.get(f"/admin/orders/{foreign['id']}/events")).status_code == 404
        async with httpx.AsyncClient(base_url=base) as stranger:
            response = await stranger.get(f"/admin/orders/{order['id']}/events")
            assert response.status_code in (303, 401, 404)

"""Settings: API keys shown once and revoked; webhook secrets per tracking source."""

from __future__ import annotations

import re

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import ApiKey, Shop, WebhookSecret
from orderstatus.services.webhooks import set_webhook_secret
from tests.carriers import samples
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil, row_counts


async def test_an_api_key_is_shown_once_and_works_until_revoked(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    created = await staff.post("/admin/settings/api-keys", {"name": "Checkout"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    key = re.search(r'value="(os_[^"]+)" aria-label="New API key"', created.text)
    assert key
    page = await staff.http.get("/admin/settings")
    assert key.group(1) not in page.text and key.group(1)[:11] in page.text
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    made = await api.http.post("/api/v1/orders", json=order_payload(), headers=headers)
    assert made.status_code == 201
    async with database.read() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.name == "Checkout"))
    assert row is not None
    revoked = await staff.post(f"/admin/settings/api-keys/{row.id}/revoke")
    assert revoked.status_code == 303
    refused = await api.http.post("/api/v1/orders", json=order_payload(), headers=headers)
    assert refused.status_code == 401
    await staff.token()
    before = await row_counts(database)
    nameless = await staff.post("/admin/settings/api-keys", {"name": "  "})
    assert nameless.status_code == 422 and 'id="e-name"' in nameless.text
    assert await row_counts(database) == before


async def test_webhook_secrets_are_set_generated_and_shown_once(
    staff: Staff, database: Database
) -> None:
    page = await staff.http.get("/admin/settings")
    assert "https://status.example.test/webhooks/easypost/acme" in page.text
    assert "https://status.example.test/webhooks/shippo/acme?token=" in page.text
    async with database.write() as session:
        await set_webhook_secret(
            session, shop_id=staff.shop_id, source="shippo", secret="old-shippo-token-123456"
        )
    hook = {"content": samples.shippo("1ZNOTOURS1", samples.JOURNEY_HOME[:1])}
    old = {"token": "old-shippo-token-123456"}
    assert (await staff.http.post("/webhooks/shippo/acme", params=old, **hook)).status_code == 200
    generated = await staff.post("/admin/settings/webhooks/shippo", {"action": "generate"})
    assert generated.status_code == 200
    async with database.read() as session:
        row = await session.scalar(select(WebhookSecret).where(WebhookSecret.source == "shippo"))
    assert row is not None and len(row.secret) >= 32
    assert f"/webhooks/shippo/acme?token={row.secret}" in generated.text
    # The replaced secret stops working at once; the new one works.
    assert (await staff.http.post("/webhooks/shippo/acme", params=old, **hook)).status_code == 401
    new = {"token": row.secret}
    assert (await staff.http.post("/webhooks/shippo/acme", params=new, **hook)).status_code == 200
    later = await staff.http.get("/admin/settings")
    assert row.secret not in later.text and row.secret[-4:] in later.text
    given = await staff.post(
        "/admin/settings/webhooks/aftership", {"action": "save", "secret": "aftership-secret-123"}
    )
    assert given.status_code == 200
    await staff.token()
    before = await row_counts(database)
    for data in ({"action": "save", "secret": "short"}, {"action": "save", "secret": ""}):
        bad = await staff.post("/admin/settings/webhooks/easypost", data)
        assert bad.status_code == 422 and 'id="e-secret-easypost"' in bad.text
    assert await row_counts(database) == before
    assert (await staff.post("/admin/settings/webhooks/fedex", {})).status_code == 404


async def test_settings_changes_are_listed_with_who_made_them(staff: Staff) -> None:
    await staff.post("/admin/settings/api-keys", {"name": "Warehouse"})
    await staff.post("/admin/page/branding", {"name": "Renamed", "accent_color": "#1f6f5c"})
    page = await staff.http.get("/admin/settings")
    changes = page.text.split('id="changes"')[1]
    assert "Created API key" in changes and "Warehouse" in changes
    assert "Changed the status page&#39;s name" in changes
    assert "Signed in to the admin" in changes and "anna@acme.example" in changes


async def test_staff_turn_the_demo_storefront_on_and_off(staff: Staff, database: Database) -> None:
    page = await staff.http.get("/admin/settings")
    assert 'action="/admin/settings/storefront"' in page.text
    assert (await staff.http.get("/shop/acme/")).status_code == 404
    forged = await staff.http.post(
        "/admin/settings/storefront", data={"csrf_token": "forged", "enabled": "1"}
    )
    assert forged.status_code == 400
    assert (await staff.http.get("/shop/acme/")).status_code == 404
    on = await staff.post("/admin/settings/storefront", {"enabled": "1"})
    assert on.status_code == 303
    assert (await staff.http.get("/shop/acme/")).status_code == 200
    settings = await staff.http.get("/admin/settings")
    assert "Turned the demo storefront on" in settings.text
    assert "https://status.example.test/shop/acme/" in settings.text
    off = await staff.post("/admin/settings/storefront", {})
    assert off.status_code == 303
    assert (await staff.http.get("/shop/acme/")).status_code == 404
    assert "Turned the demo storefront off" in (await staff.http.get("/admin/settings")).text


async def test_the_shops_time_zone_is_chosen_and_shows_on_its_pages(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    posted = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "in_transit", "occurred_at": "2026-06-10T05:30:00Z"},
    )
    assert posted.status_code == 201, posted.text
    status_page = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]

    page = await staff.http.get("/admin/settings")
    assert '<option value="UTC" selected>UTC</option>' in page.text
    await staff.token()
    before = await row_counts(database)
    for bad in ("Mars/Olympus", "", "../../etc/passwd", "localtime", "É" * 10_000):
        refused = await staff.post("/admin/settings/timezone", {"timezone": bad})
        assert refused.status_code == 422
        assert "Choose a time zone from the list." in refused.text
    # A NUL is refused for every request, before any form is read.
    assert (
        await staff.post("/admin/settings/timezone", {"timezone": "UTC\x00"})
    ).status_code == 400
    assert await row_counts(database) == before

    # UTC+14: 05:30 UTC is 19:30 there, on the customer's page as in the admin.
    saved = await staff.post("/admin/settings/timezone", {"timezone": "Pacific/Kiritimati"})
    assert saved.status_code == 303
    page = await staff.http.get(saved.headers["location"])
    assert "Time zone saved." in page.text
    assert '<option value="Pacific/Kiritimati" selected>' in page.text
    assert "Time zone set to Pacific/Kiritimati" in page.text.split('id="changes"')[1]
    async with database.read() as session:
        shop = await session.get(Shop, api.shop_id)
    assert shop is not None and shop.timezone == "Pacific/Kiritimati"
    shown = (await api.http.get(status_page)).text
    # (The page was not asked for before: a page's key is kept for up to 2 s.)
    assert "10. juni, 19:30" in shown and "10. juni, 05:30" not in shown

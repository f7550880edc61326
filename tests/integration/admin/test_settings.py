"""Settings: API keys shown once and revoked; webhook secrets per tracking source."""

from __future__ import annotations

import re

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import ApiKey, WebhookSecret
from orderstatus.services.webhooks import set_webhook_secret
from tests.carriers import samples
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import row_counts


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

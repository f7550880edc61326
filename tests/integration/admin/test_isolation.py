"""Staff see only their own shop: every id of another shop is a 404 that changes nothing,
and "View order status page" is a staff preview only for the order's own shop."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import ApiKey, Notification, PageMessage
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff, browser_for
from tests.integration.helpers import create_order, fulfil, row_counts


def token_path(order: dict[str, object]) -> str:
    return "/orders/" + str(order["status_page_url"]).rsplit("/", 1)[1]


async def test_staff_of_one_shop_get_404_for_everything_of_another(
    api: ShopClient,
    other_api: ShopClient,
    staff: Staff,
    database: Database,
) -> None:
    mine = await create_order(api.http)
    theirs = await create_order(other_api.http, email="b@example.com")
    shipment = await fulfil(
        other_api.http, theirs, [(0, 1)], carrier="ups", tracking_number="1Z999AA10123456784"
    )
    async with database.write() as session:
        note = PageMessage(shop_id=other_api.shop_id, body_markdown="Theirs")
        session.add(note)
        await session.flush()
        note_id = note.id
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.shop_id == other_api.shop_id))
        notification_id = await session.scalar(
            select(Notification.id).where(Notification.shop_id == other_api.shop_id)
        )
        held = await session.get_one(Notification, notification_id)
        held.state = "held"
    o, f, n = theirs["id"], shipment["id"], notification_id
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
    gets = [
        f"/admin/orders/{o}",
        f"/admin/orders/{o}/fulfil",
        f"/admin/orders/{o}/fulfillments/{f}",
        f"/admin/orders/{mine['id']}/fulfillments/{f}",
        f"/admin/page/messages/{note_id}",
        f"/admin/notifications/mailbox/{n}",
    ]
    posts = {
        f"/admin/orders/{o}/fulfil": {"tracking_number": "1Z999AA10123456784"},
        f"/admin/orders/{o}/fulfillments/{f}/tracking": {"tracking_number": "NEW123456"},
        f"/admin/orders/{o}/fulfillments/{f}/events": {"status": "delivered", "occurred_at": now},
        f"/admin/orders/{o}/fulfillments/{f}/cancel": {},
        f"/admin/orders/{mine['id']}/fulfillments/{f}/cancel": {},
        f"/admin/orders/{mine['id']}/fulfillments/{f}/events": {
            "status": "delivered",
            "occurred_at": now,
        },
        f"/admin/orders/{o}/note": {"note": "Hello"},
        f"/admin/orders/{o}/notifications/{n}/resend": {},
        f"/admin/orders/{mine['id']}/notifications/{n}/resend": {},
        f"/admin/page/messages/{note_id}": {"body": "Mine now"},
        f"/admin/page/messages/{note_id}/delete": {},
        f"/admin/settings/api-keys/{key_id}/revoke": {},
    }
    token = await staff.token()
    before = await row_counts(database)
    for path in gets:
        response = await staff.http.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text
    for path, data in posts.items():
        response = await staff.http.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
    # Not even without a token does a foreign id answer anything but 404.
    for path in posts:
        assert (await staff.http.post(path, data={})).status_code == 404, path
    assert await row_counts(database) == before
    async with database.read() as session:
        assert (await session.get_one(ApiKey, key_id)).revoked_at is None
        assert (await session.get_one(PageMessage, note_id)).body_markdown == "Theirs"
        assert (await session.get_one(Notification, n)).state == "held"
    listing = await staff.http.get("/admin/orders", params={"q": "b@example.com"})
    assert "No orders match." in listing.text
    assert "/admin/orders/" + str(o) not in (await staff.http.get("/admin/orders")).text


async def test_view_order_status_page_is_a_staff_preview(
    api: ShopClient, staff: Staff, other_staff: Staff
) -> None:
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999AA10123456784")
    path = token_path(order)
    async with browser_for(api) as customer:
        public = await customer.get(path)
        assert "Storgata" not in public.text and "Staff preview" not in public.text

        preview = await staff.http.get(f"{path}?preview=1")
        assert preview.status_code == 200
        assert "Staff preview" in preview.text
        assert "Storgata 1" in preview.text and "1Z999AA10123456784" in preview.text
        assert preview.headers["cache-control"] == "no-store"
        cookies = " ".join(preview.headers.get_list("set-cookie"))
        assert "os_owner" not in cookies and "os_thanks" not in cookies
        assert "Create share link" not in preview.text
        assert 'id="live"' not in preview.text

        # The preview is not what the next customer gets, from the cache or otherwise.
        again = await customer.get(path)
        assert "Storgata" not in again.text and "Staff preview" not in again.text
        assert "Staff preview" not in (await customer.get(f"{path}?preview=1")).text

    # Without ?preview=1 staff see the page as anyone with the link does.
    plain = await staff.http.get(path)
    assert "Staff preview" not in plain.text and "Storgata" not in plain.text
    # Staff of another shop get no preview of this shop's order.
    foreign = await other_staff.http.get(f"{path}?preview=1")
    assert "Staff preview" not in foreign.text and "Storgata" not in foreign.text

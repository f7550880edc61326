"""Customising the status page: branding, the logo, notes (which never run script)."""

from __future__ import annotations

import struct
import zlib
from html.parser import HTMLParser

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import PageMessage, Shop
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff, browser_for
from tests.integration.admin.test_isolation import token_path
from tests.integration.helpers import create_order, fulfil, row_counts

SCRIPTS = (
    '<script>alert("x")</script> and <img src=x onerror=alert(1)> '
    '[click](javascript:alert(1)) <a href="#" onclick="alert(1)">a</a>'
)


class _Active(HTMLParser):
    """Everything in a page that could run script: inline scripts, event handler
    attributes, javascript: links."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert" in data:
            self.found.append("<script>" + data)


def active_content(html: str) -> list[str]:
    parser = _Active()
    parser.feed(html)
    return parser.found


def png(size: int = 0) -> bytes:
    """A real 1-by-1 PNG, padded with a comment chunk to ``size`` bytes when asked."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    pad = b""
    if size:
        pad = chunk(b"tEXt", b"c\x00" + b"x" * max(0, size - len(head) - len(body) - 26))
    return head + pad + body + chunk(b"IEND", b"")


async def shop_row(database: Database, shop_id: int) -> Shop:
    async with database.read() as session:
        return await session.get_one(Shop, shop_id)


async def test_branding_shows_on_the_status_page(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    version = (await shop_row(database, api.shop_id)).version
    response = await staff.post(
        "/admin/page/branding",
        {
            "name": "Fjell <b>& Fjord</b>",
            "accent_color": "#1A4D8F",
            "contact_email": "Help@Fjell.example",
            "website_url": "https://fjell.example",
        },
    )
    assert response.status_code == 303
    shop = await shop_row(database, api.shop_id)
    assert (shop.name, shop.accent_color, shop.contact_email) == (
        "Fjell <b>& Fjord</b>",
        "#1a4d8f",
        "help@fjell.example",
    )
    assert shop.version > version
    async with browser_for(api) as customer:
        page = await customer.get(token_path(order))
    assert "Fjell &lt;b&gt;&amp; Fjord&lt;/b&gt;" in page.text
    assert "--accent: #1a4d8f" in page.text and "help@fjell.example" in page.text


async def test_bad_branding_is_refused_field_by_field(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    await staff.token()
    before = await row_counts(database)
    version = (await shop_row(database, api.shop_id)).version
    cases = {
        "name": {"name": "", "accent_color": "#1f6f5c"},
        "accent_color": {"name": "A", "accent_color": "green"},
        "contact_email": {"name": "A", "accent_color": "#1f6f5c", "contact_email": "nope"},
        "website_url": {"name": "A", "accent_color": "#1f6f5c", "website_url": "javascript:x"},
    }
    for field, data in cases.items():
        response = await staff.post("/admin/page/branding", data)
        assert response.status_code == 422, field
        assert f'id="e-{field}"' in response.text, field
    light = await staff.post("/admin/page/branding", {"name": "A", "accent_color": "#ffee88"})
    assert light.status_code == 422 and "too light" in light.text
    assert await row_counts(database) == before
    assert (await shop_row(database, api.shop_id)).version == version


async def test_a_logo_is_checked_stored_and_served(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    token = await staff.token("/admin/page")

    async def upload(name: str, data: bytes, kind: str) -> object:
        return await staff.http.post(
            "/admin/page/logo",
            data={"csrf_token": token},
            files={"logo": (name, data, kind)},
        )

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = {
        "svg": await upload("logo.svg", svg, "image/svg+xml"),
        "renamed svg": await upload("logo.png", svg, "image/png"),
        "text": await upload("logo.png", b"hello", "image/png"),
        "too big": await upload("big.png", png(1024 * 1024 + 10), "image/png"),
        "empty": await upload("none.png", b"", "image/png"),
    }
    for case, response in refused.items():
        assert response.status_code == 422, case  # type: ignore[attr-defined]
        assert 'id="e-logo"' in response.text, case  # type: ignore[attr-defined]
    assert (await shop_row(database, api.shop_id)).logo_path is None
    huge = await upload("huge.png", png(9 * 1024 * 1024), "image/png")
    assert huge.status_code == 413  # type: ignore[attr-defined]

    fine = await upload("logo.png", png(), "image/png")
    assert fine.status_code == 303  # type: ignore[attr-defined]
    shop = await shop_row(database, api.shop_id)
    assert shop.logo_path is not None and shop.logo_path.endswith(".png")
    served = await staff.http.get(f"/media/{shop.logo_path}")
    assert served.status_code == 200 and served.content == png()
    assert served.headers["content-type"] == "image/png"
    assert "immutable" in served.headers["cache-control"]
    assert (await staff.http.get("/media/../secret_key")).status_code == 404
    assert (await staff.http.get("/media/secret_key")).status_code == 404
    async with browser_for(api) as customer:
        page = await customer.get(token_path(order))
    assert f'src="https://status.example.test/media/{shop.logo_path}"' in page.text
    removed = await staff.post("/admin/page/logo/remove")
    assert removed.status_code == 303
    assert (await shop_row(database, api.shop_id)).logo_path is None


async def test_notes_show_in_their_statuses_and_never_run_script(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    waiting = await create_order(api.http)
    shipped = await create_order(api.http)
    await fulfil(
        api.http,
        shipped,
        [(0, 1), (1, 1), (2, 1)],
        carrier="ups",
        tracking_number="1Z999AA10123456784",
    )
    added = await staff.post(
        "/admin/page/messages",
        {
            "body": "Holiday: we ship again on **Monday**.",
            "placement": "top",
            "statuses": ["confirmed"],
        },
    )
    assert added.status_code == 303
    hostile = await staff.post("/admin/page/messages", {"body": SCRIPTS, "placement": "bottom"})
    assert hostile.status_code == 303
    order_note = await staff.post(f"/admin/orders/{shipped['id']}/note", {"note": SCRIPTS})
    assert order_note.status_code == 303
    async with browser_for(api) as customer:
        first = (await customer.get(token_path(waiting))).text
        second = (await customer.get(token_path(shipped))).text
    assert "<strong>Monday</strong>" in first and "Monday" not in second
    for page in (first, second):
        assert active_content(page) == []
        assert "&lt;script&gt;" in page
    assert active_content((await staff.http.get("/admin/page")).text) == []
    assert active_content((await staff.http.get(f"/admin/orders/{shipped['id']}")).text) == []


async def test_edit_and_remove_a_note(api: ShopClient, staff: Staff, database: Database) -> None:
    await staff.post("/admin/page/messages", {"body": "First"})
    async with database.read() as session:
        note = await session.scalar(select(PageMessage))
    assert note is not None
    page = await staff.http.get(f"/admin/page/messages/{note.id}")
    assert page.status_code == 200 and "First" in page.text
    await staff.token()
    before = await row_counts(database)
    bad = await staff.post(f"/admin/page/messages/{note.id}", {"body": "", "active": "1"})
    assert bad.status_code == 422 and 'id="e-body"' in bad.text
    wrong = await staff.post(
        f"/admin/page/messages/{note.id}", {"body": "x", "statuses": ["teleported"]}
    )
    assert wrong.status_code == 422 and 'id="e-statuses"' in wrong.text
    assert await row_counts(database) == before
    changed = await staff.post(
        f"/admin/page/messages/{note.id}",
        {
            "body": "Second",
            "placement": "bottom",
            "statuses": ["in_transit", "delivered"],
            "locale": "nb",
        },
    )
    assert changed.status_code == 303
    async with database.read() as session:
        row = await session.get_one(PageMessage, note.id)
    assert (row.body_markdown, row.placement, row.locale, row.active) == (
        "Second",
        "bottom",
        "nb",
        False,
    )
    assert row.statuses == [
        "in_transit",
        "carrier_picked_up",
        "label_purchased",
        "label_printed",
        "delivered",
        "picked_up",
    ]
    assert (await staff.post(f"/admin/page/messages/{note.id}/delete")).status_code == 303
    async with database.read() as session:
        assert await session.get(PageMessage, note.id) is None


async def test_the_preview_follows_drafts_and_may_be_framed_by_the_admin_only(
    staff: Staff,
) -> None:
    response = await staff.http.get(
        "/admin/page/preview",
        params={
            "status": "delivered",
            "name": "Draft Name",
            "accent_color": "#123456",
            "note": "Draft *note*",
        },
    )
    assert response.status_code == 200
    assert "Draft Name" in response.text and "--accent: #123456" in response.text
    assert "<em>note</em>" in response.text and "Staff preview" in response.text
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    page = await staff.http.get("/admin/page")
    assert page.headers["x-frame-options"] == "DENY"

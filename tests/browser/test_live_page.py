"""A page left open follows the shipment by itself, for the owner and the public alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_map import api_key, demo_urls


def test_an_open_page_updates_within_a_second_without_reloading(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    order = httpx.get(f"{base}/api/v1/orders", params={"number": "1003"}, headers=auth).json()
    order = order["orders"][0]
    shipment = order["fulfillments"][0]
    url = demo_urls(output)["#1003"] + "?lang=en"

    owner_context = chromium.new_context()
    owner_context.add_cookies(
        [
            {
                "name": "os_owner",
                "value": _owner_cookie(base, order["id"]),
                "url": url.split("?")[0],
            }
        ]
    )
    owner = owner_context.new_page()
    owner.goto(url)
    expect(owner.locator("#headline")).to_have_text("Out for delivery")
    owner.evaluate("window.__sameDocument = true")

    public_context = chromium.new_context()
    public = public_context.new_page()
    streamed: list[str] = []
    public.on("response", lambda r: streamed.append(r.url) if "/events" in r.url else None)
    public.goto(url)
    expect(public.locator("#headline")).to_have_text("Out for delivery")
    public.wait_for_timeout(300)  # the stream is open

    posted = httpx.post(
        f"{base}/api/v1/fulfillments/{shipment['id']}/events",
        headers=auth,
        json={
            "status": "delivered",
            "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),  # newer than the demo's
            "message": "Handed to the recipient",
            "location": {"city": "ÅLESUND", "country_code": "NO"},
        },
    )
    assert posted.status_code == 201

    delivered = re.compile(r"^Delivered \w+ \d+ \w+$")
    expect(owner.locator("#headline")).to_have_text(delivered, timeout=1000)
    card = owner.locator(f'section[data-shipment="{shipment["id"]}"]')
    expect(card.locator(".timeline .event").first).to_contain_text(
        "Handed to the recipient", timeout=1000
    )
    expect(card.locator('[aria-current="step"]')).to_contain_text("Delivered", timeout=1000)
    # Delivered: the parcel no longer moves, so its map (the one already drawn) is folded
    # away behind "Show map", and shows the last place when opened.
    card.get_by_text("Show map").click()
    expect(owner.locator(f"#map-{shipment['id']} .leaflet-tooltip")).to_contain_text(
        "Ålesund", timeout=1000
    )
    expect(owner.locator("#live-announcer")).to_have_text(owner.locator("#headline").inner_text())
    assert owner.evaluate("window.__sameDocument") is True  # no reload happened

    expect(public.locator("#headline")).to_contain_text("Delivered", timeout=1000)
    public_card = public.locator(f'section[data-shipment="{shipment["id"]}"]')
    expect(public_card.locator(".timeline .event").first).to_contain_text("Ålesund")
    assert "Handed to the recipient" not in public.content()
    owner.screenshot(path=str(screenshots / "live-owner-1280.png"), full_page=False)
    assert any(re.search(r"/orders/[^/]+/events", u) for u in streamed)
    owner_context.close()
    public_context.close()


def _owner_cookie(base: str, order_id: int) -> str:
    """The owner cookie, made with the demo's key the way the server makes it."""
    from itsdangerous import URLSafeTimedSerializer

    folder = Path(_demo_folder(base))
    secret = (folder / "var" / "secret_key").read_text().strip()
    return URLSafeTimedSerializer(secret, salt="order-owner").dumps(order_id)


def _demo_folder(base: str) -> str:
    from tests.browser import conftest

    return str(conftest.DEMO_FOLDERS[base])


def test_a_shared_page_open_when_the_link_is_revoked_says_so_at_once(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    from tests.factories import order_payload

    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    created = httpx.post(f"{base}/api/v1/orders", headers=auth, json=order_payload(locale="en"))
    assert created.status_code == 201, created.text
    order = created.json()
    url = f"{base}/orders/" + order["status_page_url"].rsplit("/", 1)[1]

    owner_context = chromium.new_context()
    path = url.removeprefix(base)
    owner_context.add_cookies(  # as the server sets it at checkout: for this page only
        [
            {
                "name": "os_owner",
                "value": _owner_cookie(base, order["id"]),
                "domain": "127.0.0.1",
                "path": path,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    owner = owner_context.new_page()
    owner.goto(url + "?lang=en")
    owner.get_by_role("button", name="Create share link").click()
    shared_url = owner.locator("#share-link").get_attribute("href") or ""
    assert "/shared/" in shared_url

    friend_context = chromium.new_context()
    friend = friend_context.new_page()
    friend.goto(base + shared_url[shared_url.index("/shared/") :] + "?lang=en")
    expect(friend.get_by_role("heading", name="Order #" + order["number"])).to_be_visible()
    friend.wait_for_timeout(300)  # the stream is open

    owner.get_by_role("button", name="Stop sharing").click()
    expect(friend.get_by_role("heading", name="Page not found")).to_be_visible(timeout=2000)
    friend.screenshot(path=str(screenshots / "shared-revoked.png"), full_page=False)

    # On a shared computer the owner signs out and the page is the public one again.
    owner.get_by_role("heading", name="On a shared device?").scroll_into_view_if_needed()
    owner.screenshot(path=str(screenshots / "owner-sign-out-1280.png"), full_page=False)
    owner.get_by_role("button", name="Sign out").click()
    expect(owner.get_by_role("heading", name="See all order details")).to_be_visible()
    assert "Storgata 1" not in owner.content()
    owner_context.close()
    friend_context.close()

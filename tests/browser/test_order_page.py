"""The status page as a customer meets it: short on a phone, every item once, a map for
what moves, a live page that ends up exactly as a reload would show it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_admin import staff_login
from tests.browser.test_live_page import _owner_cookie
from tests.browser.test_map import api_key, demo_urls

PHONE = {"width": 375, "height": 800}
TALLEST_PHONE_PAGE = 3200
"""Three shipments with their maps, the owner's share and notification cards and details."""

# The page's order content, comparable between two loads: a map Leaflet drew is reduced to
# its slot (the drawing depends on timing), the rest is compared as it is.
NORMALISED_CONTENT = """() => {
  const copy = document.getElementById("page-parts").cloneNode(true);
  copy.querySelectorAll("[data-map]").forEach((slot) => {
    const bare = document.createElement("div");
    for (const a of slot.attributes) {
      if (a.name === "id" || a.name.startsWith("data-")) { bare.setAttribute(a.name, a.value); }
    }
    slot.replaceWith(bare);
  });
  return copy.outerHTML;
}"""


def _order(base: str, output: str, number: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    found = httpx.get(f"{base}/api/v1/orders", params={"number": number}, headers=auth)
    order: dict[str, Any] = found.json()["orders"][0]
    return order


def _owner_context(chromium: Any, base: str, url: str, order_id: int, **options: Any) -> Any:
    context = chromium.new_context(locale="en-GB", **options)
    context.add_cookies(
        [{"name": "os_owner", "value": _owner_cookie(base, order_id), "url": url.split("?")[0]}]
    )
    return context


def _add_delivered_only_note(chromium: Any, base: str, output: str) -> None:
    email, password = staff_login(output)
    context = chromium.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Status page").click()
    page.get_by_label("Note", exact=True).fill("Delivered only: tell us how it went.")
    page.locator("#f-status-delivered").check()
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").filter(has_text="Note saved.")).to_be_visible()
    context.close()


def test_after_each_live_event_the_page_is_what_a_reload_shows(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    _add_delivered_only_note(chromium, base, output)
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    # Two orders on their way, with a map: one for its owner, one for anyone with the link.
    for viewer, number in (("owner", "1002"), ("public", "1009")):
        order = _order(base, output, number)
        shipment = order["fulfillments"][0]
        url = demo_urls(output)[f"#{number}"] + "?lang=en"
        context = (
            _owner_context(chromium, base, url, order["id"])
            if viewer == "owner"
            else chromium.new_context(locale="en-GB")
        )
        page = context.new_page()
        page.goto(url)
        page.evaluate("window.__sameDocument = true")
        page.wait_for_timeout(300)  # the stream is open
        assert page.get_by_text("Delivered only").count() == 0
        start = datetime.now(UTC) + timedelta(minutes=1)
        events = [
            ("in_transit", "Tromsø", 0),
            ("out_for_delivery", "Bergen", 1),
            ("delivered", "Bergen", 2),
        ]
        for status, city, minutes in events:
            version = page.locator("#live").get_attribute("data-version")
            posted = httpx.post(
                f"{base}/api/v1/fulfillments/{shipment['id']}/events",
                headers=auth,
                json={
                    "status": status,
                    "occurred_at": (start + timedelta(minutes=minutes)).isoformat(),
                    "message": f"{status} ({viewer})",
                    "location": {"city": city, "country_code": "NO"},
                },
            )
            assert posted.status_code == 201, posted.text
            expect(page.locator("#live")).not_to_have_attribute(
                "data-version", version or "", timeout=2000
            )
            page.wait_for_timeout(200)  # maps redrawn
            fresh = context.new_page()
            fresh.goto(url)
            fresh.wait_for_load_state("load")
            assert page.evaluate(NORMALISED_CONTENT) == fresh.evaluate(NORMALISED_CONTENT), (
                f"{viewer} after {status}"
            )
            fresh.close()
        # The note staff keep for delivered orders came with the delivery, without a reload.
        expect(page.get_by_text("Delivered only: tell us how it went.")).to_be_visible()
        headline = page.locator("#headline").inner_text()
        assert re.fullmatch(r"Delivered \w+ \d+ \w+", headline), headline
        expect(page.locator("#live-announcer")).to_have_text(headline)
        assert page.evaluate("window.__sameDocument") is True
        page.screenshot(path=str(screenshots / f"live-delivered-{viewer}-1280.png"), full_page=True)
        context.close()


def test_three_shipments_fit_a_phone_with_every_item_once(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    order = _order(base, output, "1006")
    url = demo_urls(output)["#1006"] + "?lang=en"
    titles = ("Stoneware mug", "Wool scarf", "Knitted blanket")
    for viewer in ("owner", "public"):
        context = (
            _owner_context(chromium, base, url, order["id"], viewport=PHONE)
            if viewer == "owner"
            else chromium.new_context(locale="en-GB", viewport=PHONE)
        )
        page = context.new_page()
        page.goto(url)
        page.wait_for_load_state("load")
        page.screenshot(path=str(screenshots / f"three-{viewer}-375.png"), full_page=True)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= TALLEST_PHONE_PAGE, f"{viewer}: {height}px at 375px"
        text = page.locator("main").inner_text()
        assert [t for t in titles if text.count(t) != 1] == [], viewer
        # Two shipments move (out for delivery, on its way): their maps are open. The
        # delivered one's map is there on request.
        open_maps = page.locator(".map-slot:visible")
        expect(open_maps).to_have_count(2)
        show = page.get_by_text("Show map")
        expect(show).to_have_count(1)
        show.click()
        expect(page.locator(".map-slot:visible")).to_have_count(3)
        expect(page.locator(".map-more .leaflet-tooltip")).to_contain_text("Bergen")
        context.close()


def test_the_order_summary_folds_on_a_phone_without_javascript(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    order = _order(base, output, "1006")
    url = demo_urls(output)["#1006"] + "?lang=en"
    context = _owner_context(
        chromium, base, url, order["id"], viewport=PHONE, java_script_enabled=False
    )
    page = context.new_page()
    page.goto(url)
    fold = page.locator("#summary-fold")
    summary = fold.locator("summary")
    expect(summary).to_have_text(re.compile(r"Order summary\s+NOK\s?2,237\.00"))
    total = fold.locator(".total")
    expect(total).to_be_hidden()
    # It sits at the top, above the shipments.
    assert summary.bounding_box()["y"] < page.locator(".shipment").first.bounding_box()["y"]
    summary.click()
    expect(total).to_be_visible()
    expect(total).to_contain_text("2,237.00")
    expect(page.locator(".side-col")).to_be_hidden()
    page.screenshot(path=str(screenshots / "summary-open-nojs-375.png"), full_page=False)
    # Wide screens show the summary beside the shipments instead.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(fold).to_be_hidden()
    expect(page.locator(".side-col .total")).to_contain_text("2,237.00")
    context.close()


def test_the_share_link_is_a_link_with_copy_and_share_buttons(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    order = _order(base, output, "1003")
    url = demo_urls(output)["#1003"] + "?lang=en"
    context = _owner_context(chromium, base, url, order["id"], viewport=PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Create share link").click()
    link = page.locator("#share-link")
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    box = link.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375, "the link is cut off"
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text="Link copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == href
    page.get_by_role("heading", name="Share tracking").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "share-375.png"), full_page=False)
    context.close()

    nojs = _owner_context(
        chromium, base, url, order["id"], viewport=PHONE, java_script_enabled=False
    )
    plain = nojs.new_page()
    plain.goto(url)
    expect(plain.locator("#share-link")).to_have_attribute("href", href)
    expect(plain.get_by_role("button", name="Copy link")).to_be_hidden()
    nojs.close()


def test_the_first_visit_asks_for_nothing_that_is_missing(
    chromium: Any, demo_server: tuple[str, str]
) -> None:
    """No 404 on a first load (the icon included), and a short page keeps its footer down."""
    base, output = demo_server
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{base}/shop/demo/order-status")
    page.wait_for_load_state("networkidle")
    icon = httpx.get(f"{base}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert page.locator("link[rel=icon]").count() == 1
    footer = page.locator(".site-footer").bounding_box()
    assert footer is not None and footer["y"] + footer["height"] >= 899
    header = page.locator(".shop-header").bounding_box()
    card = page.locator("main .card").first.bounding_box()
    assert header is not None and card is not None
    assert card["y"] >= header["y"] + header["height"] + 12, "the card touches the header"
    page.goto(demo_urls(output)["#1007"] + "?lang=en")
    expect(page.locator(".facts")).to_contain_text("Local delivery")
    assert "does not report live updates" not in page.content()
    assert failed == []
    context.close()

"""A merchant's day in the admin, in a real browser: sign in, find an order, ship it in
two parcels (one carrier detected, one of our own with a link), mark it delivered by
hand, and look at the customer's page as staff. Screenshots of every admin page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_customer_journey import serious_violations
from tests.browser.test_map import api_key

UPS = "1Z999AA10123456784"


def staff_login(output: str) -> tuple[str, str]:
    match = re.search(r"Staff login: (\S+) / (\S+)", output)
    assert match, output
    return match.group(1), match.group(2)


def shot(page: Any, folder: Path, name: str, width: int = 1280) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(folder / f"admin-{name}-{width}.png"), full_page=True)
    no_sideways_scroll = page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert no_sideways_scroll, f"{name} scrolls sideways at {width}px"


def accessible(page: Any) -> None:
    assert serious_violations(page) == [], page.url


def place_order(base: str, output: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/orders",
        headers={"Authorization": f"Bearer {api_key(output)}"},
        json={
            "email": "solveig.haugland@example.com",
            "currency": "NOK",
            "locale": "en",
            "customer": {"first_name": "Solveig", "last_name": "Haugland"},
            "shipping_address": {
                "name": "Solveig Haugland",
                "address1": "Fjordveien 8",
                "city": "Stavanger",
                "zip": "4006",
                "country_code": "NO",
            },
            "payment": {"method": "card", "brand": "Visa", "last4": "4242"},
            "line_items": [
                {"title": "Stoneware mug", "quantity": 1, "price": "249.00"},
                {"title": "Wool scarf", "quantity": 1, "price": "599.00"},
                {"title": "Knitted blanket", "quantity": 1, "price": "1290.00"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_sign_in_search_fulfil_twice_deliver_and_preview(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    order = place_order(base, output)
    email, password = staff_login(output)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Signing in: the admin sends a stranger to the form, then back.
    page.goto(f"{base}/admin/orders")
    expect(page.get_by_role("heading", name="Sign in to the admin")).to_be_visible()
    accessible(page)
    shot(page, screenshots, "sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match an account")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    accessible(page)
    shot(page, screenshots, "orders")
    shot(page, screenshots, "orders", width=375)

    # Find the new order from the keyboard: "/" jumps to the search box.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.keyboard.press("/")
    expect(page.get_by_label("Search orders")).to_be_focused()
    page.keyboard.type("haugland")
    page.keyboard.press("Enter")
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Solveig Haugland")
    expect(rows.first).to_contain_text("Unfulfilled")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Order #{order['number']}")).to_be_visible()

    # Ship two of the three items with UPS, detected from the tracking number.
    page.get_by_role("link", name="Fulfil items").click()
    page.get_by_label("Quantity of Knitted blanket to ship").fill("0")
    page.get_by_label("Tracking number").fill(UPS)
    expect(page.locator("[data-detected]")).to_have_text("Detected: UPS")
    expect(page.get_by_label("Carrier")).to_have_value("ups")
    accessible(page)
    shot(page, screenshots, "fulfil")
    page.get_by_role("button", name="Fulfil items").click()
    expect(page.get_by_role("status").filter(has_text="Items fulfilled.")).to_be_visible()
    expect(page.locator(".title-row .badges")).to_contain_text("Partially fulfilled")
    first = page.locator("section.shipment").first
    expect(first).to_contain_text("UPS")
    expect(first).to_contain_text(UPS)

    # The last item goes with our own courier: not a carrier we know, so a link.
    page.get_by_role("link", name="Fulfil items").click()
    page.get_by_label("Carrier").select_option("other")
    page.get_by_role("button", name="Fulfil items").click()
    expect(page.locator("#e-tracking_url")).to_be_visible()
    page.get_by_label("Tracking link").fill("https://bud.example/track/HB-2231")
    page.get_by_role("button", name="Fulfil items").click()
    expect(page.locator(".title-row .badges")).to_contain_text("Fulfilled")
    courier = page.locator("section.shipment").nth(1)
    expect(courier).to_contain_text("(no live tracking)")

    # The courier says it is delivered: staff post it by hand.
    courier.get_by_role("link", name="Edit tracking or add an event").click()
    expect(page.get_by_label("What happened")).to_have_value("delivered")
    page.get_by_label("Message for the customer").fill("Left with the neighbour at no. 3")
    accessible(page)
    shot(page, screenshots, "shipment")
    page.get_by_role("button", name="Add event").click()
    expect(page.get_by_role("status").filter(has_text="Event added.")).to_be_visible()
    expect(page.locator("section.shipment").nth(1).locator(".badge")).to_have_text("Delivered")
    expect(page.locator("#timeline-card")).to_contain_text(email)
    accessible(page)
    shot(page, screenshots, "order")
    shot(page, screenshots, "order", width=375)

    # More actions → View order status page: the customer's page, as staff, in a new tab.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_text("More actions").click()
    with context.expect_page() as opened:
        page.get_by_role("link", name="View order status page").click()
    preview = opened.value
    preview.wait_for_load_state()
    assert preview.url.endswith("?preview=1")
    expect(preview.get_by_role("note")).to_contain_text("Staff preview")
    expect(preview.locator("#headline")).to_have_text("1 of 2 shipments delivered")
    parcels = preview.locator("section.shipment")
    expect(parcels).to_have_count(2)
    expect(parcels.nth(0)).to_contain_text("UPS")
    expect(parcels.nth(0).locator("h2 .badge")).to_have_text("On its way")
    expect(parcels.nth(1).locator("h2 .badge")).to_have_text("Delivered")
    expect(parcels.nth(1)).to_contain_text("Left with the neighbour at no. 3")
    expect(preview.get_by_text("Fjordveien 8")).to_be_visible()
    accessible(preview)
    shot(preview, screenshots, "staff-preview")
    cookies = {c["name"] for c in context.cookies()}
    assert "os_owner" not in cookies
    preview.close()

    # The same page for a customer on another device: no staff banner, no details.
    stranger = chromium.new_context(locale="en-GB").new_page()
    stranger.goto(order["status_page_url"].replace("https://status.example.test", base))
    expect(stranger.locator("#headline")).to_have_text("1 of 2 shipments delivered")
    assert "Staff preview" not in stranger.content()
    assert "Fjordveien" not in stranger.content()
    stranger.context.close()
    context.close()


def test_the_editors(chromium: Any, demo_server: tuple[str, str], screenshots: Path) -> None:
    base, output = demo_server
    email, password = staff_login(output)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()

    # The status page editor: the preview follows the name typed, before saving.
    page.get_by_role("link", name="Status page").click()
    frame = page.frame_locator("#page-preview")
    expect(frame.locator(".shop-name")).to_be_visible()
    page.get_by_label("Shop name").fill("Fjord & Wool Oslo")
    expect(frame.locator(".shop-name")).to_have_text("Fjord & Wool Oslo")
    page.get_by_label("Note", exact=True).fill("Closed for **Christmas** from 23 December.")
    expect(frame.locator(".merchant-note strong")).to_have_text("Christmas")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").filter(has_text="Note saved.")).to_be_visible()
    page.get_by_label("Accent colour", exact=True).fill("#ffee88")
    page.get_by_role("button", name="Save branding").click()
    expect(page.locator("#e-accent_color")).to_contain_text("too light")
    accessible(page)
    shot(page, screenshots, "status-page-editor")

    # The template editor refuses what the sandbox forbids, and says where.
    page.get_by_role("link", name="Notifications").click()
    accessible(page)
    shot(page, screenshots, "notifications")
    page.get_by_role("link", name="Edit Shipping confirmation (English)").click()
    html = page.get_by_label("HTML body")
    html.fill(
        "{% extends layout %}\n{% block message %}\n{{ ''.__class__.__mro__ }}\n{% endblock %}"
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#e-html")).to_contain_text("unsafe")
    expect(page.locator("#e-html")).to_contain_text("line 3")
    shot(page, screenshots, "template-refused")
    page.get_by_label("Subject").fill("{{ order.name }} is on its way to you")
    html.fill("{% extends layout %}\n{% block headline %}Hi {{ order.first_name }}{% endblock %}")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("#1001 is on its way to you")).to_be_visible()
    accessible(page)
    shot(page, screenshots, "template-editor")

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Name of a new key").fill("Warehouse")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("New API key")).to_have_value(re.compile(r"^os_"))
    accessible(page)
    shot(page, screenshots, "settings")

    # Outbound webhooks: the signing secret is shown once, the form says what is wrong.
    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_label("Address").fill("ftp://erp.example.com/hooks")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#e-url")).to_contain_text("https://")
    page.get_by_label("Address").fill("https://erp.example.com/hooks")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile(r"^whsec_"))
    expect(page.get_by_role("row").filter(has_text="https://erp.example.com/hooks")).to_be_visible()
    accessible(page)
    shot(page, screenshots, "webhooks")
    # Connections: pick a platform, copy the URL and secret, send a test.
    page.get_by_role("link", name="Connections").click()
    page.get_by_label("Platform").select_option("woocommerce")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").filter(has_text="Connection saved.")).to_be_visible()
    expect(page.get_by_label("Webhook URL to paste")).to_have_value(
        re.compile(r"/connect/woocommerce/")
    )
    expect(page.get_by_label("Secret to paste")).to_have_value(re.compile(r"^\S{32,}$"))
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_text("The test delivery was signed, read and understood")).to_be_visible()
    expect(page.locator('[data-result="test"]')).to_be_visible()
    accessible(page)
    shot(page, screenshots, "connections")
    shot(page, screenshots, "connections", width=390)
    context.close()

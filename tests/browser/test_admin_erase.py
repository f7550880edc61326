"""A customer asks to be forgotten: staff erase them from the order page, in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_admin import accessible, place_order, shot, staff_login


def test_staff_erase_a_customer_after_confirming(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    order = place_order(base, output)
    email, password = staff_login(output)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/admin/orders/{order['id']}")
    expect(page.get_by_text("Solveig Haugland", exact=False).first).to_be_visible()

    page.get_by_text("Erase customer data", exact=True).first.click()  # opens the section
    erase = page.get_by_role("button", name="Erase customer data")
    expect(erase).to_be_visible()
    accessible(page)
    shot(page, screenshots, "erase-form")
    erase.click()  # not confirmed: the browser asks for the box, nothing is sent
    expect(page.get_by_text("Solveig Haugland", exact=False).first).to_be_visible()
    page.get_by_label("I understand this cannot be undone").check()
    erase.click()

    expect(page.locator("p.flash")).to_contain_text("data was removed from their orders")
    expect(page.locator("#customer-removed")).to_be_visible()
    assert "Solveig" not in page.content() and "Fjordveien" not in page.content()
    accessible(page)
    shot(page, screenshots, "erased")
    shot(page, screenshots, "erased", width=375)
    # The customer's link is dead now, like any unknown one.
    assert httpx.get(order["status_page_url"]).status_code == 404
    context.close()

"""The demo's delivery intelligence in a real browser: a stalled shipment, a predicted
delivery range, and a filled Insights page whose charts have tables for screen readers,
at a desktop's and a phone's width."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_admin import accessible, shot, staff_login


def page_links(output: str) -> dict[str, str]:
    return dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/\S+)", output))


def test_stalled_predicted_and_insights(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    links = page_links(output)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    page.goto(links["#1015"])
    expect(page.locator("#headline")).to_have_text("No recent updates")
    expect(page.get_by_text("most likely still on its way")).to_be_visible()

    page.goto(links["#1002"])
    expect(page.locator(".eta")).to_contain_text("(our estimate, from past deliveries)")
    expect(page.locator(".predicted dd")).to_contain_text(" \u2013 ")

    email, password = staff_login(output)
    page.goto(f"{base}/admin/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=re.compile(r"Needs attention\s+\d+"))).to_be_visible()

    page.get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
    page.get_by_role("link", name="Last 90 days").click()
    orders = page.locator(".tiles > div").filter(has_text="Orders").locator("dd").first
    assert int(orders.inner_text()) > 30
    # Every chart is hidden from screen readers, and a table tells the same.
    assert page.locator("svg.chart:not([aria-hidden='true'])").count() == 0
    expect(page.get_by_role("table", name="Exceptions by kind")).to_be_attached()
    expect(page.get_by_role("table", name=re.compile("Days from shipping"))).to_be_visible()
    accessible(page)
    shot(page, screenshots, "insights")
    page.get_by_text("Figures per day").click()
    shot(page, screenshots, "insights", width=390)
    # On a phone a table's rows stack: every figure says what it is.
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('table.lines td')]
             .filter(td => !getComputedStyle(td, '::before').content.includes(td.dataset.label))
             .map(td => td.textContent)"""
    )
    assert unlabelled == []
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("day,orders,shipments") and len(lines) == 1 + 90
    context.close()

"""A customer's whole journey in a real browser, with screenshots and accessibility checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

WIDTHS = (375, 1280)
PRIVATE = ("Marit", "Kvamme", "marit.kvamme@example.com", "Bryggen 12", "Visa •••• 4242")


def violations(page: Any) -> list[str]:
    """Every axe violation, of any impact (moderate and minor included)."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]


def serious_violations(page: Any) -> list[str]:
    return [v for v in violations(page) if "(serious)" in v or "(critical)" in v]


def shoot(page: Any, folder: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        no_sideways_scroll = page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        assert no_sideways_scroll, f"{name} scrolls sideways at {width}px"


def test_checkout_to_shared_page(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, _output = demo_server
    owner = chromium.new_context(locale="en-GB")
    page = owner.new_page()

    # Buy two things in the demo storefront.
    page.goto(f"{base}/shop/demo/")
    page.select_option("#qty-mug", "2")
    page.select_option("#qty-candle", "1")
    page.get_by_role("button", name="Go to checkout").click()
    page.get_by_label("E-mail address").fill("marit.kvamme@example.com")
    page.get_by_label("First name").fill("Marit")
    page.get_by_label("Last name").fill("Kvamme")
    page.get_by_label("Address", exact=True).fill("Bryggen 12")
    page.get_by_label("Postcode").fill("5003")
    page.get_by_label("City").fill("Bergen")
    page.get_by_role("button", name="Place order").click()

    # The status page, as its owner.
    page.wait_for_url(re.compile(r"/orders/"))
    status_url = page.url
    expect(page.get_by_text("Thank you, Marit!")).to_be_visible()
    expect(page.get_by_role("heading", name="Order confirmed")).to_be_visible()
    expect(page.get_by_text("Bryggen 12")).to_be_visible()
    expect(page.get_by_role("heading", name="Not shipped yet")).to_be_visible()
    number = page.get_by_role("heading", level=1).inner_text().split()[-1]
    assert violations(page) == []
    shoot(page, screenshots, "owner")

    # The same link on another device: the public view and a login form.
    other = chromium.new_context(locale="en-GB")
    stranger = other.new_page()
    stranger.goto(status_url)
    text = stranger.content()
    assert [p for p in PRIVATE if p in text] == []
    assert stranger.get_by_label("Order number").input_value() == number
    assert violations(stranger) == []
    shoot(stranger, screenshots, "public")

    stranger.get_by_label("E-mail or phone").fill("someone.else@example.com")
    stranger.get_by_role("button", name="Show details").click()
    expect(stranger.get_by_role("alert")).to_have_text(
        "That order number and e-mail or phone don't match our records."
    )
    # What was typed is still there to correct.
    expect(stranger.get_by_label("E-mail or phone")).to_have_value("someone.else@example.com")
    assert violations(stranger) == []
    shoot(stranger, screenshots, "login-failed")

    stranger.get_by_label("E-mail or phone").fill("Marit.Kvamme@example.com")
    stranger.get_by_role("button", name="Show details").click()
    expect(stranger.get_by_text("Bryggen 12")).to_be_visible()
    other.close()

    # Share the delivery without personal details.
    page.goto(status_url)
    page.get_by_role("button", name="Create share link").click()
    expect(page.get_by_role("button", name="Stop sharing")).to_be_visible()
    share_url = page.locator("#share-link").get_attribute("href") or ""
    friend_context = chromium.new_context(locale="en-GB")
    friend = friend_context.new_page()
    friend.goto(share_url)
    assert friend.get_by_role("heading", level=1).inner_text().endswith(number)
    assert [p for p in PRIVATE if p in friend.content()] == []
    assert friend.get_by_label("Order number").count() == 0
    assert violations(friend) == []
    shoot(friend, screenshots, "shared")
    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("button", name="Create share link")).to_be_visible()
    gone = friend.goto(share_url)
    assert gone is not None and gone.status == 404
    friend_context.close()

    # Look the order up without the link, from a new device.
    lookup_context = chromium.new_context(locale="en-GB")
    lookup = lookup_context.new_page()
    lookup.goto(f"{base}/shop/demo/order-status")
    assert violations(lookup) == []
    shoot(lookup, screenshots, "lookup")
    lookup.get_by_label("Order number").fill(number)
    lookup.get_by_label("E-mail or phone").fill("marit.kvamme@example.com")
    lookup.get_by_role("button", name="Find order").click()
    lookup.wait_for_url(status_url)
    expect(lookup.get_by_text("Bryggen 12")).to_be_visible()
    lookup_context.close()

    # The same page in Norwegian, by the language switch.
    page.goto(status_url)
    page.get_by_role("link", name="Norsk bokmål").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.get_by_role("heading", name="Ikke sendt ennå")).to_be_visible()
    assert violations(page) == []
    shoot(page, screenshots, "owner-nb")
    owner.close()


def test_demo_orders_in_every_state_render_accessibly(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    """The seeded pages: a shipment with a delivery attempt, three shipments, local delivery."""
    _base, output = demo_server
    urls = dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/[^\s?]+)", output))
    context = chromium.new_context(locale="nb-NO")
    page = context.new_page()
    page.goto(urls["#1005"] + "?lang=nb")
    alert = page.locator(".alert").first
    expect(alert).to_contain_text("Forsøkt levert")
    progress = page.get_by_role("list", name=re.compile("Leveringsstatus|Fremdrift|progress", re.I))
    assert progress.locator("[aria-current=step]").count() == 1
    assert violations(page) == []
    shoot(page, screenshots, "public-attempted-nb")
    page.goto(urls["#1006"])
    assert page.get_by_role("heading", level=2).first.inner_text().startswith("1 av 3")
    assert violations(page) == []
    shoot(page, screenshots, "public-three-shipments-nb")
    page.goto(urls["#1007"])
    assert page.locator(".map-slot").count() == 0
    context.close()

    # The three-shipment order as its owner sees it, in English and in Norwegian.
    from tests.browser.test_order_page import _order, _owner_context

    order = _order(_base, output, "1006")
    owner = _owner_context(chromium, _base, urls["#1006"], order["id"])
    page = owner.new_page()
    for lang in ("en", "nb"):
        page.goto(urls["#1006"] + f"?lang={lang}")
        page.wait_for_load_state("load")
        assert violations(page) == []
        shoot(page, screenshots, f"owner-three-shipments-{lang}")
    owner.close()


def test_a_quiet_carrier_reads_calmly(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    """ "No recent updates" is shown in grey with a reassuring line, not as a warning."""
    _base, output = demo_server
    urls = dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/[^\s?]+)", output))
    context = chromium.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(urls["#1014"] + "?lang=en")
    alert = page.locator(".alert").first
    expect(alert).to_contain_text("No recent updates")
    expect(alert).to_contain_text("most likely still on its way")
    quiet = alert.evaluate("e => getComputedStyle(e).backgroundColor")
    page.goto(urls["#1005"] + "?lang=en")
    warning = page.locator(".alert").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert quiet == "rgb(238, 241, 244)" and quiet != warning
    page.goto(urls["#1014"] + "?lang=nb")
    expect(page.locator(".alert").first).to_contain_text("Ingen nye oppdateringer")
    expect(page.locator(".step.current .step-alert")).to_have_text("Ingen nye oppdateringer")
    assert violations(page) == []
    shoot(page, screenshots, "public-quiet-nb")
    context.close()

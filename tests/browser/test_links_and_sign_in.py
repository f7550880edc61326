"""On another device: a link from a sent e-mail opens the full page, a phone-only customer
signs in with her number. A real server, a real SMTP server, fresh browser contexts."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from orderstatus.domain.links import link_key
from tests.browser.test_customer_journey import shoot
from tests.live import server
from tests.messaging import MailServer, Received


def violations(page: Any) -> list[str]:
    """Every axe violation, of any impact."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]


class Mailbox:
    """aiosmtpd in a thread of its own, for a server in another process to send to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.box = MailServer()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Mailbox:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.box.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.box.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def wait_for(self, address: str, limit: float = 30) -> Received:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            found = self.box.to(address)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no message to {address}")


@pytest.fixture(scope="module")
def mailing_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, Path, Mailbox]]:
    """`orderstatus demo` sending its e-mails to a real SMTP server: (base URL, its output,
    its folder, the mailbox)."""
    folder = tmp_path_factory.mktemp("mailing-demo")
    with Mailbox() as mailbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
        env["ORDERSTATUS_MAP_TILE_URL"] = "http://127.0.0.1:9/{z}/{x}/{y}.png"
        env["ORDERSTATUS_SMTP_URL"] = mailbox.box.url
        env["ORDERSTATUS_SMTP_FROM"] = "orders@status.example.test"
        with server("demo", "--no-carrier", env=env, cwd=folder) as (base, log):
            yield base, log.read_text(), folder, mailbox


def buy(page: Any, base: str, email: str) -> str:
    """Check out in the demo storefront; the status page's address."""
    page.goto(f"{base}/shop/demo/")
    page.select_option("#qty-mug", "1")
    page.get_by_role("button", name="Go to checkout").click()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("First name").fill("Ingrid")
    page.get_by_label("Last name").fill("Haugen")
    page.get_by_label("Address", exact=True).fill("Nordre gate 7")
    page.get_by_label("Postcode").fill("7011")
    page.get_by_label("City").fill("Trondheim")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/[^/?]+$"))
    return str(page.url)


def test_a_link_from_the_e_mail_opens_the_full_page_on_another_device(
    chromium: Any, mailing_demo: tuple[str, str, Path, Mailbox], screenshots: Path
) -> None:
    base, _output, folder, mailbox = mailing_demo
    laptop = chromium.new_context(locale="en-GB")
    status_url = buy(laptop.new_page(), base, "ingrid.haugen@example.com")
    laptop.close()

    message = mailbox.wait_for("ingrid.haugen@example.com")
    (link,) = message.links()
    assert link.startswith(f"{status_url}?key=")

    phone = chromium.new_context(locale="en-GB")
    page = phone.new_page()
    page.goto(link)
    # The full page, and the address bar without the key.
    expect(page.get_by_text("Nordre gate 7")).to_be_visible()
    assert page.url == status_url
    assert page.get_by_label("E-mail or phone").count() == 0
    assert violations(page) == []
    shoot(page, screenshots, "opened-from-e-mail")
    phone.close()

    # The same link made with an expiry in the past: the public view and the sign-in form.
    secret = (folder / "var" / "secret_key").read_text().strip()
    token = urlsplit(status_url).path.rsplit("/", 1)[1]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    expired = f"{status_url}?key={link_key(secret, token, yesterday)}"
    other = chromium.new_context(locale="en-GB")
    page = other.new_page()
    page.goto(expired)
    expect(page.get_by_label("E-mail or phone")).to_be_visible()
    assert "Nordre gate 7" not in page.content() and "Ingrid" not in page.content()
    assert violations(page) == []
    shoot(page, screenshots, "expired-link")
    other.close()


def test_a_phone_only_customer_signs_in_with_her_phone_number(
    chromium: Any, mailing_demo: tuple[str, str, Path, Mailbox], screenshots: Path
) -> None:
    base, output, _folder, _mailbox = mailing_demo
    urls = dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/[^\s?]+)", output))
    context = chromium.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(urls["#1008"])
    assert "Sofie" not in page.content()
    page.get_by_label("E-mail or phone").fill("4000 1008")
    page.get_by_role("button", name="Show details").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That order number and e-mail or phone don't match our records."
    )
    expect(page.get_by_label("E-mail or phone")).to_have_value("4000 1008")
    assert violations(page) == []
    shoot(page, screenshots, "sign-in-failed-phone")
    page.get_by_label("E-mail or phone").fill("+47 4000 1007")
    page.get_by_role("button", name="Show details").click()
    expect(page.get_by_text("Sofie Moe").first).to_be_visible()
    assert violations(page) == []

    # The look-up, without the link, takes the number as people write it.
    lookup_context = chromium.new_context(locale="en-GB")
    lookup = lookup_context.new_page()
    lookup.goto(f"{base}/shop/demo/order-status")
    lookup.get_by_label("Order number").fill("1008")
    lookup.get_by_label("E-mail or phone").fill("0047 4000 1007")
    lookup.get_by_role("button", name="Find order").click()
    lookup.wait_for_url(urls["#1008"])
    expect(lookup.get_by_text("Sofie Moe").first).to_be_visible()
    lookup_context.close()
    context.close()


def test_forms_keep_what_was_typed_and_show_every_fault(
    chromium: Any, mailing_demo: tuple[str, str, Path, Mailbox], screenshots: Path
) -> None:
    base, _output, _folder, _mailbox = mailing_demo
    context = chromium.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/shop/demo/order-status")
    page.get_by_label("Order number").fill("1008")
    page.get_by_label("E-mail or phone").fill("912 00 000")
    page.get_by_role("button", name="Find order").click()
    expect(page.get_by_role("alert")).to_contain_text("We couldn't find an order")
    expect(page.get_by_label("Order number")).to_have_value("1008")
    expect(page.get_by_label("E-mail or phone")).to_have_value("912 00 000")
    assert violations(page) == []
    shoot(page, screenshots, "lookup-failed")

    page.goto(f"{base}/shop/demo/")
    page.select_option("#qty-mug", "1")
    page.get_by_role("button", name="Go to checkout").click()
    page.get_by_label("Last name").fill("Haugen")
    page.get_by_label("Address", exact=True).fill("Nordre gate 7")
    page.get_by_role("button", name="Place order").click()
    # One round: no contact, no first name and no city, all at once.
    expect(page.locator("#e-contact")).to_be_visible()
    expect(page.locator("#e-first_name")).to_be_visible()
    expect(page.locator("#e-city")).to_be_visible()
    expect(page.get_by_label("Last name")).to_have_value("Haugen")
    expect(page.get_by_label("Address", exact=True)).to_have_value("Nordre gate 7")
    assert violations(page) == []
    shoot(page, screenshots, "checkout-every-fault")
    context.close()

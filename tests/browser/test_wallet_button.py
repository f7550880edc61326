""" "Add to Apple Wallet": on Apple devices only, through live updates, and it downloads
the order package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import conftest
from tests.browser.test_live_page import _owner_cookie
from tests.browser.test_map import api_key
from tests.factories import order_payload
from tests.live import server
from tests.wallet_keys import make_wallet_files

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def wallet_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("wallet-demo")
    files = make_wallet_files(folder / "keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    env |= {f"ORDERSTATUS_{k.upper()}": v for k, v in files.settings().items()}
    with server("demo", "--no-carrier", env=env, cwd=folder) as (base, log):
        conftest.DEMO_FOLDERS[base] = folder
        yield base, log.read_text()


def _shipped(base: str, output: str) -> tuple[dict[str, Any], dict[str, Any]]:
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    order = httpx.post(
        f"{base}/api/v1/orders", json=order_payload(locale="en-GB"), headers=auth
    ).json()
    shipment = httpx.post(
        f"{base}/api/v1/orders/{order['id']}/fulfillments",
        json={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        headers=auth,
    ).json()
    return order, shipment


def _page(chromium: Any, base: str, order: dict[str, Any], **options: Any) -> Any:
    url = order["status_page_url"]
    context = chromium.new_context(locale="en-GB", accept_downloads=True, **options)
    cookie = _owner_cookie(base, order["id"])
    context.add_cookies([{"name": "os_owner", "value": cookie, "url": url}])
    page = context.new_page()
    page.goto(url)
    return page


def test_the_button_shows_on_an_iphone_only_and_downloads_the_order(
    chromium: Any, wallet_demo: tuple[str, str]
) -> None:
    base, output = wallet_demo
    order, shipment = _shipped(base, output)
    desktop = _page(chromium, base, order)
    expect(desktop.get_by_role("heading", name="Share tracking")).to_be_visible()
    expect(desktop.get_by_role("link", name="Add to Apple Wallet")).to_be_hidden()
    desktop.context.close()

    phone = _page(chromium, base, order, user_agent=IPHONE, viewport={"width": 390, "height": 844})
    button = phone.get_by_role("link", name="Add to Apple Wallet")
    expect(button).to_be_visible()
    # A live update of the page keeps it.
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    event = {"status": "out_for_delivery", "occurred_at": datetime.now(UTC).isoformat()}
    posted = httpx.post(
        f"{base}/api/v1/fulfillments/{shipment['id']}/events", json=event, headers=auth
    )
    assert posted.status_code in (200, 201), posted.text
    expect(phone.locator("#headline")).to_contain_text("Out for delivery", timeout=10_000)
    expect(button).to_be_visible()
    with phone.expect_download() as download:
        button.click()
    assert download.value.suggested_filename.endswith(".order")
    phone.context.close()

"""'Notify me on this device' in a real browser against a real server: the page registers
the service worker, subscribes with the server's key and hands the subscription over; a
shipment then reaches the device through a real push service, and the owner turns it
off again. Chromium needs a real push service of Google's to subscribe, so
``pushManager.subscribe`` is stubbed to answer with a subscription of the test's push
service (whose private key the test holds)."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from orderstatus.notify.webpush import public_key_of
from tests.browser.test_customer_journey import shoot
from tests.browser.test_links_and_sign_in import buy, violations
from tests.live import server
from tests.messaging import PushService

STUB = """
(() => {
  const device = %(device)s;
  const saved = () => JSON.parse(localStorage.getItem("test-push") || "null");
  const make = (json) => ({
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: () => { localStorage.removeItem("test-push"); return Promise.resolve(true); },
  });
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    const text = btoa(String.fromCharCode.apply(null, key));
    const json = {endpoint: device.endpoint, keys: {p256dh: device.p256dh, auth: device.auth}};
    localStorage.setItem("test-push", JSON.stringify(json));
    localStorage.setItem("test-push-key",
      text.replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, ""));
    localStorage.setItem("test-push-visible", String(options.userVisibleOnly));
    return Promise.resolve(make(json));
  };
  PushManager.prototype.getSubscription = function () {
    const json = saved();
    return Promise.resolve(json ? make(json) : null);
  };
})();
"""


class Pushes:
    """The push service in a thread of its own, for the server in another process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.service = PushService()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Pushes:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def wait_for(self, device: str, limit: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            found = self.service.to(device)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no push to {device}: refused {self.service.refused}")


@pytest.fixture(scope="module")
def pushing_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, Path, Pushes]]:
    folder = tmp_path_factory.mktemp("pushing-demo")
    with Pushes() as pushes:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
        env["ORDERSTATUS_PUSH_ALLOW_PRIVATE"] = "1"
        with server("demo", "--no-carrier", env=env, cwd=folder) as (base, log):
            yield base, log.read_text(), folder, pushes


def subscriptions(folder: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(folder / "var" / "orderstatus.db") as db:
        return list(db.execute("SELECT endpoint, locale FROM push_subscriptions"))


def test_the_owner_turns_notifications_on_and_off_on_this_device(
    chromium: Any, pushing_demo: tuple[str, str, Path, Pushes], screenshots: Path
) -> None:
    base, output, folder, pushes = pushing_demo
    device = pushes.service.device("chromium")
    context = chromium.new_context(locale="en-GB")
    context.grant_permissions(["notifications"], origin=base)
    stub = {
        "endpoint": pushes.service.endpoint("chromium"),
        "p256dh": device.p256dh,
        "auth": device.auth,
    }
    context.add_init_script(STUB % {"device": repr(stub).replace("'", '"')})
    page = context.new_page()
    status_url = buy(page, base, "nora.berg@example.com")

    card = page.locator("#push-card")
    expect(card).to_be_visible()
    turn_on = page.get_by_role("button", name="Notify me on this device")
    expect(turn_on).to_be_visible()
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)") == f"{base}/orders/"
    assert violations(page) == []
    turn_on.click()
    expect(card.get_by_role("status")).to_have_text("Notifications are on for this device.")
    expect(page.get_by_role("button", name="Turn off notifications")).to_be_visible()
    expect(turn_on).to_be_hidden()
    assert subscriptions(folder) == [(stub["endpoint"], "en")]
    server_key = public_key_of((folder / "var" / "vapid_private_key").read_text().strip())
    assert page.evaluate("localStorage.getItem('test-push-key')") == server_key
    assert page.evaluate("localStorage.getItem('test-push-visible')") == "true"
    shoot(page, screenshots, "push-on")

    # A shipment reaches the device through the push service, decrypted there.
    api_key = re.search(r"API key: (\S+)", output)
    assert api_key is not None
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key.group(1)}"})
    orders = api.get("/api/v1/orders").json()["orders"]
    order = next(o for o in orders if o["status_page_url"].endswith(status_url.rsplit("/", 1)[1]))
    lines = [{"id": item["id"], "quantity": item["quantity"]} for item in order["line_items"]]
    shipped = api.post(
        f"/api/v1/orders/{order['id']}/fulfillments",
        json={"line_items": lines, "carrier": "bring", "tracking_number": "TESTPAK1"},
    )
    assert shipped.status_code == 201, shipped.text
    message = pushes.wait_for("chromium")
    assert message["title"] == f"Your order #{order['number']} is on its way"
    assert message["url"].startswith(f"{status_url}?key=")
    assert "Nora" not in str(message) and "TESTPAK1" not in str(message)

    # The click on the notification opens the page signed in, on another device too.
    other = chromium.new_context(locale="en-GB")
    opened = other.new_page()
    opened.goto(message["url"])
    assert opened.url == status_url
    expect(opened.get_by_text("nora.berg@example.com")).to_be_visible()
    other.close()

    # After a reload the page still knows this device is on, and hands over nothing new.
    page.reload()
    off = page.get_by_role("button", name="Turn off notifications")
    expect(off).to_be_visible()
    assert subscriptions(folder) == [(stub["endpoint"], "en")]
    # The browser renewed its subscription: the next visit hands the new one over (the
    # old one is forgotten when its push service answers 410).
    renewed = pushes.service.device("renewed")
    fresh = {
        "endpoint": pushes.service.endpoint("renewed"),
        "keys": {"p256dh": renewed.p256dh, "auth": renewed.auth},
    }
    page.evaluate("fresh => localStorage.setItem('test-push', JSON.stringify(fresh))", fresh)
    page.reload()
    expect(off).to_be_visible()
    deadline = time.monotonic() + 10
    while len(subscriptions(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(subscriptions(folder)) == sorted(
        [(stub["endpoint"], "en"), (fresh["endpoint"], "en")]
    )
    off.click()
    expect(card.get_by_role("status")).to_have_text("Notifications are off for this device.")
    expect(turn_on).to_be_visible()
    expect(off).to_be_hidden()
    assert subscriptions(folder) == [(stub["endpoint"], "en")]
    assert page.evaluate("localStorage.getItem('test-push')") is None
    context.close()


def test_the_card_is_for_the_owner_only(
    chromium: Any, pushing_demo: tuple[str, str, Path, Pushes]
) -> None:
    _base, output, _folder, _pushes = pushing_demo
    link = re.search(r"(http\S+/orders/[^\s?]+)", output)
    assert link is not None
    context = chromium.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(link.group(1))
    expect(page.get_by_label("E-mail or phone")).to_be_visible()
    assert page.locator("#push-card").count() == 0
    context.close()

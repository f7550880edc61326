"""The admin's view of the channels: each one's set-up and counts in the notification
settings, and pushes in the order's timeline like e-mails."""

from __future__ import annotations

import re

import httpx

from orderstatus.notify.worker import Worker
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil
from tests.integration.test_push import (  # noqa: F401 (fixtures)
    app_http,
    owner,
    push_settings,
    pushes,
    turn_on,
    worker,
)
from tests.integration.test_status_page import login, path_of
from tests.messaging import PushService


def row(html: str, channel: str) -> str:
    found = re.search(rf'<tr id="channel-{channel}">(.*?)</tr>', html, re.S)
    assert found, f"no {channel} row"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


async def test_channels_show_their_set_up_and_counts_and_pushes_join_the_timeline(
    api: ShopClient,
    staff: Staff,
    owner: httpx.AsyncClient,  # noqa: F811
    pushes: PushService,  # noqa: F811
    worker: Worker,  # noqa: F811
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    await login(owner, path, order["number"], "kari@example.com")
    phone, gone = pushes.device("phone"), pushes.device("gone")
    for device in (phone, gone):
        assert (await turn_on(owner, path, pushes, device)).status_code == 201
    pushes.answer = {"gone": 410}
    await fulfil(api.http, order, [(0, 1)], carrier="bring")
    await worker.drain()

    page = await staff.http.get("/admin/notifications")
    assert page.status_code == 200
    email = row(page.text, "email")
    assert email.startswith("E-mail Yes: SMTP server 127.0.0.1:") and email.endswith("2 0 0 0")
    assert row(page.text, "sms").startswith("SMS No Set ORDERSTATUS_SMS_URL")
    push = row(page.text, "push")
    assert push == (
        "Push Yes: key made at first start, kept in the var folder"
        " 1 device turned on by customers 1 0 1 0"
    )

    timeline = re.sub(r"\s+", " ", (await staff.http.get(f"/admin/orders/{order['id']}")).text)
    sent_email = re.search(r"Shipping confirmation e-mail sent to kari@example.com", timeline)
    sent_push = re.search(r"Shipping confirmation push sent to device \d+", timeline)
    assert sent_email and sent_push
    assert re.search(
        r"Shipping confirmation push to device \d+ failed: push: the device is no longer"
        r" subscribed \(410\)",
        timeline,
    )
    assert "Customer turned on notifications on a device" in timeline

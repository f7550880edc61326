"""Web Push end to end: the owner turns notifications on for devices from the page, the
worker delivers each update the e-mail gets to a real push service on 127.0.0.1, which
checks our VAPID token and decrypts the message with the device's private key."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Notification, PushSubscription
from orderstatus.notify.worker import Worker, WorkerConfig
from tests.conftest import ShopClient
from tests.integration.helpers import create_order, fulfil, row_counts
from tests.integration.test_notifications import opens_the_order
from tests.integration.test_status_page import csrf_of, login, path_of
from tests.messaging import Device, MailServer, PushService

FAST = WorkerConfig(
    backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5, poll_interval=0.05
)
PUSH_KEY = re.compile(r'data-push-key="([A-Za-z0-9_-]+)"')
PII = (
    "kari@example.com",
    "Nordmann",
    "Storgata",
    "0155",
    "+4791234567",
    "91 23 45 67",
    "TESTPAK1",
    "4242",
    "Visa",
    "249",
)
"""What the owner's page shows but a lock screen must not: contact, address, payment,
the tracking number, prices."""


def soon(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    service = await PushService().start()
    yield service
    await service.stop()


@pytest.fixture
def push_settings(settings: Settings, mail: MailServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": mail.url,
            "smtp_from": "orders@status.example.test",
            "push_allow_private": True,
        }
    )


@pytest.fixture
async def app_http(push_settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app with private push endpoints allowed (the push service is on 127.0.0.1)."""
    from orderstatus.web.app import create_app

    transport = httpx.ASGITransport(app=create_app(push_settings, database))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.fixture
async def worker(database: Database, push_settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(database, push_settings, FAST)
    yield w
    await w.close()


@pytest.fixture
async def owner(api: ShopClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=api.http._transport, base_url="https://testserver") as c:
        c.cookies.set("os_lang", "en", domain="testserver.local")
        yield c


async def turn_on(
    owner: httpx.AsyncClient, path: str, pushes: PushService, device: Device
) -> httpx.Response:
    page = await owner.get(path)
    return await owner.post(
        f"{path}/push",
        data={
            "endpoint": pushes.endpoint(device.name),
            "p256dh": device.p256dh,
            "auth": device.auth,
            "csrf_token": csrf_of(page.text),
        },
    )


async def event(api: ShopClient, shipment: dict[str, Any], status: str, minutes: float) -> None:
    response = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={
            "status": status,
            "occurred_at": soon(minutes),
            "message": f"{status} scan",
            "location": {"city": "Oslo", "country_code": "NO"},
            "estimated_delivery": soon(60 * 24),
        },
    )
    assert response.status_code in (200, 201), response.text


async def test_each_device_gets_every_update_the_email_gets(
    api: ShopClient,
    owner: httpx.AsyncClient,
    pushes: PushService,
    mail: MailServer,
    worker: Worker,
    database: Database,
) -> None:
    order = await create_order(api.http, phone="+4791234567")
    path = path_of(order)
    assert (await login(owner, path, order["number"], "kari@example.com")).status_code == 303
    page = await owner.get(path)
    assert 'id="push-card"' in page.text and 'rel="manifest"' in page.text
    page_key = PUSH_KEY.search(page.text)
    assert page_key is not None
    phone, laptop = pushes.device("phone"), pushes.device("laptop")
    for device in (phone, laptop, phone):  # turning on twice keeps one subscription
        answer = await turn_on(owner, path, pushes, device)
        assert answer.status_code == 201, answer.text
    await worker.drain()

    shipment = await fulfil(
        api.http, order, [(0, 1), (1, 1), (2, 1)], carrier="bring", tracking_number="TESTPAK1"
    )
    await event(api, shipment, "out_for_delivery", 1)
    await event(api, shipment, "delivered", 2)
    assert (await worker.drain())["failed"] == 0

    emailed = Counter(m.subject for m in mail.received)
    assert len(emailed) == 4  # confirmation, shipped, out for delivery, delivered
    for name in ("phone", "laptop"):
        got = pushes.to(name)
        assert [m["title"] for m in got] == [
            "Your order #1001 is on its way",
            "Your order #1001 is out for delivery",
            "Your order #1001 has been delivered",
        ], got
        assert "Bring" in got[0]["body"] and "Oslo" in got[1]["body"]
        for message in got:
            await opens_the_order(api, message["url"], order)
            assert message["lang"] == "en"  # the page's language when it was turned on
            assert message["tag"].startswith("order-1001-")
    for push in pushes.received:
        assert push.server_key == page_key.group(1)  # what the page subscribed with
        assert push.claims["aud"] == pushes.origin
        assert push.headers["Urgency"] == "normal"
        text = json.dumps(push.message, ensure_ascii=False)
        leaked = [p for p in PII if p in text]
        assert not leaked, (leaked, push.message)
    assert not pushes.refused

    async with database.read() as session:
        lines = (
            await session.scalars(select(Activity.message).where(Activity.order_id == order["id"]))
        ).all()
        devices = await session.scalar(select(func.count()).select_from(PushSubscription))
    assert devices == 2
    assert sum("Delivered push sent to device" in line for line in lines) == 2
    assert sum("Customer turned on notifications on a device" in line for line in lines) == 2


async def test_a_device_the_push_service_forgot_is_forgotten_and_others_retry(
    api: ShopClient,
    owner: httpx.AsyncClient,
    pushes: PushService,
    worker: Worker,
    database: Database,
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    await login(owner, path, order["number"], "kari@example.com")
    gone, flaky = pushes.device("gone"), pushes.device("flaky")
    for device in (gone, flaky):
        assert (await turn_on(owner, path, pushes, device)).status_code == 201
    pushes.answer = {"gone": 410, "flaky": 503}
    await fulfil(api.http, order, [(0, 1)], carrier="bring")
    await worker.drain()
    del pushes.answer["flaky"]
    await worker.drain(retries=True)

    assert len(pushes.to("flaky")) == 1  # sent again after the 503
    async with database.read() as session:
        kept = (await session.scalars(select(PushSubscription.endpoint))).all()
        rows = {
            n.recipient: n
            for n in await session.scalars(
                select(Notification).where(Notification.channel == "push")
            )
        }
    assert kept == [pushes.endpoint("flaky")]
    assert [r.state for r in rows.values()].count("failed") == 1
    failed = next(r for r in rows.values() if r.state == "failed")
    assert "no longer subscribed (410)" in (failed.last_error or "")
    assert next(r for r in rows.values() if r.state == "sent").attempts >= 2

    # The forgotten device is not planned again; the other one is.
    shipment = await fulfil(api.http, order, [(1, 1)], carrier="bring")
    await event(api, shipment, "out_for_delivery", 1)
    await worker.drain()
    assert len(pushes.to("flaky")) == 3
    assert len([p for p in pushes.received if p.device == "gone"]) == 0


async def test_the_owner_turns_it_off_and_only_the_owner_can_turn_it_on(
    api: ShopClient,
    owner: httpx.AsyncClient,
    pushes: PushService,
    worker: Worker,
    database: Database,
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    device = pushes.device("phone")
    before = await row_counts(database)
    stranger = await turn_on(owner, path, pushes, device)  # not signed in
    assert stranger.status_code == 403
    assert 'id="push-card"' not in (await owner.get(path)).text
    await login(owner, path, order["number"], "kari@example.com")
    page = await owner.get(path)
    token = csrf_of(page.text)
    for bad in (
        {"endpoint": "https://fcm.example/x", "p256dh": "AAAA", "auth": device.auth},
        {"endpoint": "ftp://push.example/x", "p256dh": device.p256dh, "auth": device.auth},
        {"endpoint": "x" * 2000, "p256dh": device.p256dh, "auth": device.auth},
    ):
        refused = await owner.post(f"{path}/push", data={**bad, "csrf_token": token})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid"
    forged = await owner.post(
        f"{path}/push",
        data={"endpoint": pushes.endpoint("phone"), "p256dh": device.p256dh, "auth": device.auth},
    )
    assert forged.status_code == 400
    assert await row_counts(database) == before

    assert (await turn_on(owner, path, pushes, device)).status_code == 201
    off = await owner.post(
        f"{path}/push/off", data={"endpoint": pushes.endpoint("phone"), "csrf_token": token}
    )
    assert off.status_code == 200 and off.json() == {"removed": True}
    await fulfil(api.http, order, [(0, 1)], carrier="bring")
    await worker.drain()
    assert pushes.received == []


async def test_private_push_endpoints_are_refused_unless_allowed(
    settings: Settings, database: Database, api: ShopClient
) -> None:
    from orderstatus.domain.errors import Invalid
    from orderstatus.services import push

    order = await create_order(api.http)
    device = Device("x")
    for endpoint in (
        "http://push.example/x",
        "https://127.0.0.1/x",
        "https://10.0.0.8/x",
        "https://[::1]/x",
        "https://push.internal/x",
    ):
        with pytest.raises(Invalid):
            async with database.write() as session:
                await push.subscribe(
                    session,
                    order_id=order["id"],
                    endpoint=endpoint,
                    p256dh=device.p256dh,
                    auth=device.auth,
                    locale=None,
                )
    async with database.write() as session:
        assert await push.subscribe(
            session,
            order_id=order["id"],
            endpoint="https://fcm.googleapis.com/fcm/send/abc",
            p256dh=device.p256dh,
            auth=device.auth,
            locale=None,
        )


async def test_the_page_can_be_added_to_a_home_screen(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    manifest = await owner.get(f"{path}/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    app = manifest.json()
    assert app["start_url"] == path and app["scope"] == path
    assert app["display"] == "standalone" and app["icons"]
    assert "Kari" not in manifest.text and "kari@" not in manifest.text
    assert (await owner.get("/orders/nope/manifest.webmanifest")).status_code == 404
    worker_script = await owner.get("/push-sw.js")
    assert worker_script.status_code == 200
    assert worker_script.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in worker_script.text and "notificationclick" in worker_script.text


async def test_erasing_the_customer_forgets_the_devices(
    api: ShopClient,
    owner: httpx.AsyncClient,
    pushes: PushService,
    database: Database,
) -> None:
    from orderstatus.services import retention

    order = await create_order(api.http)
    path = path_of(order)
    await login(owner, path, order["number"], "kari@example.com")
    assert (await turn_on(owner, path, pushes, pushes.device("phone"))).status_code == 201
    async with database.read() as session:
        export = await retention.export_customer(
            session, shop_id=api.shop_id, email="kari@example.com"
        )
    assert export["orders"][0]["push_devices"][0]["endpoint"] == pushes.endpoint("phone")
    async with database.write() as session:
        await retention.anonymise_order(session, order_id=order["id"], actor="test")
    async with database.read() as session:
        left = await session.scalar(select(func.count()).select_from(PushSubscription))
    assert left == 0

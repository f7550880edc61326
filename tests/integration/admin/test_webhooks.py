"""The admin's webhooks page: add (the secret shown once), remove, the recent deliveries
with the receiver's answer, and "Send again"; another shop's are a 404."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import WebhookDelivery, WebhookEndpoint
from orderstatus.notify.worker import Worker, WorkerConfig
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, row_counts
from tests.messaging import WebhookReceiver

FAST = WorkerConfig(backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5)
SECRET = re.compile(r'value="(whsec_[^"]+)" aria-label="Signing secret"')


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = await WebhookReceiver().start()
    yield hooks
    await hooks.stop()


@pytest.fixture
async def worker(database: Database, settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(database, settings.model_copy(update={"webhooks_allow_private": True}), FAST)
    yield w
    await w.close()


async def test_a_webhook_is_added_with_its_secret_shown_once_and_removed(
    staff: Staff, database: Database
) -> None:
    page = await staff.http.get("/admin/webhooks")
    assert page.status_code == 200 and "No webhooks yet." in page.text
    added = await staff.post(
        "/admin/webhooks",
        {"url": "https://erp.example.com/hooks", "topics": ["order.created", "shipment.delivered"]},
    )
    assert added.status_code == 201
    assert added.headers["cache-control"] == "no-store"
    secret = SECRET.search(added.text)
    assert secret
    async with database.read() as session:
        row = await session.scalar(select(WebhookEndpoint))
    assert row is not None and row.secret == secret.group(1)
    assert row.topics == ["order.created", "shipment.delivered"]
    page = await staff.http.get("/admin/webhooks")
    assert "https://erp.example.com/hooks" in page.text
    assert secret.group(1) not in page.text

    removed = await staff.post(f"/admin/webhooks/{row.id}/delete")
    assert removed.status_code == 303
    page = await staff.http.get(removed.headers["location"])
    assert "Webhook removed." in page.text and "https://erp.example.com/hooks" not in page.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "ftp://erp.example.com/hooks", "topics": ["order.created"]}, "https://"),
        ({"url": "https://erp.example.com/hooks"}, "Choose at least one event."),
        ({"url": "https://erp.example.com/hooks", "topics": ["nope"]}, "Choose at least one"),
    ],
)
async def test_a_bad_webhook_shows_what_to_fix_and_saves_nothing(
    staff: Staff, database: Database, form: dict[str, object], message: str
) -> None:
    await staff.token()
    before = await row_counts(database)
    answer = await staff.post("/admin/webhooks", form)
    assert answer.status_code == 422
    assert message in answer.text and "Nothing was saved" in answer.text
    assert await row_counts(database) == before


async def test_deliveries_show_the_answer_and_can_be_sent_again(
    api: ShopClient,
    staff: Staff,
    receiver: WebhookReceiver,
    worker: Worker,
    database: Database,
) -> None:
    await staff.post("/admin/webhooks", {"url": receiver.url(), "topics": ["order.created"]})
    await create_order(api.http)
    await worker.drain()
    page = await staff.http.get("/admin/webhooks")
    assert "HTTP 200" in page.text and "answer 200" in page.text
    async with database.read() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None and delivery.event_id in page.text

    again = await staff.post(f"/admin/webhooks/deliveries/{delivery.id}/send-again")
    assert again.status_code == 303
    assert (
        "The delivery will be sent again." in (await staff.http.get(again.headers["location"])).text
    )
    await worker.drain()
    assert [h.json()["id"] for h in receiver.received] == [delivery.event_id] * 2


async def test_a_gone_webhook_shows_why_and_is_turned_on_and_off_again(
    api: ShopClient,
    staff: Staff,
    other_staff: Staff,
    receiver: WebhookReceiver,
    worker: Worker,
    database: Database,
) -> None:
    await staff.post("/admin/webhooks", {"url": receiver.url(), "topics": ["order.created"]})
    receiver.answers = [410]
    await create_order(api.http)
    await worker.drain()
    async with database.read() as session:
        endpoint = await session.scalar(select(WebhookEndpoint))
    assert endpoint is not None
    page = re.sub(r"\s+", " ", (await staff.http.get("/admin/webhooks")).text)
    assert "Turned off" in page and "It answered 410 Gone on" in page
    assert "Nothing is sent to it." in page and "HTTP 410" in page
    assert (
        await other_staff.post(f"/admin/webhooks/{endpoint.id}/active", {"active": "on"})
    ).status_code == 404

    on = await staff.post(f"/admin/webhooks/{endpoint.id}/active", {"active": "on"})
    assert on.status_code == 303
    page = re.sub(r"\s+", " ", (await staff.http.get(on.headers["location"])).text)
    assert "Webhook turned on: events from now on are sent to it." in page
    assert "It answered 410 Gone" not in page
    await create_order(api.http)
    await worker.drain()
    assert len(receiver.received) == 2

    off = await staff.post(f"/admin/webhooks/{endpoint.id}/active", {"active": "off"})
    page = re.sub(r"\s+", " ", (await staff.http.get(off.headers["location"])).text)
    assert "Webhook turned off: nothing is sent to it." in page and "Turned off on" in page
    await create_order(api.http)
    await worker.drain()
    assert len(receiver.received) == 2


async def test_another_shops_webhooks_and_deliveries_are_not_found(
    api: ShopClient,
    staff: Staff,
    other_staff: Staff,
    receiver: WebhookReceiver,
    worker: Worker,
    database: Database,
) -> None:
    await staff.post("/admin/webhooks", {"url": receiver.url(), "topics": ["order.created"]})
    await create_order(api.http)
    await worker.drain()
    async with database.read() as session:
        endpoint = await session.scalar(select(WebhookEndpoint))
        delivery = await session.scalar(select(WebhookDelivery))
    assert endpoint is not None and delivery is not None
    assert receiver.url() not in (await other_staff.http.get("/admin/webhooks")).text
    assert (await other_staff.post(f"/admin/webhooks/{endpoint.id}/delete")).status_code == 404
    resend = await other_staff.post(f"/admin/webhooks/deliveries/{delivery.id}/send-again")
    assert resend.status_code == 404
    async with database.read() as session:
        still = await session.scalar(select(WebhookDelivery))
    assert still is not None and still.state == "sent"

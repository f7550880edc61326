"""Outbound webhooks end to end: subscribed through the REST API, caused by orders,
shipments, events and a failing notification, delivered by the worker to a real receiver
on 127.0.0.1, counted and verified where they land."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from orderstatus.carriers.sources import SignatureError, SignedRequest, custom
from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import WebhookDelivery
from orderstatus.notify.worker import Worker, WorkerConfig
from orderstatus.services import outbound_webhooks
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order, fulfil, row_counts
from tests.messaging import Hook, MailServer, WebhookReceiver, wait_for

FAST = WorkerConfig(
    backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5, poll_interval=0.05
)
ALL_TOPICS = [
    "order.created",
    "order.updated",
    "shipment.created",
    "shipment.status_changed",
    "shipment.delivered",
    "notification.failed",
]


def webhooks(done: Counter[str]) -> Counter[str]:
    """The webhook part of what a worker's drain did."""
    return Counter({k: v for k, v in done.items() if k.startswith("webhook_")})


def soon(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = await WebhookReceiver().start()
    yield hooks
    await hooks.stop()


@pytest.fixture
def hook_settings(settings: Settings, mail: MailServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": mail.url,
            "smtp_from": "orders@status.example.test",
            "webhooks_allow_private": True,
        }
    )


@pytest.fixture
async def worker(database: Database, hook_settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(database, hook_settings, FAST)
    yield w
    await w.close()


async def subscribe(api: ShopClient, url: str, topics: list[str] | None = None) -> dict[str, Any]:
    response = await api.http.post(
        "/api/v1/webhooks", json={"url": url, "topics": topics or ALL_TOPICS}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


README = (Path(__file__).parents[2] / "README.md").read_text("utf-8")


def readme_verify() -> Callable[[bytes, str, str], bool]:
    """The README's verification snippet, as a receiver would paste it."""
    section = README.split("## Outbound webhooks", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    scope: dict[str, Any] = {}
    exec(code, scope)
    verify: Callable[[bytes, str, str], bool] = scope["verify"]
    return verify


def verified(hook: Hook, secret: str) -> dict[str, Any]:
    """The body, after checking its signature as a receiver would: with our inbound
    check and with the README's snippet."""
    headers = {k.lower(): v for k, v in hook.headers.items()}
    custom.verify(SignedRequest(body=hook.body, headers=headers), secret)
    check = readme_verify()
    assert check(hook.body, headers["x-orderstatus-signature"], secret)
    assert not check(hook.body, headers["x-orderstatus-signature"], secret + "x")
    assert not check(hook.body + b" ", headers["x-orderstatus-signature"], secret)
    body: dict[str, Any] = hook.json()
    assert headers["x-orderstatus-event-id"] == body["id"]
    assert headers["x-orderstatus-topic"] == body["topic"]
    return body


async def deliveries(database: Database) -> list[WebhookDelivery]:
    async with database.read() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_the_receiver_gets_each_event_once_signed_with_its_secret(
    api: ShopClient, receiver: WebhookReceiver, mail: MailServer, worker: Worker
) -> None:
    hook = await subscribe(api, receiver.url())
    mail.refuse.add("nobody@example.com")
    order = await create_order(api.http, email="nobody@example.com", number="W1")
    shipment = await fulfil(
        api.http, order, [(0, order["line_items"][0]["quantity"])], notify_customer=False
    )
    response = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "delivered", "occurred_at": soon(1), "external_id": "d1"},
    )
    assert response.status_code == 201, response.text
    # A repeat of the same event changes nothing and tells nothing.
    again = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "delivered", "occurred_at": soon(1), "external_id": "d1"},
    )
    assert again.status_code == 200

    done = await worker.drain(retries=True)
    assert done["webhook_sent"] == len(receiver.received)
    # A second run sends nothing again.
    assert await worker.drain() == Counter()

    bodies = [verified(h, hook["secret"]) for h in receiver.received]
    ids = [b["id"] for b in bodies]
    assert len(ids) == len(set(ids))
    topics = Counter(b["topic"] for b in bodies)
    assert topics == {
        "order.created": 1,
        "shipment.created": 1,
        "order.updated": 2,  # fulfilled, then delivered
        "shipment.status_changed": 1,
        "shipment.delivered": 1,
        "notification.failed": 1,  # the confirmation the mail server refused
    }
    by_topic = {b["topic"]: b for b in bodies}
    created = by_topic["order.created"]
    assert created["data"]["order"] == {
        **created["data"]["order"],
        "id": order["id"],
        "number": "W1",
        "fulfillment_status": "unfulfilled",
    }
    delivered = by_topic["shipment.delivered"]["data"]
    assert delivered["shipment"]["id"] == shipment["id"]
    assert delivered["shipment"]["status"] == "delivered"
    assert delivered["previous_status"] == "in_transit"
    assert delivered["order"]["delivery_status"] == "delivered"
    # Deliveries go out side by side, so they may arrive in any order: a receiver orders
    # them by the time of the change.
    in_order = sorted(bodies, key=lambda b: datetime.fromisoformat(b["created_at"]))
    updates = [b["data"] for b in in_order if b["topic"] == "order.updated"]
    assert [(u["order"]["fulfillment_status"], u["order"]["delivery_status"]) for u in updates] == [
        ("partial", "in_transit"),  # one of the order's items shipped
        ("partial", "delivered"),
    ]
    assert all(u["shipment"]["id"] == shipment["id"] for u in updates)
    failed = by_topic["notification.failed"]["data"]
    assert failed["notification"]["kind"] == "order_confirmation"
    assert failed["notification"]["channel"] == "email"
    assert "nobody@example.com" not in str(bodies)  # no customer data in the bodies
    assert all(b["created_at"].endswith("Z") and b["shop"] == "acme" for b in bodies)


async def test_a_body_signed_with_another_secret_or_changed_does_not_verify(
    api: ShopClient, receiver: WebhookReceiver, worker: Worker
) -> None:
    hook = await subscribe(api, receiver.url(), ["order.created"])
    await create_order(api.http)
    await worker.drain()
    [received] = receiver.received
    headers = {k.lower(): v for k, v in received.headers.items()}
    with pytest.raises(SignatureError):
        custom.verify(SignedRequest(body=received.body, headers=headers), "whsec_other")
    with pytest.raises(SignatureError):
        custom.verify(SignedRequest(body=received.body + b" ", headers=headers), hook["secret"])


async def test_only_subscribed_topics_go_and_only_to_the_shops_own_endpoints(
    api: ShopClient, other_api: ShopClient, receiver: WebhookReceiver, worker: Worker
) -> None:
    await subscribe(api, receiver.url("127.0.0.1", "/acme"), ["shipment.created"])
    await subscribe(other_api, receiver.url("127.0.0.1", "/other"), ALL_TOPICS)
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)])
    await worker.drain()
    assert [(h.path, h.json()["topic"]) for h in receiver.received] == [
        ("/acme", "shipment.created")
    ]


async def test_a_refusing_receiver_gets_it_again_with_the_same_event_id(
    api: ShopClient, receiver: WebhookReceiver, worker: Worker, database: Database
) -> None:
    await subscribe(api, receiver.url(), ["order.created"])
    receiver.answers = [500, 503]
    await create_order(api.http)
    done = await worker.drain(retries=True)
    assert webhooks(done) == Counter({"webhook_retry": 2, "webhook_sent": 1})
    assert len({h.json()["id"] for h in receiver.received}) == 1
    assert len(receiver.received) == 3
    [row] = await deliveries(database)
    assert (row.state, row.attempts, row.response_status) == ("sent", 3, 200)
    assert row.response_excerpt is not None and row.response_excerpt.startswith("answer 200")
    assert len(row.response_excerpt) <= 500


async def test_after_24_hours_of_refusals_the_delivery_fails_and_can_be_sent_again(
    api: ShopClient, receiver: WebhookReceiver, worker: Worker, database: Database
) -> None:
    await subscribe(api, receiver.url(), ["order.created"])
    receiver.answers = [500]
    await create_order(api.http)
    async with database.write() as session:
        await session.execute(
            update(WebhookDelivery).values(created_at=datetime.now(UTC) - timedelta(hours=24))
        )
    assert webhooks(await worker.drain(retries=True)) == Counter({"webhook_failed": 1})
    [row] = await deliveries(database)
    assert row.state == "failed" and row.response_status == 500
    assert row.last_error is not None and "gave up" in row.last_error

    async with database.write() as session:
        await outbound_webhooks.send_again(
            session=session, shop_id=api.shop_id, delivery_id=row.id, actor="test"
        )
    assert webhooks(await worker.drain()) == Counter({"webhook_sent": 1})
    first, second = receiver.received
    assert first.json()["id"] == second.json()["id"]
    [row] = await deliveries(database)
    assert row.state == "sent"


async def test_a_receiver_that_answers_410_gone_is_turned_off_until_turned_on(
    api: ShopClient, receiver: WebhookReceiver, worker: Worker, database: Database
) -> None:
    hook = await subscribe(api, receiver.url(), ["order.created"])
    other = await subscribe(api, receiver.url(path="/other"), ["order.created"])
    receiver.answers = [410]
    await create_order(api.http)
    await create_order(api.http)  # waiting when the answer comes: fails with it, unsent
    worker.webhooks.batch_size = 1  # one at a time (a batch in flight goes as it goes)
    done = await worker.drain(retries=True)
    # One try at the gone address; the other endpoint gets both orders.
    assert [h.path for h in receiver.received].count("/hooks") == 1
    assert [h.path for h in receiver.received].count("/other") == 2
    assert webhooks(done) == Counter({"webhook_failed": 1, "webhook_sent": 2})
    rows = [r for r in await deliveries(database) if r.endpoint_id == hook["id"]]
    assert [(r.state, r.response_status) for r in rows] == [("failed", 410), ("failed", None)]
    assert rows[0].last_error is not None and "410 Gone" in rows[0].last_error
    assert rows[1].last_error == "not sent: the webhook was turned off (answered 410 Gone)"

    listed = {w["id"]: w for w in (await api.http.get("/api/v1/webhooks")).json()["webhooks"]}
    assert listed[hook["id"]]["active"] is False
    assert listed[hook["id"]]["disabled_reason"] == "answered 410 Gone"
    assert listed[hook["id"]]["disabled_at"] is not None
    assert listed[other["id"]]["active"] is True and listed[other["id"]]["disabled_at"] is None

    # While it is off, nothing is queued for it.
    await create_order(api.http)
    assert webhooks(await worker.drain()) == Counter({"webhook_sent": 1})
    assert [h.path for h in receiver.received].count("/hooks") == 1

    # Turned on again: events from then on go; those it missed do not.
    turned = await api.http.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": True})
    assert turned.status_code == 200, turned.text
    assert (turned.json()["active"], turned.json()["disabled_reason"]) == (True, None)
    await create_order(api.http)
    assert webhooks(await worker.drain()) == Counter({"webhook_sent": 2})
    assert [h.path for h in receiver.received].count("/hooks") == 2


async def test_the_api_turns_a_webhook_off_and_on(
    api: ShopClient,
    other_api: ShopClient,
    receiver: WebhookReceiver,
    worker: Worker,
    database: Database,
) -> None:
    hook = await subscribe(api, receiver.url(), ["order.created"])
    await create_order(api.http)  # waiting for the worker when the webhook is turned off
    path = f"/api/v1/webhooks/{hook['id']}"
    off = await api.http.patch(path, json={"active": False})
    assert off.status_code == 200, off.text
    assert (off.json()["active"], off.json()["disabled_reason"]) == (
        False,
        "turned off by the API",
    )
    # Again: nothing changes (not even the time it was turned off).
    assert (await api.http.patch(path, json={"active": False})).json() == off.json()
    assert webhooks(await worker.drain()) == Counter()
    assert receiver.received == []
    [row] = await deliveries(database)
    assert (row.state, row.last_error) == (
        "failed",
        "not sent: the webhook was turned off (turned off by the API)",
    )
    # "Send again" while it is off sends nothing.
    async with database.write() as session:
        await outbound_webhooks.send_again(
            session=session, shop_id=api.shop_id, delivery_id=row.id, actor="test"
        )
    assert webhooks(await worker.drain()) == Counter({"webhook_failed": 1})
    [row] = await deliveries(database)
    assert (row.state, row.last_error) == ("failed", "the webhook is turned off")
    assert receiver.received == []
    # Another shop's webhook is not found; a body that is not a change is refused.
    assert (await other_api.http.patch(path, json={"active": True})).status_code == 404
    for bad in ({}, {"active": "maybe"}, {"active": True, "url": "https://x.example"}):
        refused = await api.http.patch(path, json=bad)
        assert refused.status_code == 422, refused.text
    assert (await api.http.patch(path, json={"active": True})).json()["active"] is True
    await create_order(api.http)
    assert webhooks(await worker.drain()) == Counter({"webhook_sent": 1})


async def test_a_private_address_is_never_called_without_the_setting(
    api: ShopClient, receiver: WebhookReceiver, database: Database, settings: Settings
) -> None:
    await subscribe(api, receiver.url("localhost"), ["order.created"])
    await create_order(api.http)
    worker = Worker(database, settings, FAST)  # webhooks_allow_private off
    try:
        assert webhooks(await worker.drain(retries=True)) == Counter({"webhook_failed": 1})
    finally:
        await worker.close()
    assert receiver.received == []
    [row] = await deliveries(database)
    assert row.attempts == 1
    assert row.last_error is not None and "private" in row.last_error


async def test_a_slow_receiver_is_tried_again_later(
    api: ShopClient, receiver: WebhookReceiver, database: Database, hook_settings: Settings
) -> None:
    await subscribe(api, receiver.url(), ["order.created"])
    await create_order(api.http)
    worker = Worker(database, hook_settings, FAST)
    worker.webhooks.timeout = 0.3
    receiver.delay = 1.0
    try:
        assert await worker.webhooks.run_once() == 1
        assert worker.webhooks.stats == Counter({"webhook_retry": 1})
    finally:
        await worker.close()
    [row] = await deliveries(database)
    assert row.state == "pending"
    assert row.last_error is not None and "no answer within 0.3 s" in row.last_error


async def test_the_api_adds_lists_and_removes_webhooks(
    api: ShopClient, other_api: ShopClient, database: Database
) -> None:
    created = await subscribe(api, "https://hooks.example.com/in", ["order.created"] * 2)
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["topics"] == ["order.created"]
    listed = (await api.http.get("/api/v1/webhooks")).json()["webhooks"]
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    assert (await other_api.http.get("/api/v1/webhooks")).json() == {"webhooks": []}
    gone = await other_api.http.delete(f"/api/v1/webhooks/{created['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert (await api.http.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 204
    assert (await api.http.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 404
    assert (await api.http.get("/api/v1/webhooks")).json() == {"webhooks": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "topics": ["order.created"]}, "url"),
        ({"url": "https://u:p@example.com/x", "topics": ["order.created"]}, "url"),
        ({"url": "https://example.com/" + "x" * 2000, "topics": ["order.created"]}, "url"),
        ({"url": "https:///x", "topics": ["order.created"]}, "url"),
        ({"url": "https://example.com/x", "topics": []}, "topics"),
        ({"url": "https://example.com/x", "topics": ["order.deleted"]}, "topics"),
        ({"url": "https://example.com/x"}, "topics"),
    ],
)
async def test_a_bad_webhook_is_refused_with_what_is_wrong(
    api: ShopClient, database: Database, body: dict[str, Any], field: str
) -> None:
    before = await row_counts(database)
    response = await api.http.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(name.startswith(field) for name in error["fields"])
    assert await row_counts(database) == before


async def test_an_order_that_is_refused_queues_no_delivery(
    api: ShopClient, receiver: WebhookReceiver, database: Database
) -> None:
    await subscribe(api, receiver.url(), ALL_TOPICS)
    await create_order(api.http, number="D1")
    response = await api.http.post("/api/v1/orders", json=order_payload(number="D1"))
    assert response.status_code == 409
    assert [r.topic for r in await deliveries(database)] == ["order.created"]


async def test_a_running_worker_delivers_as_events_happen(
    api: ShopClient, receiver: WebhookReceiver, database: Database, hook_settings: Settings
) -> None:
    await subscribe(api, receiver.url(), ["order.created"])
    worker = Worker(database, hook_settings, FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await create_order(api.http, number="R1")
        await wait_for(lambda: len(receiver.received) == 1, limit=10, what="the delivery")
    finally:
        stop.set()
        await running
    assert receiver.received[0].json()["data"]["order"]["number"] == "R1"
    [row] = await deliveries(database)
    assert row.state == "sent"


async def test_finished_deliveries_are_removed_after_30_days_and_waiting_ones_kept(
    api: ShopClient, receiver: WebhookReceiver, worker: Worker, database: Database
) -> None:
    await subscribe(api, receiver.url(), ["order.created"])
    await create_order(api.http, number="P1")
    await worker.drain()
    await create_order(api.http, number="P2")  # still waiting
    month_ago = datetime.now(UTC) - timedelta(days=31)
    async with database.write() as session:
        await session.execute(update(WebhookDelivery).values(created_at=month_ago))
    assert await worker.webhooks.prune() == 1
    [left] = await deliveries(database)
    assert left.state == "pending" and left.body["data"]["order"]["number"] == "P2"

"""Personal data over time: after the retention period, or on a customer's request,
nothing of the customer is left in any table, the outbox or the mailbox, while the shop's
figures stay the same."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from orderstatus import cli
from orderstatus.carriers.sources import custom as custom_source
from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import (
    Activity,
    Base,
    Fulfillment,
    LineItem,
    Notification,
    Order,
    Shop,
    TrackingEvent,
)
from orderstatus.domain.admin import TrackingInput
from orderstatus.notify.worker import Worker, WorkerConfig
from orderstatus.services import retention
from orderstatus.services.admin_orders import set_order_note
from orderstatus.services.fulfillments import update_tracking
from orderstatus.services.webhooks import set_webhook_secret
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order, fulfil
from tests.messaging import MailServer

FAST = WorkerConfig(
    backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5, poll_interval=0.05
)
SECRET = "whsec_" + "r" * 32
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

PII = {
    "first name": "Zqxfirst",
    "last name": "Zqxlast",
    "email": "zqx.person@example.com",
    "opt-in email": "zqx.updates@example.net",
    "phone": "+4741234599",
    "phone (national)": "41 23 45 99",
    "phone (digits)": "41234599",
    "phone (as shown)": "+47 41 23 45 99",
    "address line 1": "Zqxgate 77",
    "address line 2": "Zqxoppgang B",
    "company": "Zqxcompany AS",
    "shipping city": "Zqxby",
    "postcode": "Z-7341",
    "address phone": "+4799887766",
    "billing name": "Zqxbilling Payer",
    "billing address": "Zqxbillingveien 3",
    "card brand": "Zqxcard",
    "first tracking number": "ZQXOLD4455667",
    "tracking number": "ZQXTRACK123456",
    "carrier message": "Left with neighbour Zqxneighbour",
    "carrier postcode": "ZQ-9911",
    "exact position": "59.91234",
    "note for this order": "Zqxnote: the engraving says Zqxmormor",
}
CARD_DIGITS = "9876"
HASHED_COLUMNS = {"digest", "content_key", "status_token", "share_token", "claim_token", "key"}
"""Random or hashed values, where four digits may turn up by chance."""


def personal_order(**overrides: Any) -> dict[str, Any]:
    return order_payload(
        **{
            "email": PII["email"],
            "phone": PII["phone"],
            "customer": {"first_name": PII["first name"], "last_name": PII["last name"]},
            "shipping_address": {
                "name": f"{PII['first name']} {PII['last name']}",
                "company": PII["company"],
                "address1": PII["address line 1"],
                "address2": PII["address line 2"],
                "city": PII["shipping city"],
                "zip": PII["postcode"],
                "phone": PII["address phone"],
                "country_code": "NO",
            },
            "billing_address": {
                "name": PII["billing name"],
                "address1": PII["billing address"],
                "city": "Oslo",
                "country_code": "NO",
            },
            "payment": {"method": "card", "brand": PII["card brand"], "last4": CARD_DIGITS},
            **overrides,
        }
    )


async def scan(database: Database) -> list[str]:
    """Every personal string found in any text or JSON column of any table, with where."""
    found = []
    async with database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, (bool, int, Decimal, datetime)):
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if isinstance(value, (dict, list))
                        else str(value)
                    ).lower()
                    where = f"{table.name}.{column}#{row.get('id')}"
                    found += [f"{k} in {where}" for k, v in PII.items() if v.lower() in text]
                    if column not in HASHED_COLUMNS and CARD_DIGITS in text:
                        found.append(f"card digits in {where}")
    return found


async def figures(database: Database, shop_id: int) -> dict[str, Any]:
    """What the shop counts: orders, amounts, statuses, shipments, events, messages."""
    async with database.read() as session:
        orders = (
            await session.execute(
                select(
                    Order.number,
                    Order.created_at,
                    Order.currency,
                    Order.subtotal,
                    Order.total,
                    Order.fulfillment_status,
                    Order.delivery_status,
                )
                .where(Order.shop_id == shop_id)
                .order_by(Order.id)
            )
        ).all()
        shipments = (
            await session.execute(
                select(Fulfillment.carrier_code, Fulfillment.status, Fulfillment.created_at)
                .where(Fulfillment.shop_id == shop_id)
                .order_by(Fulfillment.id)
            )
        ).all()
        events = (
            await session.execute(
                select(TrackingEvent.status, TrackingEvent.occurred_at, TrackingEvent.city)
                .where(TrackingEvent.shop_id == shop_id)
                .order_by(TrackingEvent.id)
            )
        ).all()
        messages = (
            await session.execute(
                select(Notification.kind, Notification.channel, Notification.sent_at)
                .where(Notification.shop_id == shop_id)
                .order_by(Notification.id)
            )
        ).all()
        items = await session.scalar(
            select(func.sum(LineItem.quantity)).where(LineItem.shop_id == shop_id)
        )
    return {
        "orders": [tuple(r) for r in orders],
        "shipments": [tuple(r) for r in shipments],
        "events": [tuple(r) for r in events],
        "messages": [tuple(r) for r in messages],
        "items": items,
    }


@pytest.fixture
async def worker(database: Database, settings: Settings, mail: MailServer) -> AsyncIterator[Worker]:
    """E-mail goes to a real SMTP server; texts (no SMS provider) stay in the mailbox."""
    w = Worker(
        database,
        settings.model_copy(
            update={"smtp_url": mail.url, "smtp_from": "orders@status.example.test"}
        ),
        FAST,
    )
    yield w
    await w.close()


class Owner:
    """The customer's browser on their own page."""

    def __init__(self, api: ShopClient, order: dict[str, Any]) -> None:
        self.path = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]
        self.http = httpx.AsyncClient(transport=api.http._transport, base_url="https://testserver")
        signer = api.http._transport.app.state.pages.signer  # type: ignore[attr-defined]
        self.http.cookies.set("os_owner", signer.owner_value(order["id"]), path=self.path)

    async def post(self, action: str, **data: str) -> httpx.Response:
        page = await self.http.get(self.path)
        token = CSRF.search(page.text)
        assert token, "no form on the owner's page"
        return await self.http.post(
            f"{self.path}/{action}", data={"csrf_token": token.group(1), **data}
        )


async def a_customer_with_everything(
    api: ShopClient, database: Database, worker: Worker, mail: MailServer
) -> tuple[dict[str, Any], str]:
    """A delivered order holding every kind of personal data, made the ways the real
    system makes it; returns the order and its share link."""
    async with database.write() as session:
        await session.execute(
            update(Shop).where(Shop.id == api.shop_id).values(sms_confirmation_with_email=True)
        )
        await set_webhook_secret(session, shop_id=api.shop_id, source="custom", secret=SECRET)
    order = await create_order(api.http, **personal_order())
    shipment = await fulfil(
        api.http,
        order,
        [(0, 1), (1, 1), (2, 1)],
        carrier="ups",
        tracking_number=PII["first tracking number"],
    )
    async with database.write() as session:
        await update_tracking(
            session=session,
            shop_id=api.shop_id,
            order_id=order["id"],
            fulfillment_id=shipment["id"],
            data=TrackingInput(
                carrier="ups",
                tracking_number=PII["tracking number"],
                tracking_url=f"https://track.example/?n={PII['tracking number']}",
            ),
            actor="anna@acme.example",
        )
        await set_order_note(
            session=session,
            shop_id=api.shop_id,
            order_id=order["id"],
            body=PII["note for this order"],
            actor="anna@acme.example",
        )
    owner = Owner(api, order)
    assert (await owner.post("updates", email=PII["opt-in email"])).status_code < 400
    assert (await owner.post("share")).status_code < 400
    page = await owner.http.get(owner.path)
    assert PII["first name"] in page.text
    await owner.http.aclose()
    async with database.read() as session:
        share = (await session.get_one(Order, order["id"])).share_token
    assert share

    now = datetime.now(UTC)
    body = json.dumps(
        {
            "tracking_number": PII["tracking number"],
            "carrier": "ups",
            "events": [
                {
                    "status": "in_transit",
                    "occurred_at": (now + timedelta(minutes=1)).isoformat(),
                    "message": "Arrived at the hub",
                    "location": {"city": "Oslo", "country_code": "NO"},
                    "external_id": "e1",
                },
                {
                    "status": "delivered",
                    "occurred_at": (now + timedelta(minutes=2)).isoformat(),
                    "message": PII["carrier message"],
                    "location": {
                        "city": "Oslo",
                        "zip": PII["carrier postcode"],
                        "country_code": "NO",
                        "latitude": float(PII["exact position"]),
                        "longitude": 10.75123,
                    },
                    "external_id": "e2",
                },
            ],
        }
    ).encode()
    response = await api.http.post(
        "/webhooks/custom/acme",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Orderstatus-Signature": custom_source.sign(body, SECRET),
        },
    )
    assert response.status_code < 300, response.text
    await worker.drain()
    async with database.read() as session:
        states = (
            await session.scalars(
                select(Notification.state).where(Notification.order_id == order["id"])
            )
        ).all()
        delivered = await session.get_one(Order, order["id"])
    assert delivered.delivery_status == "delivered"
    assert "held" in states and "sent" in states, states  # the text waits in the mailbox
    assert any(PII["first name"] in m.part("plain") for m in mail.received)
    # Everything the test looks for is really there before.
    there = await scan(database)
    missing = {k for k in PII if not any(f.startswith(f"{k} in ") for f in there)}
    assert missing == set()
    return order, share


async def test_after_the_retention_period_nothing_personal_is_left(
    api: ShopClient, database: Database, worker: Worker, mail: MailServer
) -> None:
    order, share = await a_customer_with_everything(api, database, worker, mail)
    open_order = await create_order(api.http, **personal_order(number="OPEN1"))
    await worker.drain()
    other = await create_order(api.http, number="OTHER1")  # kari@example.com
    page = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]
    before = await figures(database, api.shop_id)

    now = datetime.now(UTC)
    assert await retention.sweep(database, days=30, now=now + timedelta(days=29)) == 0
    assert await retention.sweep(database, days=30, now=now + timedelta(days=31)) == 1
    assert await retention.sweep(database, days=30, now=now + timedelta(days=31)) == 0

    async with database.read() as session:
        kept = {o.number: o for o in (await session.scalars(select(Order))).all()}
    assert kept[order["number"]].customer_first_name == ""
    # Orders not finished keep their data, as do other customers'.
    assert kept["OPEN1"].email == PII["email"]
    assert kept["OTHER1"].email == "kari@example.com"
    async with database.write() as session:
        await retention.anonymise_order(session, order_id=open_order["id"], actor="test")
    assert await scan(database) == []
    after = await figures(database, api.shop_id)
    assert after == before

    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as stranger:
        assert (await stranger.get(page)).status_code == 404
        assert (await stranger.get(f"/shared/{share}")).status_code == 404
        assert (
            await stranger.get("/orders/" + other["status_page_url"].rsplit("/", 1)[1])
        ).status_code == 200
    got = await api.http.get(f"/api/v1/orders/{order['id']}")
    assert got.status_code == 200
    assert got.json()["totals"] == order["totals"]
    async with database.read() as session:
        mailbox = (
            await session.scalars(select(Notification).where(Notification.state == "held"))
        ).all()
        history = (
            await session.scalars(
                select(Activity.message).where(
                    Activity.order_id == order["id"], Activity.kind == "customer_data_removed"
                )
            )
        ).all()
    assert mailbox == []
    assert history == ["Customer data removed after the retention period"]


def run_cli(*argv: str, settings: Settings) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {
        "ORDERSTATUS_DATABASE_URL": settings.database_url,
        "ORDERSTATUS_VAR_DIR": str(settings.var_dir),
        "ORDERSTATUS_SECRET_KEY": "s" * 40,
    }
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        for name, value in env.items():
            patch.setenv(name, value)
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


async def test_an_erasure_request_removes_the_customer_everywhere_and_is_audited(
    api: ShopClient, database: Database, worker: Worker, mail: MailServer, settings: Settings
) -> None:
    order, _share = await a_customer_with_everything(api, database, worker, mail)
    other = await create_order(api.http, number="OTHER1")
    await worker.drain()
    # A new order not sent yet: its messages must never go.
    waiting = await create_order(api.http, **personal_order(number="WAIT1"))
    before = await figures(database, api.shop_id)
    sent_before = len(mail.received)

    code, out, err = await asyncio.to_thread(
        run_cli,
        "export-customer",
        "--shop",
        "acme",
        "--email",
        PII["email"].upper(),
        settings=settings,
    )
    assert code == 0, err
    data = json.loads(out)
    assert [o["number"] for o in data["orders"]] == [order["number"], "WAIT1"]
    first = data["orders"][0]
    assert first["shipping_address"]["address1"] == PII["address line 1"]
    assert first["update_email"] == PII["opt-in email"]
    assert first["shipments"][0]["tracking_number"] == PII["tracking number"]
    assert PII["carrier message"] in out and PII["note for this order"] in out
    assert "kari@example.com" not in out

    code, _out, err = await asyncio.to_thread(
        run_cli, "erase", "--shop", "acme", "--phone", PII["phone (national)"], settings=settings
    )
    assert code == 0, err
    assert "customer data removed from 2 orders" in err
    assert await scan(database) == []
    assert await worker.drain() == Counter()
    assert len(mail.received) == sent_before
    after = await figures(database, api.shop_id)
    assert after == before
    async with database.read() as session:
        states = (
            await session.scalars(
                select(Notification.state).where(Notification.order_id == waiting["id"])
            )
        ).all()
        audit = (
            await session.scalars(select(Activity).where(Activity.kind == "customer_erased"))
        ).all()
        kept = await session.get_one(Order, other["id"])
    assert set(states) == {"skipped"}
    assert [(a.actor, a.data) for a in audit] == [("command line", {"orders": 2, "by": "phone"})]
    assert kept.email == "kari@example.com"

    code, out, _err = await asyncio.to_thread(
        run_cli, "export-customer", "--shop", "acme", "--email", PII["email"], settings=settings
    )
    assert code == 0 and json.loads(out)["orders"] == []


async def test_the_worker_sweeps_only_when_a_retention_period_is_set(
    api: ShopClient, database: Database, settings: Settings
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1), (1, 1), (2, 1)], carrier="ups")
    response = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "delivered", "occurred_at": datetime.now(UTC).isoformat()},
    )
    assert response.status_code == 201, response.text
    async with database.write() as session:
        await session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(updated_at=datetime.now(UTC) - timedelta(days=8))
        )
    stop = asyncio.Event()
    assert retention.start_retention(database, settings, stop) is None
    task = retention.start_retention(
        database, settings.model_copy(update={"retain_pii_days": 7}), stop
    )
    assert task is not None
    try:
        for _ in range(200):
            async with database.read() as session:
                if (await session.get_one(Order, order["id"])).email is None:
                    break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    async with database.read() as session:
        assert (await session.get_one(Order, order["id"])).customer_first_name == ""


async def test_a_cancelled_order_is_anonymised_after_the_retention_period(
    api: ShopClient, database: Database
) -> None:
    """A shop platform's cancellation finishes an order however far its shipments got."""
    cancelled = await create_order(api.http, **personal_order(number="GONE1"))
    still_open = await create_order(api.http, number="OPEN2")
    long_ago = datetime.now(UTC) - timedelta(days=40)
    async with database.write() as session:
        await session.execute(
            update(Order)
            .where(Order.id == cancelled["id"])
            .values(cancelled_at=long_ago, updated_at=long_ago)
        )
        await session.execute(
            update(Order).where(Order.id == still_open["id"]).values(updated_at=long_ago)
        )
    assert await retention.sweep(database, days=30) == 1
    async with database.read() as session:
        gone = await session.get_one(Order, cancelled["id"])
        kept = await session.get_one(Order, still_open["id"])
    assert (gone.customer_first_name, gone.email) == ("", None)
    assert kept.email is not None

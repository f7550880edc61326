"""Stalled shipments: a carrier silent for longer than usual is found by the worker's pass,
shown as "No recent updates", listed under "Needs attention", told to the customer only
when the shop asks for it, and cleared by the carrier's next event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import event, func, select

from orderstatus.db.engine import Database
from orderstatus.db.models import Fulfillment, Notification, Order, TrackingEvent
from orderstatus.domain.delivery import (
    DEFAULT_SILENCE,
    MIN_GAPS,
    STALL_PERCENTILE,
    SilenceRules,
    Stage,
    learned_silence,
    percentile,
)
from orderstatus.domain.notifications import Kind
from orderstatus.services.stalls import learn_silences, stall_pass
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil

NOW = datetime.now(UTC)
DEFAULTS = SilenceRules({})


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


async def shipment(
    api: ShopClient, events: list[tuple[str, str]], *, carrier: str = "bring", **order: Any
) -> tuple[dict[str, Any], int]:
    created = await create_order(api.http, **order)
    tracking = "370722150004528013" if carrier == "bring" else "1Z999AA10123456784"
    fulfilment = await fulfil(
        api.http, created, [(0, 1)], carrier=carrier, tracking_number=tracking
    )
    for index, (status, when) in enumerate(events):
        posted = await api.http.post(
            f"/api/v1/fulfillments/{fulfilment['id']}/events",
            json={"status": status, "occurred_at": when, "external_id": f"e{index}"},
        )
        assert posted.status_code == 201, posted.text
    return created, int(fulfilment["id"])


async def status_of(database: Database, fulfillment_id: int) -> str:
    async with database.read() as session:
        return (await session.get_one(Fulfillment, fulfillment_id)).status


async def stall_messages(database: Database) -> list[Notification]:
    async with database.read() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.kind == Kind.NO_RECENT_UPDATES.value)
        )
        return list(rows)


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/orders/\d+">#(\d+)</a>', html)


async def test_silence_beyond_the_default_is_no_recent_updates(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    quiet, quiet_id = await shipment(api, [("in_transit", ago(days=3, hours=2))])
    _fresh, fresh_id = await shipment(
        api, [("in_transit", ago(days=2, hours=20))], email="ola@example.com"
    )
    door, door_id = await shipment(
        api,
        [("in_transit", ago(days=2)), ("out_for_delivery", ago(hours=25))],
        email="per@example.com",
    )
    _done, done_id = await shipment(
        api,
        [("in_transit", ago(days=12)), ("delivered", ago(days=10))],
        email="liv@example.com",
    )

    own = await create_order(api.http, email="own@example.com")
    local = await fulfil(api.http, own, [(0, 1)], carrier="other", tracking_number="LOCAL-1")
    await api.http.post(
        f"/api/v1/fulfillments/{local['id']}/events",
        json={"status": "in_transit", "occurred_at": ago(days=5)},
    )

    report = await stall_pass(database, DEFAULTS)

    assert report.marked == 2
    assert await status_of(database, int(local["id"])) == "in_transit"
    assert await status_of(database, quiet_id) == "no_recent_updates"
    assert await status_of(database, door_id) == "no_recent_updates"
    assert await status_of(database, fresh_id) == "in_transit"
    assert await status_of(database, done_id) == "delivered"
    # Nothing more to find: a second pass marks nothing again.
    assert (await stall_pass(database, DEFAULTS)).found == 0

    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as stranger:
        stranger.cookies.set("os_lang", "en", domain="testserver.local")
        page = await stranger.get("/orders/" + quiet["status_page_url"].rsplit("/", 1)[1])
    assert page.status_code == 200
    assert "No recent updates" in page.text
    assert "most likely still on its way" in page.text

    everything = await staff.http.get("/admin/orders")
    assert re.search(r"Needs attention\s*<span class=\"count\">2</span>", everything.text)
    attention = await staff.http.get("/admin/orders", params={"state": "needs_attention"})
    assert listed(attention.text) == [door["number"], quiet["number"]]
    # Staff see on the order's timeline who said so.
    detail = await staff.http.get(f"/admin/orders/{quiet['id']}")
    assert "Stall watch: the carrier has been silent longer than usual" in detail.text
    # Shop-wide off by default: nobody was told.
    assert await stall_messages(database) == []


async def test_the_customer_is_told_once_when_the_shop_turns_it_on(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    settings = await staff.http.get("/admin/notifications")
    assert 'id="kind-no_recent_updates" name="kinds" value="no_recent_updates">' in settings.text
    kinds = [k.value for k in Kind]
    saved = await staff.post("/admin/notifications/settings", {"kinds": kinds})
    assert saved.status_code == 303
    order, fulfillment_id = await shipment(api, [("in_transit", ago(days=4))])

    await stall_pass(database, DEFAULTS)
    [message] = await stall_messages(database)
    assert message.recipient == "kari@example.com" and message.fulfillment_id == fulfillment_id

    # The carrier speaks again: the stall is gone, and nothing more is sent.
    posted = await api.http.post(
        f"/api/v1/fulfillments/{fulfillment_id}/events",
        json={"status": "in_transit", "occurred_at": ago(hours=1), "external_id": "later"},
    )
    assert posted.status_code == 201
    assert await status_of(database, fulfillment_id) == "in_transit"
    async with database.read() as session:
        summary = await session.scalar(select(Order.delivery_status).where(Order.id == order["id"]))
    assert summary == "in_transit"
    assert (await stall_pass(database, DEFAULTS)).found == 0

    # Silent again, much later: shown again, but the customer was told once.
    await stall_pass(database, DEFAULTS, now=NOW + timedelta(days=4))
    assert await status_of(database, fulfillment_id) == "no_recent_updates"
    assert len(await stall_messages(database)) == 1

    # Turned off again: the settings page shows it unchecked.
    saved = await staff.post(
        "/admin/notifications/settings", {"kinds": [k for k in kinds if k != "no_recent_updates"]}
    )
    page = await staff.http.get("/admin/notifications")
    assert 'id="kind-no_recent_updates" name="kinds" value="no_recent_updates">' in page.text


async def test_a_late_carrier_report_of_an_older_scan_keeps_the_stall(
    api: ShopClient, database: Database
) -> None:
    _order, fulfillment_id = await shipment(
        api, [("carrier_picked_up", ago(days=5)), ("in_transit", ago(days=4))]
    )
    await stall_pass(database, DEFAULTS)
    assert await status_of(database, fulfillment_id) == "no_recent_updates"
    # An event from before the silence, reported late, says nothing new.
    await api.http.post(
        f"/api/v1/fulfillments/{fulfillment_id}/events",
        json={"status": "in_transit", "occurred_at": ago(days=4, hours=12), "external_id": "old"},
    )
    assert await status_of(database, fulfillment_id) == "no_recent_updates"


async def history(database: Database, shop_id: int, carrier: str, gaps_hours: list[float]) -> None:
    """A delivered shipment of ``carrier`` per gap: two in-transit scans that far apart."""
    async with database.write() as session:
        order = Order(
            shop_id=shop_id,
            number="H1",
            status_token="h" * 40,
            currency="NOK",
            customer_first_name="H",
            shipping_address={"country_code": "NO", "zip": "0155"},
            payment_method="card",
            subtotal=Decimal(0),
            shipping_total=Decimal(0),
            tax_total=Decimal(0),
            total=Decimal(0),
        )
        session.add(order)
        await session.flush()
        for index, gap in enumerate(gaps_hours):
            start = NOW - timedelta(days=20, hours=index)
            row = Fulfillment(
                shop_id=shop_id,
                order_id=order.id,
                carrier_code=carrier,
                tracking_number=f"H{index}",
                status="delivered",
            )
            session.add(row)
            await session.flush()
            for n, (status, at) in enumerate(
                [
                    ("in_transit", start),
                    ("in_transit", start + timedelta(hours=gap)),
                    ("delivered", start + timedelta(hours=gap + 1)),
                ]
            ):
                session.add(
                    TrackingEvent(
                        shop_id=shop_id,
                        fulfillment_id=row.id,
                        status=status,
                        occurred_at=at,
                        source="api",
                        content_key=f"{index}-{n}",
                    )
                )


async def test_thresholds_are_learned_per_carrier_and_stage(
    api: ShopClient, database: Database
) -> None:
    # Bring's scans come every 10 to 29 hours: beyond ~28 h its silence is unusual.
    gaps = [10.0 + (i % 20) for i in range(MIN_GAPS + 10)]
    await history(database, api.shop_id, "bring", gaps)
    rules = await learn_silences(database)
    # The in-transit gaps, plus the one hour from the last scan to the delivery.
    seconds = [g * 3600 for g in gaps] + [3600.0] * len(gaps)
    expected = learned_silence(percentile(seconds, STALL_PERCENTILE))
    allowed = rules.allowed("bring", Stage.IN_TRANSIT)
    assert abs((allowed - expected).total_seconds()) < 3600
    assert timedelta(hours=26) < allowed < timedelta(hours=29)
    # Too little history: the defaults stand.
    assert rules.allowed("ups", Stage.IN_TRANSIT) == DEFAULT_SILENCE[Stage.IN_TRANSIT]
    assert rules.allowed("bring", Stage.OUT_FOR_DELIVERY) == DEFAULT_SILENCE[Stage.OUT_FOR_DELIVERY]

    _b, bring_id = await shipment(api, [("in_transit", ago(days=1, hours=12))])
    _u, ups_id = await shipment(
        api, [("in_transit", ago(days=1, hours=12))], carrier="ups", email="u@example.com"
    )
    await stall_pass(database, rules)
    assert await status_of(database, bring_id) == "no_recent_updates"
    assert await status_of(database, ups_id) == "in_transit"


async def test_a_pass_is_one_query(api: ShopClient, database: Database) -> None:
    await shipment(api, [("in_transit", ago(days=1))])
    rules = SilenceRules(
        {
            ("bring", Stage.IN_TRANSIT): timedelta(days=2),
            ("ups", Stage.OUT_FOR_DELIVERY): timedelta(hours=8),
        }
    )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        report = await stall_pass(database, rules)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert report.found == 0
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(TrackingEvent)) == 1

"""Insights: a period's orders, deliveries on time and late, days to delivery, exceptions,
messages, page views and message clicks, on a page with charts and tables and as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select, update

from orderstatus.db.engine import Database
from orderstatus.db.models import Notification, Order, PageCount, Shop
from orderstatus.domain.insights import Period
from orderstatus.domain.links import page_link
from orderstatus.services.insights import load_summary, refresh_daily
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff, browser_for
from tests.integration.helpers import create_order, fulfil

NOW = datetime.now(UTC)
BRING = "370722150004528013"


def at(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def counter(api: ShopClient) -> Any:
    return api.http._transport.app.state.pages.counter  # type: ignore[attr-defined]


async def test_the_period_in_figures(api: ShopClient, staff: Staff, database: Database) -> None:
    # Deliveries "in the future" are not allowed: move the clock back instead.
    first = await create_order(api.http)
    ship = await fulfil(api.http, first, [(0, 1)], carrier="bring", tracking_number=BRING)
    for status, when, extra in (
        ("in_transit", at(days=3), {"estimated_delivery": at(days=1)}),
        ("delayed", at(days=2), {}),
        ("delivered", at(hours=1), {}),  # two days after the first estimate: late
    ):
        posted = await api.http.post(
            f"/api/v1/fulfillments/{ship['id']}/events",
            json={"status": status, "occurred_at": when, **extra},
        )
        assert posted.status_code == 201, posted.text
    second = await create_order(api.http, email="ola@example.com")
    ship2 = await fulfil(api.http, second, [(0, 1)], carrier="bring", tracking_number=BRING)
    for status, when, extra in (
        ("in_transit", at(hours=5), {"estimated_delivery": (NOW + timedelta(days=2)).isoformat()}),
        ("delivered", at(hours=2), {}),  # before the estimate: on time
    ):
        await api.http.post(
            f"/api/v1/fulfillments/{ship2['id']}/events",
            json={"status": status, "occurred_at": when, **extra},
        )
    await create_order(api.http, email="per@example.com")  # not shipped

    # The first customer opened their page twice and followed links in an e-mail, a text
    # and a push notification.
    path = "/orders/" + first["status_page_url"].rsplit("/", 1)[1]
    async with browser_for(api) as customer:
        assert (await customer.get(path)).status_code == 200
        assert (await customer.get(path)).status_code == 200
        assert (await customer.get(f"{path}?via=e")).status_code == 200
        assert (await customer.get(f"{path}?via=s")).status_code == 200
        assert (await customer.get(f"{path}?via=p")).status_code == 200
    # Staff previews are not views.
    assert (await staff.http.get(f"{path}?preview=1")).status_code == 200
    assert await counter(api).flush(database) >= 3

    async with database.write() as session:
        await session.execute(update(Notification).values(state="sent", sent_at=NOW))
        failing = await session.scalar(select(Notification.id).order_by(Notification.id).limit(1))
        await session.execute(
            update(Notification).where(Notification.id == failing).values(state="failed")
        )
        # One of them went to a device as a push.
        pushed = await session.scalar(
            select(Notification.id).order_by(Notification.id.desc()).limit(1)
        )
        await session.execute(
            update(Notification).where(Notification.id == pushed).values(channel="push")
        )
    # Two workers refreshing at once: one writes, neither fails.
    written = await asyncio.gather(refresh_daily(database), refresh_daily(database))
    assert max(written) > 0

    page = await staff.http.get("/admin/insights")
    assert page.status_code == 200, page.text
    html = re.sub(r"\s+", " ", page.text)
    assert "<dt>Orders</dt><dd>3</dd>" in html
    assert "<dt>Shipments</dt><dd>2</dd>" in html
    assert "1 on time, 1 late" in html
    assert "<dt>Page views</dt><dd>5</dd>" in html
    assert "1 in e-mails, 1 in text messages, 1 in push notifications" in html
    assert "of 2 delivered orders" in html
    assert "<dt>Opened before delivery</dt><dd>50 %</dd>" in html
    # Days to delivery per carrier and country; exceptions as a chart and a table.
    assert re.search(
        r'<th scope="row">Bring</th><td data-label="To">Norway</td>'
        r'<td class="num" data-label="Deliveries">2</td>',
        html,
    )
    assert '<svg class="chart"' in html and 'aria-hidden="true"' in html
    assert '<th scope="row">Delayed</th><td class="num" data-label="Shipments">1</td>' in html
    # Messages per channel, each cell labelled for a phone's stacked rows.
    assert re.search(
        r'E-mail</th><td class="num" data-label="Sent">\d+</td>'
        r'<td class="num" data-label="Failed">1</td>',
        html,
    )
    assert re.search(r'Push</th><td class="num" data-label="Sent">1</td>', html)
    # Drawn on the server, from nowhere else.
    assert "<rect x=" in html
    assert all(u.startswith("https://testserver") for u in re.findall(r'src="(http[^"]+)"', html))

    today = NOW.date().isoformat()
    exported = await staff.http.get("/admin/insights.csv", params={"from": today, "to": today})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1 and rows[0]["day"] == today
    assert rows[0]["orders"] == "3" and rows[0]["page_views"] == "5"
    assert rows[0]["clicks_email"] == rows[0]["clicks_sms"] == rows[0]["clicks_push"] == "1"
    assert rows[0]["sent_push"] == "1"


async def test_days_are_each_shops_own_days(
    api: ShopClient, other_api: ShopClient, staff: Staff, database: Database
) -> None:
    """Los Angeles is 7 hours behind UTC in June; Kolkata 5½ hours ahead."""
    shops = [
        # 22:30 on 9 June and 09:00 on 10 June in Los Angeles
        (
            api,
            "America/Los_Angeles",
            [datetime(2026, 6, 10, 5, 30, tzinfo=UTC), datetime(2026, 6, 10, 16, tzinfo=UTC)],
        ),
        # 23:50 on 9 June and 00:10 on 10 June in Kolkata
        (
            other_api,
            "Asia/Kolkata",
            [datetime(2026, 6, 9, 18, 20, tzinfo=UTC), datetime(2026, 6, 9, 18, 40, tzinfo=UTC)],
        ),
    ]
    for client, zone, times in shops:
        async with database.write() as session:
            await session.execute(
                update(Shop).where(Shop.id == client.shop_id).values(timezone=zone)
            )
        for when in times:
            order = await create_order(client.http)
            async with database.write() as session:
                await session.execute(
                    update(Order).where(Order.id == order["id"]).values(created_at=when)
                )
            counter(client).add(client.shop_id, order["id"], "view", now=when)
        assert await counter(client).flush(database) == 2
    await refresh_daily(database, now=datetime(2026, 6, 12, tzinfo=UTC))

    june = Period(date(2026, 6, 8), date(2026, 6, 11))
    for client, zone, _times in shops:
        async with database.read() as session:
            summary = await load_summary(session, shop_id=client.shop_id, span=june)
        assert [(d.day.day, d.orders, d.views) for d in summary.days] == [
            (8, 0, 0),
            (9, 1, 1),
            (10, 1, 1),
            (11, 0, 0),
        ], zone
    # The admin's CSV says the same, by the shop's days.
    exported = await staff.http.get(
        "/admin/insights.csv", params={"from": "2026-06-09", "to": "2026-06-10"}
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["day"], r["orders"], r["page_views"]) for r in rows] == [
        ("2026-06-09", "1", "1"),
        ("2026-06-10", "1", "1"),
    ]


async def test_page_counts_keep_nothing_about_the_visitor(
    api: ShopClient, database: Database
) -> None:
    async with database.read() as session:
        columns = await session.run_sync(
            lambda s: {c["name"] for c in inspect(s.connection()).get_columns("page_counts")}
        )
    assert columns == {"order_id", "day", "kind", "shop_id", "count"}
    order = await create_order(api.http)
    token = order["status_page_url"].rsplit("/", 1)[1]
    link = page_link(
        "https://testserver",
        token,
        secret_key="s" * 40,
        expires_at=NOW + timedelta(days=5),
        via="s",
    )
    async with browser_for(api) as customer:
        opened = await customer.get(link.removeprefix("https://testserver"))
        assert opened.status_code in (200, 303)
        if opened.status_code == 303:
            assert "via" not in opened.headers["location"]
    await counter(api).flush(database)
    async with database.read() as session:
        counts = {(r.kind, r.count) for r in (await session.scalars(select(PageCount))).all()}
    assert ("click_sms", 1) in counts


async def test_a_period_is_chosen_and_bad_dates_are_ignored(staff: Staff) -> None:
    for params in (
        {"days": "7"},
        {"days": "90"},
        {"from": "2026-01-01", "to": "2026-01-31"},
        {"from": "nonsense", "to": "2026-13-40"},
        {"from": "1900-01-01"},
        {"days": "100000"},
    ):
        page = await staff.http.get("/admin/insights", params=params)
        assert page.status_code == 200, params
        csv_file = await staff.http.get("/admin/insights.csv", params=params)
        assert csv_file.status_code == 200, params
    week = await staff.http.get("/admin/insights", params={"days": "7"})
    assert 'href="/admin/insights?days=7" aria-current="page"' in week.text
    rows = (await staff.http.get("/admin/insights.csv", params={"days": "7"})).text.splitlines()
    assert len(rows) == 1 + 7

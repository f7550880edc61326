"""Predicted delivery: when the carrier gives no date, the page shows a range from our own
deliveries on the same carrier and lane, marked as ours; with too little history it shows
nothing; a carrier's date wins, and staff are told when it is later than usual."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import Fulfillment, LaneTransit, Order
from orderstatus.domain.delivery import (
    MIN_DELIVERIES,
    add_business_days,
    percentile,
)
from orderstatus.services.predictions import refresh_lanes
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff, browser_for
from tests.integration.helpers import create_order, fulfil

BRING = "370722150004528013"


def _shipped_on(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


async def delivered_history(
    database: Database,
    shop_id: int,
    business_days: list[int],
    *,
    carrier: str = "bring",
    postcode: str = "5003",
    country: str = "NO",
) -> None:
    """One delivered shipment per entry, taking that many business days (sent Mondays)."""
    monday = date(2026, 11, 2)
    async with database.write() as session:
        for index, days in enumerate(business_days):
            sent = monday - timedelta(weeks=1 + index % 8)
            order = Order(
                shop_id=shop_id,
                number=f"H{postcode}-{index}",
                status_token=f"{postcode}{index:036d}",
                currency="NOK",
                customer_first_name="H",
                shipping_address={"country_code": country, "zip": postcode},
                payment_method="card",
                subtotal=Decimal(0),
                shipping_total=Decimal(0),
                tax_total=Decimal(0),
                total=Decimal(0),
            )
            session.add(order)
            await session.flush()
            session.add(
                Fulfillment(
                    shop_id=shop_id,
                    order_id=order.id,
                    carrier_code=carrier,
                    tracking_number=f"H{index}",
                    status="delivered",
                    created_at=_shipped_on(sent),
                    last_event_at=_shipped_on(add_business_days(sent, days)) + timedelta(hours=5),
                    last_event_status="delivered",
                )
            )


def spread(n: int) -> list[int]:
    """Transit times of 1 to 5 business days, most often 2 or 3."""
    pattern = [1, 2, 2, 2, 3, 3, 3, 4, 4, 5]
    return [pattern[i % len(pattern)] for i in range(n)]


def english_day(day: date) -> str:
    return format_date(day, "EEEE d MMMM", locale="en")


async def shipped_today(api: ShopClient, **extra: Any) -> dict[str, Any]:
    address = {
        "name": "Kari Nordmann",
        "address1": "Strandkaien 1",
        "city": "Bergen",
        "zip": "5004",
        "country_code": "NO",
    }
    order = await create_order(api.http, shipping_address=address)
    await fulfil(api.http, order, [(0, 1)], carrier="bring", tracking_number=BRING, **extra)
    return order


def page_path(order: dict[str, Any]) -> str:
    return "/orders/" + order["status_page_url"].rsplit("/", 1)[1]


async def test_a_range_from_our_own_deliveries(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    history = spread(MIN_DELIVERIES + 10)
    await delivered_history(database, api.shop_id, history)
    # The postcode area and the whole country; two workers at once do no harm.
    assert max(await asyncio.gather(refresh_lanes(database), refresh_lanes(database))) == 2
    order = await shipped_today(api)
    today = datetime.now(UTC).date()
    earliest = add_business_days(today, math.floor(percentile(history, 0.1)))
    latest = add_business_days(today, math.ceil(percentile(history, 0.9)))
    assert (earliest, latest) == (add_business_days(today, 1), add_business_days(today, 5))
    async with browser_for(api) as customer:
        page = await customer.get(page_path(order))
    assert page.status_code == 200
    assert f"{english_day(earliest)} \u2013 {english_day(latest)}" in page.text
    assert "(our estimate, from past deliveries)" in page.text


async def test_a_lane_falls_back_to_its_country_and_too_little_history_shows_nothing(
    api: ShopClient, database: Database
) -> None:
    # Plenty to Oslo, a few to Bergen: Bergen gets the country's range.
    await delivered_history(database, api.shop_id, spread(MIN_DELIVERIES), postcode="0150")
    await delivered_history(database, api.shop_id, [1] * 5, postcode="5003")
    await refresh_lanes(database)
    order = await shipped_today(api)
    async with browser_for(api) as customer:
        page = await customer.get(page_path(order))
    assert "(our estimate, from past deliveries)" in page.text


async def test_too_little_history_shows_nothing(api: ShopClient, database: Database) -> None:
    await delivered_history(database, api.shop_id, spread(MIN_DELIVERIES - 1))
    assert await refresh_lanes(database) == 0
    order = await shipped_today(api)
    async with browser_for(api) as customer:
        page = await customer.get(page_path(order))
    assert page.status_code == 200
    assert "our estimate" not in page.text and "Estimated delivery" not in page.text


async def test_the_carriers_date_wins_and_staff_hear_when_it_is_late(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    await delivered_history(database, api.shop_id, spread(MIN_DELIVERIES))
    await refresh_lanes(database)
    order = await shipped_today(api)
    shipment = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()["fulfillments"][0]
    late = datetime.now(UTC) + timedelta(days=20)
    posted = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={
            "status": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(),
            "estimated_delivery": late.isoformat(),
        },
    )
    assert posted.status_code == 201, posted.text
    async with browser_for(api) as customer:
        page = await customer.get(page_path(order))
        assert "our estimate" not in page.text
        assert "later than usual" not in page.text
    preview = await staff.http.get(f"{page_path(order)}?preview=1")
    assert preview.status_code == 200
    assert "may arrive later than usual" in preview.text
    assert "our estimate" not in preview.text


async def test_weekend_carriers_count_calendar_days(api: ShopClient, database: Database) -> None:
    """Sent on a Friday, delivered on the Monday: 1 business day for Bring, which rests at
    weekends, 3 days for UPS, which does not."""
    friday = date(2026, 10, 30)
    async with database.write() as session:
        for index in range(MIN_DELIVERIES * 2):
            carrier = "bring" if index % 2 else "ups"
            order = Order(
                shop_id=api.shop_id,
                number=f"W{index}",
                status_token=f"w{index:039d}",
                currency="NOK",
                customer_first_name="W",
                shipping_address={"country_code": "NO", "zip": "5003"},
                payment_method="card",
                subtotal=Decimal(0),
                shipping_total=Decimal(0),
                tax_total=Decimal(0),
                total=Decimal(0),
            )
            session.add(order)
            await session.flush()
            session.add(
                Fulfillment(
                    shop_id=api.shop_id,
                    order_id=order.id,
                    carrier_code=carrier,
                    tracking_number=f"W{index}",
                    status="delivered",
                    created_at=_shipped_on(friday),
                    last_event_at=_shipped_on(friday + timedelta(days=3)),
                )
            )
    await refresh_lanes(database)
    async with database.read() as session:
        lanes = (await session.scalars(select(LaneTransit))).all()
    assert {(lane.carrier_code, lane.area, lane.low, lane.high) for lane in lanes} == {
        ("bring", "50", 1, 1),
        ("bring", "*", 1, 1),
        ("ups", "50", 3, 3),
        ("ups", "*", 3, 3),
    }

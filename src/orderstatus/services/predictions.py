"""Predicted delivery: how long a carrier's deliveries on a lane took, kept small.

The worker refreshes ``lane_transit`` every hour from the deliveries of the last
:data:`HISTORY_DAYS`: one query reads each delivered shipment's carrier, the day it was
handed over and delivered, where it went and where its carrier first scanned it; the
domain counts its transit days (business days for carriers that rest at weekends, a rule
that is the domain's, not SQL's) and takes the percentiles; the table is replaced in one
transaction. A status page then costs one primary-key lookup, and only for a shipment
whose carrier gave no date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from orderstatus.db.engine import Database
from orderstatus.db.models import Fulfillment, LaneTransit, Order, TrackingEvent
from orderstatus.db.statements import only_one
from orderstatus.domain.delivery import (
    Lane,
    Prediction,
    TransitStats,
    counts_business_days,
    from_today,
    group_transit_days,
    lane_stats,
    postcode_area,
    predict,
    transit_days,
    transit_stats,
)
from orderstatus.domain.statuses import FINAL

HISTORY_DAYS = 180

_LANES = cast(Table, LaneTransit.__table__)
_EVENTS = cast(Table, TrackingEvent.__table__)
_SHIPMENTS = cast(Table, Fulfillment.__table__)
_ORDERS = cast(Table, Order.__table__)


def destination(address: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The destination country and postcode area of a shipping address."""
    address = address or {}
    country = address.get("country_code")
    country = country.upper() if isinstance(country, str) and len(country) == 2 else None
    postcode = address.get("zip")
    return country, postcode_area(country, postcode if isinstance(postcode, str) else None)


def lane_of(
    carrier: str | None,
    origin: str | None,
    address: Mapping[str, Any] | None,
) -> Lane | None:
    """A shipment's lane: its carrier, the country its carrier first scanned it in (the
    destination's, for a shipment not scanned abroad yet) and where it goes."""
    country, area = destination(address)
    if carrier is None or country is None:
        return None
    return Lane(carrier, (origin or country).upper(), country, area or "*")


def _first_country() -> Any:
    """The country of the shipment's first carrier event that names one."""
    return (
        select(_EVENTS.c.country_code)
        .where(_EVENTS.c.fulfillment_id == _SHIPMENTS.c.id, _EVENTS.c.country_code.is_not(None))
        .order_by(_EVENTS.c.occurred_at, _EVENTS.c.id)
        .limit(1)
        .scalar_subquery()
    )


async def refresh_lanes(database: Database, *, now: datetime | None = None) -> int:
    """Replace the lane statistics with those of the recent deliveries; how many lanes
    have enough history to predict."""
    now = now or datetime.now(UTC)
    query = (
        select(
            _SHIPMENTS.c.carrier_code,
            _SHIPMENTS.c.created_at,
            _SHIPMENTS.c.last_event_at,
            _ORDERS.c.shipping_address,
            _first_country().label("origin"),
        )
        .join(_ORDERS, _ORDERS.c.id == _SHIPMENTS.c.order_id)
        .where(
            _SHIPMENTS.c.status.in_([s.value for s in FINAL]),
            _SHIPMENTS.c.cancelled_at.is_(None),
            _SHIPMENTS.c.carrier_code.is_not(None),
            _SHIPMENTS.c.last_event_at >= now - timedelta(days=HISTORY_DAYS),
        )
    )
    samples: list[tuple[Lane, float]] = []
    async with database.read() as session:
        for carrier, shipped, delivered, address, origin in await session.execute(query):
            lane = lane_of(carrier, origin, address)
            if lane is None or delivered is None:
                continue
            business = counts_business_days(carrier)
            took = transit_days(shipped.date(), delivered.date(), business=business)
            samples.append((lane, float(took)))
    rows = []
    for lane, durations in group_transit_days(samples).items():
        stats = transit_stats(durations)
        if stats is not None:
            rows.append(
                {
                    "carrier_code": lane.carrier,
                    "origin": lane.origin,
                    "destination": lane.destination,
                    "area": lane.area,
                    "low": stats.low,
                    "high": stats.high,
                    "deliveries": stats.deliveries,
                    "refreshed_at": now,
                }
            )
    async with database.write() as session:
        if not await only_one(session, "lane_transit"):
            return 0  # another worker is writing the same figures
        await session.execute(delete(_LANES))
        if rows:
            await session.execute(insert(_LANES), rows)
    return len(rows)


async def known_lanes(
    session: AsyncSession | AsyncConnection, lanes: Iterable[Lane]
) -> dict[Lane, TransitStats]:
    """The stored statistics of these lanes and of their whole countries (one query)."""
    wanted = {k for lane in lanes for k in (lane, lane.country_wide())}
    if not wanted:
        return {}
    rows = await session.execute(
        select(_LANES).where(
            or_(
                *(
                    and_(
                        _LANES.c.carrier_code == lane.carrier,
                        _LANES.c.origin == lane.origin,
                        _LANES.c.destination == lane.destination,
                        _LANES.c.area == lane.area,
                    )
                    for lane in sorted(wanted, key=lambda x: (x.carrier, x.destination, x.area))
                )
            )
        )
    )
    return {
        Lane(r.carrier_code, r.origin, r.destination, r.area): TransitStats(
            r.low, r.high, r.deliveries
        )
        for r in rows
    }


def usual_delivery(
    lane: Lane | None,
    shipped: datetime,
    known: Mapping[Lane, TransitStats],
    today: date | None = None,
) -> Prediction | None:
    """Our range for a shipment on ``lane`` handed over at ``shipped``, from ``today``
    on, or None."""
    if lane is None:
        return None
    stats = lane_stats(lane, known)
    if stats is None:
        return None
    usual = predict(shipped.date(), stats, business=counts_business_days(lane.carrier))
    return from_today(usual, today or datetime.now(UTC).date())


def noon(day: date) -> datetime:
    """A day as a time that is that day in every shop's time zone (for the page)."""
    return datetime.combine(day, time(12), tzinfo=UTC)


__all__: Sequence[str] = [
    "destination",
    "known_lanes",
    "lane_of",
    "noon",
    "refresh_lanes",
    "usual_delivery",
]

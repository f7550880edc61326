"""Insights: the figures a merchant learns from, kept per shop and day.

Two parts:

- **Page counts.** Each status-page view, and each arrival through a link in one of our
  messages, adds one to a counter of (order, day, kind): nothing about who opened it is
  kept (no cookie, address or fingerprint). So as not to slow the page down, a web
  process adds in memory (:class:`PageCounter`, by quarter hour) and writes what it
  gathered every few seconds in one statement (an upsert that adds); a process that dies
  loses at most those seconds of counts.
- **Daily figures.** The worker sums orders, shipments, deliveries (days taken, on time
  against the carrier's first estimate), exceptions, messages sent and failed, views and
  clicks into ``daily_stats`` every few minutes, the last :data:`REFRESH_DAYS` days again
  each time (the whole history on the first run). The Insights page then sums a few
  hundred rows of one shop, whatever its number of orders.

Days are the shop's own days, in its time zone (``shops.timezone``): an order placed at
23:30 in Los Angeles counts on that day, not on the next one as it would in UTC. Times are
summed by quarter hour of UTC and each quarter hour is given to its local day, since every
zone's offset is a whole number of quarter hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, Table, and_, delete, func, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.engine import Database
from orderstatus.db.models import (
    DailyStat,
    Fulfillment,
    Notification,
    Order,
    PageCount,
    Shop,
    TrackingEvent,
)
from orderstatus.db.statements import dialect_of, only_one, per_dialect
from orderstatus.db.statements import insert as upsert
from orderstatus.domain.insights import (
    CLICK_KEYS,
    EXCEPTION_STATUSES,
    Metric,
    Period,
    Summary,
    delivery_key,
    on_time,
    summarise,
)
from orderstatus.domain.statuses import FINAL
from orderstatus.i18n import zone

log = logging.getLogger("orderstatus.insights")

FLUSH_EVERY = 5.0
REFRESH_EVERY = 600.0
REFRESH_DAYS = 7
FIRST_REFRESH_DAYS = 400

_COUNTS = cast(Table, PageCount.__table__)
_STATS = cast(Table, DailyStat.__table__)
QUARTER = 900
"""Seconds: times are summed by quarter hour of UTC before they are given to a local day."""


async def shop_zones(session: AsyncSession, shop_ids: Iterable[int] | None = None) -> Zones:
    """The time zone of each shop (all of them, or those named)."""
    query = select(Shop.id, Shop.timezone)
    if shop_ids is not None:
        query = query.where(Shop.id.in_(sorted(set(shop_ids))))
    return {shop_id: zone(name) for shop_id, name in await session.execute(query)}


def local_day(zones: Zones, shop_id: int, quarter: int) -> date:
    """The shop's day of a quarter hour (UTC seconds since 1970 // :data:`QUARTER`)."""
    when = datetime.fromtimestamp(quarter * QUARTER, UTC)
    return when.astimezone(zones.get(shop_id, UTC)).date()


def quarter_of(when: datetime) -> int:
    return int(when.timestamp()) // QUARTER


# ---- page counts ----


def _upsert_counts(dialect: str) -> Any:
    statement = upsert(_COUNTS, dialect)
    return statement.on_conflict_do_update(
        index_elements=["order_id", "day", "kind"],
        set_={"count": _COUNTS.c.count + statement.excluded.count},
    )


_UPSERT_COUNTS = per_dialect(_upsert_counts)


async def add_page_counts(
    session: AsyncSession, counts: dict[tuple[int, int, date, str], int]
) -> None:
    """Add counts of (shop, order, day, kind) in one statement."""
    if not counts:
        return
    rows = [
        {"shop_id": shop, "order_id": order, "day": day, "kind": kind, "count": n}
        for (shop, order, day, kind), n in sorted(counts.items())
    ]
    await session.execute(_UPSERT_COUNTS[dialect_of(session)], rows)


class PageCounter:
    """Page counts gathered in memory and written together (one per web process)."""

    def __init__(self) -> None:
        self.pending: Counter[tuple[int, int, int, str]] = Counter()
        """By (shop, order, quarter hour, kind): the shop's day is found when written."""

    def add(self, shop_id: int, order_id: int, kind: str, now: datetime | None = None) -> None:
        self.pending[(shop_id, order_id, quarter_of(now or datetime.now(UTC)), kind)] += 1

    async def flush(self, database: Database) -> int:
        if not self.pending:
            return 0
        taken, self.pending = self.pending, Counter()
        try:
            async with database.write() as session:
                zones = await shop_zones(session, (shop for shop, *_ in taken))
                counts: Counter[tuple[int, int, date, str]] = Counter()
                for (shop, order, quarter, kind), n in taken.items():
                    counts[(shop, order, local_day(zones, shop, quarter), kind)] += n
                await add_page_counts(session, dict(counts))
        except Exception:
            # Kept for the next flush (an order erased meanwhile is dropped then).
            self.pending.update(taken)
            raise
        return len(taken)

    async def run(
        self, database: Database, stop: asyncio.Event, every: float = FLUSH_EVERY
    ) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            try:
                await self.flush(database)
            except Exception:
                log.warning("page counts not written yet; trying again in %.0f s", every)
                if len(self.pending) > 100_000:
                    self.pending.clear()
        with contextlib.suppress(Exception):
            await self.flush(database)


# ---- daily figures ----


def _quarter(column: Any, dialect: str) -> ColumnElement[Any]:
    """The quarter hour of a timestamp (UTC seconds since 1970 // QUARTER), in SQL."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column) / QUARTER)
    return sql_cast(func.strftime("%s", column), Integer) // QUARTER


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


Figures = dict[tuple[int, date, str, str], int]
Zones = dict[int, ZoneInfo]


async def _counted(
    session: AsyncSession,
    figures: Figures,
    zones: Zones,
    metric: Metric,
    column: Any,
    shop: Any,
    where: Iterable[ColumnElement[bool]],
    key: Any = None,
) -> None:
    quarter = _quarter(column, dialect_of(session))
    columns = [shop, quarter] + ([key] if key is not None else [])
    rows = await session.execute(select(*columns, func.count()).where(*where).group_by(*columns))
    for row in rows:
        shop_id = row[0]
        label = str(row[2]) if key is not None else ""
        day = local_day(zones, shop_id, int(row[1]))
        figures[(shop_id, day, metric.value, label)] += int(row[-1])


async def _deliveries(
    session: AsyncSession, figures: Figures, zones: Zones, since: datetime
) -> None:
    """Days taken, on time or late, and whether the page had been opened by then."""
    rows = await session.execute(
        select(
            Fulfillment.shop_id,
            Fulfillment.order_id,
            Fulfillment.carrier_code,
            Fulfillment.created_at,
            Fulfillment.last_event_at,
            Fulfillment.first_estimated_delivery,
            Order.shipping_address,
        )
        .join(Order, Order.id == Fulfillment.order_id)
        .where(
            Fulfillment.status.in_([s.value for s in FINAL]),
            Fulfillment.cancelled_at.is_(None),
            Fulfillment.last_event_at >= since,
        )
    )
    delivered_orders: dict[tuple[int, int], date] = {}
    for shop, order, carrier, shipped, delivered, promised, address in rows:
        if delivered is None:
            continue
        day = delivered.astimezone(zones.get(shop, UTC)).date()
        country = str((address or {}).get("country_code") or "?").upper()[:2]
        name = carrier or "other"
        days = max((delivered - shipped).days, 0)
        figures[(shop, day, Metric.DELIVERED.value, delivery_key(name, country, days))] += 1
        if promised is not None:
            kept = on_time(day, promised.date())
            figures[(shop, day, (Metric.ON_TIME if kept else Metric.LATE).value, name)] += 1
        known = delivered_orders.get((shop, order))
        delivered_orders[(shop, order)] = day if known is None else min(known, day)
    if not delivered_orders:
        return
    first_view: dict[int, date] = {}
    ids = sorted({order for _shop, order in delivered_orders})
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for order_id, day in await session.execute(
            select(PageCount.order_id, func.min(PageCount.day))
            .where(PageCount.order_id.in_(chunk), PageCount.kind == "view")
            .group_by(PageCount.order_id)
        ):
            first_view[order_id] = _as_date(day)
    for (shop, order), day in delivered_orders.items():
        figures[(shop, day, Metric.DELIVERED_ORDERS.value, "")] += 1
        opened = first_view.get(order)
        if opened is not None and opened <= day:
            figures[(shop, day, Metric.OPENED_BEFORE.value, "")] += 1


async def refresh_daily(
    database: Database, *, now: datetime | None = None, days: int = REFRESH_DAYS
) -> int:
    """Sum the last ``days`` days again (the whole history when nothing was summed yet);
    how many figures were written."""
    now = now or datetime.now(UTC)
    async with database.read() as session:
        if await session.scalar(select(_STATS.c.shop_id).limit(1)) is None:
            days = max(days, FIRST_REFRESH_DAYS)
        first_day = now.date() - timedelta(days=days - 1)
        # A day from ``first_day`` on begins up to 14 hours before it does in UTC
        # (UTC+14): all of it is summed again, and nothing earlier is kept.
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        zones = await shop_zones(session)
        figures: Figures = defaultdict(int)
        await _counted(
            session,
            figures,
            zones,
            Metric.ORDERS,
            Order.created_at,
            Order.shop_id,
            [Order.created_at >= since],
        )
        await _counted(
            session,
            figures,
            zones,
            Metric.SHIPMENTS,
            Fulfillment.created_at,
            Fulfillment.shop_id,
            [Fulfillment.created_at >= since, Fulfillment.cancelled_at.is_(None)],
        )
        await _counted(
            session,
            figures,
            zones,
            Metric.EXCEPTIONS,
            TrackingEvent.occurred_at,
            TrackingEvent.shop_id,
            [
                TrackingEvent.occurred_at >= since,
                TrackingEvent.status.in_([s.value for s in EXCEPTION_STATUSES]),
            ],
            key=TrackingEvent.status,
        )
        for metric, state in ((Metric.SENT, "sent"), (Metric.FAILED, "failed")):
            await _counted(
                session,
                figures,
                zones,
                metric,
                Notification.created_at,
                Notification.shop_id,
                [Notification.created_at >= since, Notification.state == state],
                key=Notification.channel,
            )
        await _deliveries(session, figures, zones, since)
        for shop, day, kind, total in await session.execute(
            select(PageCount.shop_id, PageCount.day, PageCount.kind, func.sum(PageCount.count))
            .where(PageCount.day >= first_day)
            .group_by(PageCount.shop_id, PageCount.day, PageCount.kind)
        ):
            when = _as_date(day)
            if kind == "view":
                figures[(shop, when, Metric.VIEWS.value, "")] += int(total)
            elif kind in CLICK_KEYS:
                figures[(shop, when, Metric.CLICKS.value, CLICK_KEYS[kind])] += int(total)
    rows = [
        {"shop_id": shop, "day": day, "metric": metric, "key": key[:100], "value": value}
        for (shop, day, metric, key), value in figures.items()
        if day >= first_day
    ]
    async with database.write() as session:
        if not await only_one(session, "daily_stats"):
            return 0  # another worker is writing the same figures
        await session.execute(delete(_STATS).where(_STATS.c.day >= first_day))
        for start in range(0, len(rows), 5000):
            await session.execute(insert(_STATS), rows[start : start + 5000])
    return len(rows)


async def run_refresh(
    database: Database, stop: asyncio.Event, every: float = REFRESH_EVERY
) -> None:
    """Refresh the daily figures until ``stop`` is set."""
    while not stop.is_set():
        try:
            await refresh_daily(database)
        except Exception:
            log.exception("insights refresh failed; trying again in %.0f s", every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


def start_refresh(database: Database, stop: asyncio.Event) -> asyncio.Task[None]:
    """The daily figures' refresh in the background of a worker."""
    return asyncio.create_task(run_refresh(database, stop), name="insights")


# ---- the page ----


async def load_summary(session: AsyncSession, *, shop_id: int, span: Period) -> Summary:
    """A shop's figures over a period: one query on the daily figures."""
    rows = await session.execute(
        select(_STATS.c.day, _STATS.c.metric, _STATS.c.key, _STATS.c.value).where(
            and_(
                _STATS.c.shop_id == shop_id,
                _STATS.c.day >= span.start,
                _STATS.c.day <= span.end,
            )
        )
    )
    return summarise(((_as_date(d), m, k, int(v)) for d, m, k, v in rows), span)


CSV_COLUMNS = (
    "day",
    "orders",
    "shipments",
    "delivered",
    "on_time",
    "late",
    "exceptions",
    "sent_email",
    "failed_email",
    "sent_sms",
    "failed_sms",
    "sent_push",
    "failed_push",
    "page_views",
    "clicks_email",
    "clicks_sms",
    "clicks_push",
)


async def summary_csv(session: AsyncSession, *, shop_id: int, span: Period) -> str:
    """The period's figures, a row per day (for a spreadsheet)."""
    rows = await session.execute(
        select(_STATS.c.day, _STATS.c.metric, _STATS.c.key, _STATS.c.value).where(
            _STATS.c.shop_id == shop_id, _STATS.c.day >= span.start, _STATS.c.day <= span.end
        )
    )
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for day, metric, key, value in rows:
        column = {
            Metric.ORDERS: "orders",
            Metric.SHIPMENTS: "shipments",
            Metric.DELIVERED: "delivered",
            Metric.ON_TIME: "on_time",
            Metric.LATE: "late",
            Metric.EXCEPTIONS: "exceptions",
            Metric.SENT: f"sent_{key}",
            Metric.FAILED: f"failed_{key}",
            Metric.VIEWS: "page_views",
            Metric.CLICKS: f"clicks_{key}",
        }.get(Metric(metric))
        if column in CSV_COLUMNS:
            per_day[_as_date(day)][column] += int(value)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day in span.days:
        figures = per_day.get(day, Counter())
        writer.writerow([day.isoformat(), *(figures[c] for c in CSV_COLUMNS[1:])])
    return out.getvalue()

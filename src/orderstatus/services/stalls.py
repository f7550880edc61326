"""Stalled shipments: a carrier silent for longer than is usual for it, found by the worker.

How long is usual is learned from our own history (domain.delivery): the 95th percentile
of the gaps between a carrier's events at a stage, over the last :data:`HISTORY_DAYS`.
That is one aggregate query, run every :data:`LEARN_EVERY` seconds: on PostgreSQL the
percentile is ``percentile_cont`` in the database, so only one row per carrier and stage
comes back; on SQLite (a single small shop) the database computes the gaps and Python
the percentile, with the same interpolation.

A pass is then one query over the index on ``(status, last_event_at)``: one branch per
carrier and stage with a learned limit, one for the defaults. Each shipment it finds gets
a "no recent updates" event through :func:`services.tracking.record_events`, the one way
a status changes: the page, the order's summary, the live update and the opt-in
notification follow from it in one transaction. The event is dated just after the last
carrier event, so any newer carrier event sorts after it and clears the stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select

from orderstatus.db.engine import Database
from orderstatus.db.models import Fulfillment, TrackingEvent
from orderstatus.db.types import UTCDateTime
from orderstatus.domain.delivery import (
    DEFAULT_SILENCE,
    MIN_GAPS,
    STAGE_OF,
    STALL_PERCENTILE,
    SilenceRules,
    Stage,
    learned_silence,
    percentile,
    statuses_at,
)
from orderstatus.domain.inputs import TrackingEventInput
from orderstatus.domain.statuses import EventStatus
from orderstatus.services.predictions import refresh_lanes
from orderstatus.services.tracking import EventItem, RecordedEvent, record_events

log = logging.getLogger("orderstatus.stalls")

OTHER_CARRIER = "other"
STALL_SOURCE = "stall"
"""The source of the events a stall pass writes (never counted as a carrier's gap)."""
HISTORY_DAYS = 90
LEARN_EVERY = 3600.0
PASS_EVERY = 300.0
MARK_BATCH = 200
PASS_LIMIT = 5000
"""Shipments marked in one pass at most; a pass that fills it runs again at once."""

_EVENTS = cast(Table, TrackingEvent.__table__)
_SHIPMENTS = cast(Table, Fulfillment.__table__)


def _gaps(since: datetime) -> Any:
    """Each carrier event with the carrier time of the next one of its shipment."""
    following = func.lead(_EVENTS.c.occurred_at, type_=UTCDateTime()).over(
        partition_by=_EVENTS.c.fulfillment_id, order_by=(_EVENTS.c.occurred_at, _EVENTS.c.id)
    )
    stage = case(
        *((_EVENTS.c.status.in_([s.value for s in statuses_at(st)]), st.value) for st in Stage),
        else_=None,
    )
    return (
        select(
            _SHIPMENTS.c.carrier_code.label("carrier"),
            stage.label("stage"),
            _EVENTS.c.occurred_at.label("at"),
            following.label("next_at"),
        )
        .join(_SHIPMENTS, _SHIPMENTS.c.id == _EVENTS.c.fulfillment_id)
        .where(
            _EVENTS.c.source != STALL_SOURCE,
            _EVENTS.c.occurred_at >= since,
            _SHIPMENTS.c.carrier_code.is_not(None),
        )
        .subquery("gaps")
    )


async def learn_silences(database: Database, *, now: datetime | None = None) -> SilenceRules:
    """How long each carrier may be silent at each stage, from the last 90 days."""
    now = now or datetime.now(UTC)
    gaps = _gaps(now - timedelta(days=HISTORY_DAYS))
    found = and_(gaps.c.stage.is_not(None), gaps.c.next_at.is_not(None))
    learned: dict[tuple[str, Stage], timedelta] = {}
    async with database.read() as session:
        if database.engine.dialect.name == "postgresql":
            seconds: ColumnElement[Any] = func.extract("epoch", gaps.c.next_at - gaps.c.at)
            rows = await session.execute(
                select(
                    gaps.c.carrier,
                    gaps.c.stage,
                    func.percentile_cont(STALL_PERCENTILE).within_group(seconds),
                )
                .where(found)
                .group_by(gaps.c.carrier, gaps.c.stage)
                .having(func.count() >= MIN_GAPS)
            )
            for carrier, stage, p95 in rows:
                learned[(carrier, Stage(stage))] = learned_silence(float(p95))
        else:
            seconds = (func.julianday(gaps.c.next_at) - func.julianday(gaps.c.at)) * 86400.0
            by_key: dict[tuple[str, str], list[float]] = {}
            rows = await session.execute(
                select(gaps.c.carrier, gaps.c.stage, seconds.label("seconds")).where(found)
            )
            for carrier, stage, gap in rows:
                by_key.setdefault((carrier, stage), []).append(float(gap))
            for (carrier, stage), values in by_key.items():
                if len(values) >= MIN_GAPS:
                    p95 = percentile(values, STALL_PERCENTILE)
                    learned[(carrier, Stage(stage))] = learned_silence(p95)
    return SilenceRules(learned)


def stalled_query(rules: SilenceRules, now: datetime, limit: int = PASS_LIMIT) -> Any:
    """Open shipments whose carrier has been silent for longer than allowed: one
    statement, each branch a range on the ``(status, last_event_at)`` index."""
    status = _SHIPMENTS.c.status
    carrier = _SHIPMENTS.c.carrier_code
    last = _SHIPMENTS.c.last_event_at
    branches: list[ColumnElement[bool]] = []
    for stage in Stage:
        statuses = sorted(s.value for s in statuses_at(stage))
        own = sorted(c for (c, st) in rules.learned if st is stage)
        for code in own:
            allowed = rules.learned[(code, stage)]
            branches.append(and_(status.in_(statuses), last < now - allowed, carrier == code))
        default = and_(status.in_(statuses), last < now - DEFAULT_SILENCE[stage])
        if own:
            default = and_(default, or_(carrier.is_(None), carrier.not_in(own)))
        branches.append(default)
    return (
        select(_SHIPMENTS.c.id, _SHIPMENTS.c.shop_id, last, status)
        .where(
            or_(*branches),
            _SHIPMENTS.c.cancelled_at.is_(None),
            _SHIPMENTS.c.tracking_number.is_not(None),
            # The shop's own delivery ("Other") has no carrier to fall silent.
            carrier.is_not(None),
            carrier != OTHER_CARRIER,
        )
        .order_by(_SHIPMENTS.c.id)
        .limit(limit)
    )


@dataclass(frozen=True, slots=True)
class StallReport:
    found: int
    marked: int


async def stall_pass(
    database: Database,
    rules: SilenceRules,
    *,
    now: datetime | None = None,
    limit: int = PASS_LIMIT,
) -> StallReport:
    """Find the shipments that stalled since the last pass (one query) and mark them."""
    now = now or datetime.now(UTC)
    async with database.read() as session:
        rows = (await session.execute(stalled_query(rules, now, limit))).all()
    marked = 0
    for start in range(0, len(rows), MARK_BATCH):
        batch = rows[start : start + MARK_BATCH]
        items = [
            EventItem(
                shop_id=row.shop_id,
                fulfillment_id=row.id,
                data=TrackingEventInput(
                    status=EventStatus.NO_RECENT_UPDATES,
                    occurred_at=row.last_event_at + timedelta(seconds=1),
                ),
                source=STALL_SOURCE,
            )
            for row in batch
            if EventStatus(row.status) in STAGE_OF
        ]
        async with database.write() as session:
            results = await record_events(session=session, items=items)
        marked += sum(
            1
            for r in results
            if isinstance(r, RecordedEvent)
            and r.created
            and r.status is EventStatus.NO_RECENT_UPDATES
        )
    return StallReport(found=len(rows), marked=marked)


async def run_stall_watch(
    database: Database,
    stop: asyncio.Event,
    *,
    interval: float = PASS_EVERY,
    learn_every: float = LEARN_EVERY,
) -> None:
    """Pass every ``interval`` seconds until ``stop`` is set, learning again every
    ``learn_every`` seconds (the allowed silences, and the lanes' transit times that
    predicted deliveries come from)."""
    rules: SilenceRules | None = None
    learned_at = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        full = False
        try:
            if rules is None or loop.time() - learned_at >= learn_every:
                rules = await learn_silences(database)
                await refresh_lanes(database)
                learned_at = loop.time()
            report = await stall_pass(database, rules)
            full = report.found >= PASS_LIMIT
            if report.marked:
                log.info("stall pass: %d shipments with no recent updates", report.marked)
        except Exception:
            log.exception("stall pass failed; trying again in %.0f s", interval)
        if full:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def start_stall_watch(database: Database, stop: asyncio.Event) -> asyncio.Task[None]:
    """The stall pass in the background of a worker."""
    return asyncio.create_task(run_stall_watch(database, stop), name="stall-watch")


__all__ = [
    "STALL_SOURCE",
    "StallReport",
    "learn_silences",
    "run_stall_watch",
    "stall_pass",
    "stalled_query",
    "start_stall_watch",
]

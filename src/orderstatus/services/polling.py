"""Asking carriers about open shipments, for shops that gave us their credentials.

The optional extra ``orderstatus[carriers]`` brings the karrio SDK and its connectors;
without it the rest of the service works and the poller says what is missing. karrio is
imported here only, and only when a poll runs.

A poll claims the shipments that are due, asks each carrier through karrio (a blocking
client, so each request runs in a thread), records what came back through
:func:`~orderstatus.services.tracking.record_event` (which drops repeats) and schedules
the next poll: soon after news, then less and less often while nothing happens, and
further out again after errors. One shipment's failure never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import import_module
from typing import Any, NamedTuple

from sqlalchemy import case, or_, select, update

from orderstatus.carriers.connectors import (
    CONNECTOR_OF_CARRIER,
    CONNECTORS,
    Connector,
    delivery_estimate,
    event_input,
)
from orderstatus.carriers.geocode import Gazetteer
from orderstatus.db.engine import Database
from orderstatus.db.models import CarrierAccount, Fulfillment, Order
from orderstatus.domain.inputs import TrackingEventInput
from orderstatus.domain.statuses import EventStatus
from orderstatus.services.tracking import record_event

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'orderstatus[carriers]'"

FIRST_INTERVAL = timedelta(minutes=15)
"""How soon to ask again after news (and the first step of the quiet back-off)."""
MAX_INTERVAL = timedelta(hours=6)
ERROR_INTERVAL = timedelta(minutes=30)
"""The wait after a first failure; it doubles with each failure in a row."""
MAX_ERROR_INTERVAL = timedelta(hours=24)
JITTER = 0.1
"""Each wait is stretched or shrunk by up to this share, so shipments spread out."""
LEASE = timedelta(minutes=10)
"""A claimed shipment is skipped by other workers this long, even if its poller dies."""
MAX_AGE = timedelta(days=60)
"""Older shipments are left to the merchant: carriers purge their tracking data."""

CLOSED = (EventStatus.DELIVERED, EventStatus.PICKED_UP, EventStatus.RETURNED_TO_SENDER)


class PollingUnavailable(RuntimeError):
    """The optional carrier extra is not installed."""


class Outcome(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_FOUND = "not_found"
    ERROR = "error"


@dataclass(slots=True)
class PollOptions:
    """How a worker reaches the carriers; one per worker, kept for its life."""

    server_urls: Mapping[str, str] = field(default_factory=dict)
    """Base URLs by connector name, replacing the carrier's own (a sandbox, a test server)."""
    test_mode: bool = False
    """Use the carriers' sandboxes (karrio's ``test_mode``)."""
    batch_size: int = 100
    concurrency: int = 4
    request_timeout: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    token_cache: Any = None
    """karrio's cache of OAuth tokens, so a token is fetched once, not once per request."""
    publish: Callable[[dict[int, int]], Awaitable[None]] | None = None
    """Told {order id: page version} after each commit that changed an order, so open
    status pages update (the broker's ``publish``)."""


@dataclass(slots=True)
class PollReport:
    """What one poll did, for logs and tests."""

    polled: int = 0
    changed: int = 0
    new_events: int = 0
    not_found: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    """Fulfilment id → what went wrong."""

    @property
    def failed(self) -> int:
        return len(self.errors)


class _Due(NamedTuple):
    id: int
    shop_id: int
    tracking_number: str
    connector: str
    credentials: dict[str, Any]
    next_poll_at: datetime | None
    last_polled_at: datetime | None
    poll_failures: int


@dataclass(slots=True)
class _Answer:
    outcome: Outcome
    inputs: list[tuple[TrackingEventInput, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Karrio:
    sdk: Any
    lib: Any
    installed: frozenset[str]


@cache
def _load() -> _Karrio:
    try:
        from loguru import logger as karrio_logger

        if "KARRIO_LOG_LEVEL" not in os.environ:
            # karrio logs every carrier error with a traceback; this module reports them.
            karrio_logger.disable("karrio")
        import karrio.lib as karrio_lib
        import karrio.sdk as karrio_sdk
    except ImportError as exc:
        raise PollingUnavailable(
            f"carrier polling needs the karrio SDK, which is not installed: {EXTRA_HINT}"
        ) from exc
    installed = frozenset(CONNECTORS) & frozenset(karrio_sdk.gateway.providers)
    return _Karrio(sdk=karrio_sdk, lib=karrio_lib, installed=installed)


def polling_unavailable() -> str | None:
    """Why carrier polling cannot run here, or None when it can."""
    try:
        karrio = _load()
    except PollingUnavailable as exc:
        return str(exc)
    if not karrio.installed:
        return f"no karrio carrier connector is installed ({EXTRA_HINT})"
    return None


@cache
def _redirected(settings_class: type, base_url: str) -> type:
    """The connector's own settings, sending its requests to ``base_url`` instead.

    Every connector builds its URLs from its settings' ``server_url``, so overriding that
    one property is enough to reach a sandbox or a local test server.
    """
    url = base_url.rstrip("/")
    namespace = {"__module__": __name__, "server_url": property(lambda _: url)}
    return type(settings_class.__name__, (settings_class,), namespace)


@cache
def _code_status(connector: str) -> Callable[[str], str | None]:
    """The connector's own table from event codes to karrio statuses, when it has one."""
    try:
        find = import_module(f"karrio.providers.{connector}.units").TrackingStatus.find
    except (ImportError, AttributeError):
        return lambda _code: None
    return lambda code: find(code).name


def _gateway(karrio: _Karrio, due: _Due, options: PollOptions) -> Any:
    connector = CONNECTORS[due.connector]
    provider = karrio.sdk.gateway.providers[connector.name]
    settings_class = provider.Settings
    base_url = options.server_urls.get(connector.name)
    if base_url:
        settings_class = _redirected(settings_class, base_url)
    values = {
        **connector.defaults,
        **{k: v for k, v in due.credentials.items() if k in connector.fields},
    }
    settings = settings_class(
        **values, id=f"{due.shop_id}:{connector.name}", test_mode=options.test_mode
    )
    return karrio.sdk.gateway[connector.name].create(settings, cache=options.token_cache)


def _ask(
    karrio: _Karrio, due: _Due, options: PollOptions
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One tracking request through karrio (blocking: runs in a thread)."""
    gateway = _gateway(karrio, due, options)
    request = karrio.sdk.Tracking.fetch({"tracking_numbers": [due.tracking_number]})
    details, messages = request.from_(gateway).parse()
    return (
        [karrio.lib.to_dict(d) for d in details or []],
        [karrio.lib.to_dict(m) for m in messages or []],
    )


def _same_number(a: object, b: str) -> bool:
    return "".join(str(a or "").split()).upper() == b


def _interpret(
    connector: Connector,
    tracking_number: str,
    details: Sequence[Mapping[str, Any]],
    messages: Sequence[Mapping[str, Any]],
    code_status: Callable[[str], str | None] | None = None,
) -> _Answer:
    """karrio's answer for one number as events, "not found" or an error.

    A carrier that knows nothing of a number says so in a message with a known code; any
    other message without tracking details is a failure, and so is an empty answer.
    """
    if details:
        ours = next(
            (d for d in details if _same_number(d.get("tracking_number"), tracking_number)),
            details[0],
        )
        estimate = delivery_estimate(ours)
        inputs = []
        for event in ours.get("events") or []:
            data = event_input(
                connector,
                event,
                tracking_number=tracking_number,
                code_status=code_status or (lambda _code: None),
                estimated_delivery=estimate,
            )
            if data is not None:
                inputs.append((data, {"tracking_number": tracking_number, "event": dict(event)}))
        inputs.sort(key=lambda pair: pair[0].occurred_at)
        return _Answer(Outcome.UNCHANGED, inputs)
    codes = {str(m.get("code")) for m in messages}
    if codes & connector.not_found:
        return _Answer(Outcome.NOT_FOUND)
    if messages:
        text = "; ".join(
            f"{m.get('code') or '?'}: {m.get('message') or 'no message'}" for m in messages
        )
        return _Answer(Outcome.ERROR, error=text[:500])
    return _Answer(Outcome.ERROR, error="the carrier's answer held no tracking details")


def next_interval(
    outcome: Outcome,
    *,
    previous: timedelta | None,
    failures: int,
    rng: random.Random,
) -> timedelta:
    """How long to wait before asking again.

    News means more may follow soon. Silence doubles the previous wait up to
    :data:`MAX_INTERVAL`. Each failure in a row doubles a longer wait, so a carrier that
    is down (or credentials that are wrong) is not hammered.
    """
    if outcome is Outcome.CHANGED:
        base = FIRST_INTERVAL
    elif outcome is Outcome.ERROR:
        base = min(MAX_ERROR_INTERVAL, ERROR_INTERVAL * 2 ** max(failures - 1, 0))
    elif previous is None:
        base = FIRST_INTERVAL
    else:
        base = min(MAX_INTERVAL, max(FIRST_INTERVAL, previous * 2))
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


async def _claim(database: Database, karrio: _Karrio, now: datetime, limit: int) -> list[_Due]:
    """The shipments due now whose carrier the shop has credentials for, pushed out by
    :data:`LEASE` so that a second worker does not ask about them too."""
    connector_of = case(CONNECTOR_OF_CARRIER, value=Fulfillment.carrier_code, else_=None)
    async with database.write() as session:
        rows = (
            await session.execute(
                select(
                    Fulfillment.id,
                    Fulfillment.shop_id,
                    Fulfillment.tracking_number,
                    CarrierAccount.carrier,
                    CarrierAccount.credentials,
                    Fulfillment.next_poll_at,
                    Fulfillment.last_polled_at,
                    Fulfillment.poll_failures,
                )
                .join(
                    CarrierAccount,
                    (CarrierAccount.shop_id == Fulfillment.shop_id)
                    & (CarrierAccount.carrier == connector_of),
                )
                .where(
                    Fulfillment.cancelled_at.is_(None),
                    Fulfillment.status.not_in([s.value for s in CLOSED]),
                    Fulfillment.tracking_number.is_not(None),
                    Fulfillment.created_at >= now - MAX_AGE,
                    or_(Fulfillment.next_poll_at.is_(None), Fulfillment.next_poll_at <= now),
                    CarrierAccount.carrier.in_(sorted(karrio.installed)),
                )
                .order_by(Fulfillment.next_poll_at.nulls_first(), Fulfillment.id)
                .limit(limit)
                .with_for_update(of=Fulfillment, skip_locked=True)
            )
        ).all()
        due = [_Due(*row) for row in rows]
        if due:
            await session.execute(
                update(Fulfillment)
                .where(Fulfillment.id.in_([d.id for d in due]))
                .values(next_poll_at=now + LEASE)
            )
    return due


async def _record(
    database: Database,
    due: _Due,
    answer: _Answer,
    *,
    now: datetime,
    options: PollOptions,
    gazetteer: Gazetteer | None,
) -> int:
    """Store one shipment's events and its next poll in one transaction; the number of
    new events."""
    created = 0
    changed: dict[int, int] = {}
    async with database.write() as session:
        for data, raw in answer.inputs:
            recorded = await record_event(
                session=session,
                shop_id=due.shop_id,
                fulfillment_id=due.id,
                data=data,
                source=f"karrio:{due.connector}",
                raw=raw,
                gazetteer=gazetteer,
            )
            created += recorded.created
            if recorded.created:
                changed[recorded.order_id] = 0
        outcome = Outcome.CHANGED if created else answer.outcome
        await _schedule(session, due, outcome, now=now, options=options)
        for order_id in changed:
            changed[order_id] = (
                await session.scalar(select(Order.version).where(Order.id == order_id)) or 0
            )
    if changed and options.publish is not None:
        try:
            await options.publish(changed)
        except Exception:
            log.exception(
                "carrier poll: telling open pages about orders %s failed", sorted(changed)
            )
    return created


async def _schedule(
    session: Any, due: _Due, outcome: Outcome, *, now: datetime, options: PollOptions
) -> None:
    failures = due.poll_failures + 1 if outcome is Outcome.ERROR else 0
    previous = (
        due.next_poll_at - due.last_polled_at
        if due.next_poll_at is not None and due.last_polled_at is not None
        else None
    )
    wait = next_interval(outcome, previous=previous, failures=failures, rng=options.rng)
    await session.execute(
        update(Fulfillment)
        .where(Fulfillment.id == due.id)
        .values(next_poll_at=now + wait, last_polled_at=now, poll_failures=failures)
    )


async def _poll_one(
    karrio: _Karrio,
    database: Database,
    due: _Due,
    *,
    now: datetime,
    options: PollOptions,
    gazetteer: Gazetteer | None,
    limiter: asyncio.Semaphore,
    report: PollReport,
) -> None:
    connector = CONNECTORS[due.connector]
    try:
        async with limiter:
            details, messages = await asyncio.wait_for(
                asyncio.to_thread(_ask, karrio, due, options), options.request_timeout
            )
        answer = _interpret(
            connector, due.tracking_number, details, messages, _code_status(connector.name)
        )
    except Exception as exc:  # a connector's bug or a hung carrier: this shipment only
        answer = _Answer(Outcome.ERROR, error=f"{type(exc).__name__}: {exc}"[:500])
    try:
        created = await _record(
            database, due, answer, now=now, options=options, gazetteer=gazetteer
        )
    except Exception as exc:
        log.exception("carrier poll: recording fulfilment %s failed", due.id)
        answer = _Answer(Outcome.ERROR, error=f"{type(exc).__name__}: {exc}"[:500])
        created = 0
        try:
            async with database.write() as session:
                await _schedule(session, due, Outcome.ERROR, now=now, options=options)
        except Exception:
            # The lease already keeps it from being asked again at once.
            log.exception("carrier poll: rescheduling fulfilment %s failed", due.id)
    report.polled += 1
    report.new_events += created
    report.changed += created > 0
    if answer.outcome is Outcome.NOT_FOUND:
        report.not_found += 1
    elif answer.outcome is Outcome.ERROR:
        report.errors[due.id] = answer.error or "unknown error"
        log.warning(
            "carrier poll: %s for fulfilment %s failed: %s",
            connector.label,
            due.id,
            answer.error,
        )


async def poll_once(
    database: Database,
    *,
    now: datetime | None = None,
    options: PollOptions | None = None,
    gazetteer: Gazetteer | None = None,
) -> PollReport:
    """Ask the carriers about every shipment that is due, once.

    Due: not cancelled, not delivered, picked up or returned, with a tracking number, of
    a carrier the shop has credentials for, and whose ``next_poll_at`` has come (or was
    never set). Raises :class:`PollingUnavailable` without the carrier extra.
    """
    karrio = _load()
    now = now or datetime.now(UTC)
    options = options or PollOptions()
    if options.token_cache is None:
        options.token_cache = karrio.lib.Cache()
    report = PollReport()
    if not karrio.installed:
        return report
    due = await _claim(database, karrio, now, options.batch_size)
    limiter = asyncio.Semaphore(max(options.concurrency, 1))
    await asyncio.gather(
        *(
            _poll_one(
                karrio,
                database,
                item,
                now=now,
                options=options,
                gazetteer=gazetteer,
                limiter=limiter,
                report=report,
            )
            for item in due
        )
    )
    return report


async def run_poller(
    database: Database,
    stop: asyncio.Event,
    *,
    interval: float = 60.0,
    options: PollOptions | None = None,
    gazetteer: Gazetteer | None = None,
) -> None:
    """Poll until ``stop`` is set: every ``interval`` seconds, or at once while a poll
    filled its whole batch. Without the carrier extra it logs why and returns."""
    problem = polling_unavailable()
    if problem is not None:
        log.warning("carrier polling is off: %s", problem)
        return
    options = options or PollOptions()
    if gazetteer is None:
        gazetteer = Gazetteer.shared()
        await gazetteer.load()
    log.info("carrier polling on for %s", ", ".join(sorted(_load().installed)))
    while not stop.is_set():
        full = False
        try:
            report = await poll_once(database, options=options, gazetteer=gazetteer)
            full = report.polled >= options.batch_size
            if report.polled:
                log.info(
                    "carrier poll: %d asked, %d with news (%d events), %d unknown, %d failed",
                    report.polled,
                    report.changed,
                    report.new_events,
                    report.not_found,
                    report.failed,
                )
        except Exception:
            log.exception("carrier poll failed; trying again in %.0f s", interval)
        if full:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def start_poller(database: Database, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Poll carriers in the background of a worker, when the carriers extra is installed
    (otherwise say so once and do nothing)."""
    reason = polling_unavailable()
    if reason is not None:
        log.info("carrier polling is off: %s", reason)
        return None
    return asyncio.create_task(run_poller(database, stop), name="carrier-poller")

"""Writing the page link back to orders on their platforms: queued with the order (in
its transaction), sent by the worker with retries (:mod:`orderstatus.connectors.writeback`
builds each platform's request)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.config import Settings
from orderstatus.connectors import writeback
from orderstatus.db.engine import Database
from orderstatus.db.models import (
    Connection,
    ConnectionDelivery,
    ConnectionWriteBack,
    Order,
    utcnow,
)
from orderstatus.domain.links import page_link

log = logging.getLogger(__name__)

KEEP_DELIVERIES = timedelta(days=30)
"""How long a connection's deliveries are kept: their ids tell repeats, their shipments
wait for an order not seen yet, and the admin lists the last ones."""
PRUNE_SECONDS = 3600.0
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
BATCH = 20


def queue(session: AsyncSession, *, shop_id: int, connection_id: int, order_id: int) -> None:
    session.add(
        ConnectionWriteBack(shop_id=shop_id, connection_id=connection_id, order_id=order_id)
    )


async def _claim(database: Database, limit: int) -> list[int]:
    now = utcnow()
    async with database.write() as session:
        ids = list(
            (
                await session.scalars(
                    select(ConnectionWriteBack.id)
                    .where(
                        ConnectionWriteBack.state == "pending",
                        ConnectionWriteBack.next_try_at <= now,
                    )
                    .order_by(ConnectionWriteBack.next_try_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if ids:
            await session.execute(
                update(ConnectionWriteBack)
                .where(ConnectionWriteBack.id.in_(ids))
                .values(next_try_at=now + LEASE)
            )
    return ids


async def _one(database: Database, settings: Settings, send: writeback.Send, job_id: int) -> None:
    async with database.read() as session:
        row = (
            await session.execute(
                select(
                    ConnectionWriteBack.attempts,
                    Connection.platform,
                    Connection.shop_url,
                    Connection.credentials,
                    Order.platform_order_id,
                    Order.status_token,
                )
                .join(Connection, Connection.id == ConnectionWriteBack.connection_id)
                .join(Order, Order.id == ConnectionWriteBack.order_id)
                .where(ConnectionWriteBack.id == job_id)
            )
        ).first()
    if row is None:
        return
    attempts, platform, shop_url, credentials, order_id, token = row
    values: dict[str, object]
    url = page_link(settings.base_url, token, secret_key=None, expires_at=None)
    try:
        request = writeback.request(
            platform,
            shop_url=shop_url,
            credentials=credentials,
            order_id=order_id or "",
            page_url=url,
        )
        answer = await send(request)
    except writeback.CannotWrite as exc:
        values = {"state": "failed", "error": str(exc)[:255]}
    except Exception as exc:  # the platform did not answer: later
        values = _later(attempts, f"{type(exc).__name__}: {exc}")
    else:
        problem = writeback.refused(platform, answer) if answer.status < 300 else None
        if answer.status < 300 and problem is None:
            values = {"state": "done", "error": None, "attempts": attempts + 1}
        elif problem is not None or (400 <= answer.status < 500 and answer.status != 429):
            values = {"state": "failed", "error": (problem or f"HTTP {answer.status}")[:255]}
        else:
            values = _later(attempts, f"HTTP {answer.status}")
    if values.get("state") == "failed":
        log.info("page link not written back to %s order: %s", platform, values["error"])
    async with database.write() as session:
        await session.execute(
            update(ConnectionWriteBack).where(ConnectionWriteBack.id == job_id).values(**values)
        )


def _later(attempts: int, error: str) -> dict[str, object]:
    tries = attempts + 1
    if tries >= MAX_ATTEMPTS:
        return {"state": "failed", "attempts": tries, "error": f"gave up: {error}"[:255]}
    return {
        "attempts": tries,
        "error": error[:255],
        "next_try_at": utcnow() + timedelta(seconds=min(3600, 15 * 2**tries)),
    }


async def write_due(
    database: Database, settings: Settings, *, send: writeback.Send | None = None
) -> int:
    """Write the links due now (one batch); how many were tried."""
    if send is None:
        send = functools.partial(writeback.send, allow_private=settings.webhooks_allow_private)
    claimed = await _claim(database, BATCH)
    await asyncio.gather(*(_one(database, settings, send, job) for job in claimed))
    return len(claimed)


async def prune_deliveries(database: Database) -> int:
    """Forget deliveries older than :data:`KEEP_DELIVERIES`; how many."""
    async with database.write() as session:
        result = await session.execute(
            delete(ConnectionDelivery).where(
                ConnectionDelivery.received_at < utcnow() - KEEP_DELIVERIES
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def run_writer(
    database: Database, settings: Settings, stop: asyncio.Event, *, interval: float = 5.0
) -> None:
    pruned_at = 0.0
    while not stop.is_set():
        tried = 0
        try:
            if time.monotonic() - pruned_at >= PRUNE_SECONDS:
                await prune_deliveries(database)
                pruned_at = time.monotonic()
            tried = await write_due(database, settings)
        except Exception:
            log.exception("page link write-back failed; trying again in %.0f s", interval)
        if tried >= BATCH:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def start_writer(database: Database, settings: Settings, stop: asyncio.Event) -> asyncio.Task[None]:
    return asyncio.create_task(run_writer(database, settings, stop), name="page-link-writer")

"""Coalescing writes that arrive together into one transaction.

Carriers and integrators post events in bursts. Recording each in its own transaction
spends most of the time on the transaction itself; recording the ones that arrive while
the previous batch is being written in the next single transaction serves many more per
second with the same guarantees: each caller still gets its own answer only after the
commit that made its write durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.services.tracking import EventItem, RecordedEvent, record_events

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

Apply = Callable[[AsyncSession, list[Item]], Awaitable[list[Result | DomainError]]]
"""Writes a batch in the given transaction: one result (or the item's own error) per item."""


class WriteBatcher(Generic[Item, Result]):
    MAX_BATCH = 200
    FURTHER_WRITER_AT = 8
    """A writer beyond the first starts only when this many items wait: fewer wait for
    the running writer's next batch (a transaction costs the same for 1 item or 20, so
    two writers each taking a few spend more than one taking them all)."""

    def __init__(
        self, database: Database, apply: Apply[Item, Result], *, name: str, writers: int = 1
    ) -> None:
        self.database = database
        self.apply = apply
        self.name = name
        self.writers = 1 if database.is_sqlite else writers
        """Batches in flight at once (SQLite has one writer)."""
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """Write one item (in a batch with others); raises the item's DomainError."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        # Count only runners still running: one that has just ended will not look at
        # the queue again, and an item counted against it would wait for ever.
        self._runners = {r for r in self._runners if not r.done()}
        running = len(self._runners)
        if running == 0 or (
            running < self.writers and len(self._waiting) >= self.FURTHER_WRITER_AT
        ):
            self._runners.add(asyncio.create_task(self._drain(), name=self.name))
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.MAX_BATCH]
            del self._waiting[: self.MAX_BATCH]
            try:
                async with self.database.write() as session:
                    results = await self.apply(session, [item for item, _ in batch])
            except Exception:
                # Something failed the whole transaction (a deadlock with another
                # process, a lost connection): try each alone, so one bad item or one
                # unlucky moment costs only its own caller.
                log.warning("%s: a batch of %d failed; retrying one by one", self.name, len(batch))
                await self._one_by_one(batch)
                continue
            for (_item, future), result in zip(batch, results, strict=True):
                _settle(future, result)

    async def _one_by_one(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        for item, future in batch:
            try:
                async with self.database.write() as session:
                    [result] = await self.apply(session, [item])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            _settle(future, result)


def _settle(future: asyncio.Future[Result], result: Result | DomainError) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(result, DomainError):
        future.set_exception(result)
    else:
        future.set_result(result)


class EventBatcher(WriteBatcher[EventItem, RecordedEvent]):
    """Tracking events from the API, recorded together."""

    def __init__(self, database: Database, gazetteer: Gazetteer | None = None) -> None:
        super().__init__(database, self._record, name="event-batcher")
        self.gazetteer = gazetteer

    async def record(self, item: EventItem) -> RecordedEvent:
        if self.gazetteer is not None:
            await self.gazetteer.load()  # read once per process; at once afterwards
        return await self.submit(item)

    async def _record(
        self, session: AsyncSession, items: list[EventItem]
    ) -> list[RecordedEvent | DomainError]:
        return await record_events(session=session, items=items, gazetteer=self.gazetteer)

"""Coalescing tracking events that arrive together into one transaction.

Carriers and integrators post events in bursts. Recording each in its own transaction
spends most of the time on the transaction itself; recording the ones that arrive while
the previous batch is being written in the next single transaction serves many more per
second with the same guarantees: each caller still gets its own answer only after the
commit that made its event durable.
"""

from __future__ import annotations

import asyncio
import logging

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.services.tracking import EventItem, RecordedEvent, record_events

log = logging.getLogger(__name__)

Waiting = tuple[EventItem, "asyncio.Future[RecordedEvent]"]


class EventBatcher:
    MAX_BATCH = 200

    def __init__(self, database: Database, gazetteer: Gazetteer | None = None) -> None:
        self.database = database
        self.gazetteer = gazetteer
        self._waiting: list[Waiting] = []
        self._runner: asyncio.Task[None] | None = None

    async def record(self, item: EventItem) -> RecordedEvent:
        """Record one event (in a batch with others); raises the item's DomainError."""
        future: asyncio.Future[RecordedEvent] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name="event-batcher")
        return await future

    async def _drain(self) -> None:
        if self.gazetteer is not None and not self.gazetteer.loaded:
            try:
                await self.gazetteer.load()  # once per process
            except Exception:
                log.exception("could not read the gazetteer; events are stored unplaced")
        while self._waiting:
            batch = self._waiting[: self.MAX_BATCH]
            del self._waiting[: self.MAX_BATCH]
            try:
                async with self.database.write() as session:
                    results = await record_events(
                        session=session, items=[item for item, _ in batch], gazetteer=self.gazetteer
                    )
            except Exception:
                # Something failed the whole transaction (a deadlock with another
                # process, a lost connection): try each alone, so one bad event or one
                # unlucky moment costs only its own caller.
                log.warning("a batch of %d events failed; retrying one by one", len(batch))
                await self._one_by_one(batch)
                continue
            for (_item, future), result in zip(batch, results, strict=True):
                _settle(future, result)

    async def _one_by_one(self, batch: list[Waiting]) -> None:
        for item, future in batch:
            try:
                async with self.database.write() as session:
                    [result] = await record_events(
                        session=session, items=[item], gazetteer=self.gazetteer
                    )
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            _settle(future, result)


def _settle(future: asyncio.Future[RecordedEvent], result: RecordedEvent | DomainError) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(result, DomainError):
        future.set_exception(result)
    else:
        future.set_result(result)

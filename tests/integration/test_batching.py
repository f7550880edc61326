"""The write batcher: items arriving together share a transaction; none is left waiting."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError, NotFound
from orderstatus.services.batching import WriteBatcher


async def test_every_item_is_answered_whenever_it_arrives(database: Database) -> None:
    batches: list[list[int]] = []

    async def apply(_session: AsyncSession, items: list[int]) -> list[int | DomainError]:
        batches.append(items)
        return [NotFound("odd") if i % 2 else i * 10 for i in items]

    batcher: WriteBatcher[int, int] = WriteBatcher(database, apply, name="test")

    async def one_after_another() -> list[int]:
        # Each arrives just as the previous batch has finished.
        return [await batcher.submit(i) for i in range(0, 20, 2)]

    assert await asyncio.wait_for(one_after_another(), 5) == list(range(0, 200, 20))
    # Together: written in fewer transactions than items, each caller its own answer.
    answers = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(i) for i in range(40)), return_exceptions=True), 5
    )
    for i, answer in enumerate(answers):
        assert isinstance(answer, NotFound) if i % 2 else answer == i * 10
    assert len(batches) < 10 + 40


async def test_a_second_writer_starts_only_for_a_backlog(database: Database) -> None:
    if database.is_sqlite:
        return  # SQLite has one writer
    in_flight: list[int] = []
    most = 0
    sizes: list[int] = []

    async def apply(_session: AsyncSession, items: list[int]) -> list[int | DomainError]:
        nonlocal most
        in_flight.append(len(items))
        most = max(most, len(in_flight))
        sizes.append(len(items))
        await asyncio.sleep(0.05)
        in_flight.pop()
        return list(items)

    batcher: WriteBatcher[int, int] = WriteBatcher(database, apply, name="test", writers=2)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)  # the first batch is being written
    few = WriteBatcher.FURTHER_WRITER_AT - 1
    assert await asyncio.gather(first, *(batcher.submit(i) for i in range(1, few + 1))) == list(
        range(few + 1)
    )
    assert most == 1 and sizes == [1, few]  # they waited for the running writer
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)
    many = list(range(1, 3 * WriteBatcher.FURTHER_WRITER_AT))
    assert await asyncio.gather(first, *(batcher.submit(i) for i in many)) == [0, *many]
    assert most == 2  # a backlog: a second writer took some

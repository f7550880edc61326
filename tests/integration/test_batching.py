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

"""Migrations keep the data they migrate."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import func, select

from orderstatus.db import migrate
from orderstatus.db.engine import Database
from orderstatus.db.models import LineItem, Order, Shop
from orderstatus.domain.inputs import OrderInput
from orderstatus.services.accounts import create_shop
from orderstatus.services.orders import create_order
from tests.conftest import run_sync
from tests.factories import order_payload


async def _seed(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
        async with database.write() as session:
            shop = await create_shop(session=session, handle="kept", name="Kept", currency="NOK")
            data = OrderInput.model_validate(order_payload())
            await create_order(session=session, shop=shop, data=data, actor="test")
    finally:
        await database.dispose()


async def _upgrade(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


async def _count(url: str) -> tuple[int, int, int]:
    database = Database(url)
    try:
        async with database.read() as session:
            counts = [
                await session.scalar(select(func.count()).select_from(model))
                for model in (Shop, Order, LineItem)
            ]
    finally:
        await database.dispose()
    return (counts[0] or 0, counts[1] or 0, counts[2] or 0)


def test_sqlite_migrations_down_and_up_again_keep_every_order(tmp_path: Path) -> None:
    """SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy of
    `shops` would cascade to every order."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'data.db'}"
    run_sync(_seed(url))
    assert run_sync(_count(url)) == (1, 1, 3)

    command.downgrade(migrate.alembic_config(url), "0001")
    assert run_sync(_count(url)) == (1, 1, 3)
    run_sync(_upgrade(url))  # as `orderstatus migrate` does
    assert run_sync(_count(url)) == (1, 1, 3)

"""Migration 0008 on a database with orders: each existing order gets a discount of
nothing and says whether its tax was included, read from whether its total adds it."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection

from orderstatus.db.engine import Database
from orderstatus.db.migrate import alembic_config
from tests.conftest import BACKENDS, PG_ENV


def _migrate(connection: Connection, url: str, revision: str, down: bool) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def upgrade_to(database: Database, revision: str, *, down: bool = False) -> None:
    url = database.url.render_as_string(hide_password=False)
    async with database.engine.connect() as connection:
        await connection.run_sync(_migrate, url, revision, down)
        await connection.commit()


@pytest.fixture(params=BACKENDS)
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database, not migrated."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield database
        await database.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL suite: set {PG_ENV}")
    server = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"orderstatus_migration_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(base).set(drivername="postgresql+asyncpg", database=name)
        database = Database(url.render_as_string(hide_password=False))
        yield database
        await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


ORDER = (
    "INSERT INTO orders (shop_id, number, status_token, currency, customer_first_name,"
    " shipping_address, payment_method, subtotal, shipping_total, tax_total, total,"
    " fulfillment_status, created_at, updated_at) VALUES (1, :number, :token, 'NOK', 'Kari',"
    " '{}', 'card', :subtotal, 990000, :tax, :total, 'unfulfilled', :now, :now)"
)


async def test_existing_orders_get_a_sensible_default(fresh: Database) -> None:
    await upgrade_to(fresh, "0007")
    now = datetime(2026, 11, 1, 10, tzinfo=UTC)
    async with fresh.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO shops (id, handle, name, default_locale, currency, timezone,"
                " accent_color, next_order_number, created_at) VALUES"
                " (1, 'old', 'Old', 'nb', 'NOK', 'UTC', '#1f6f5c', 1001, :now)"
            ),
            {"now": now},
        )
        # Amounts in 1/10,000 of a krone: 498 + 99 = 597 with 99.60 inside it; 498 + 99 +
        # 124.50 added; and an order with no tax at all.
        for number, subtotal, tax, total in [
            ("1", 4_980_000, 996_000, 5_970_000),
            ("2", 4_980_000, 1_245_000, 7_215_000),
            ("3", 4_980_000, 0, 5_970_000),
        ]:
            await connection.execute(
                text(ORDER),
                {
                    "number": number,
                    "token": f"t{number}",
                    "subtotal": subtotal,
                    "tax": tax,
                    "total": total,
                    "now": now,
                },
            )
    await upgrade_to(fresh, "head")
    async with fresh.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT number, taxes_included, discount_total FROM orders ORDER BY number")
            )
        ).all()
        shop = (await connection.execute(text("SELECT taxes_included FROM shops"))).scalar()
    assert [(n, bool(included), discount) for n, included, discount in rows] == [
        ("1", True, 0),
        ("2", False, 0),
        ("3", False, 0),
    ]
    assert bool(shop) is False
    await upgrade_to(fresh, "0007", down=True)
    async with fresh.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM orders"))
    assert count == 3

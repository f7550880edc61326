"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

The PostgreSQL half runs when ORDERSTATUS_TEST_DATABASE_URL names a server (CI sets it);
elsewhere it skips with one line saying so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orderstatus.config import Settings
from orderstatus.db import migrate
from orderstatus.db.engine import Database
from orderstatus.db.models import Base
from orderstatus.services.accounts import create_api_key, create_shop
from orderstatus.web.app import create_app

T = TypeVar("T")
PG_ENV = "ORDERSTATUS_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, even where another event loop
    is running in this thread (Playwright's sync API keeps one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_sync(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the test server, migrated once, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL suite: set {PG_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)"
        )
    admin = make_url(base).set(drivername="postgresql")
    name = f"orderstatus_test_{secrets.token_hex(4)}"

    async def admin_exec(sql: str) -> None:
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(admin_exec(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    run_sync(_migrate(rendered))
    yield rendered
    run_sync(admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with the current schema: SQLite copied from a template, or the
    PostgreSQL test database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "orderstatus.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)

    async def empty() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await database.dispose()

    run_sync(empty())
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        database_url=database_url,
        base_url="https://status.example.test",
        secret_key="s" * 40,
        var_dir=str(tmp_path / "var"),
    )


@dataclass
class ShopClient:
    """An HTTP client holding one shop's API key."""

    http: httpx.AsyncClient
    shop_id: int
    key: str


async def _shop(database: Database, handle: str) -> tuple[int, str]:
    async with database.write() as session:
        shop = await create_shop(
            session=session, handle=handle, name=handle.title(), currency="NOK"
        )
        _row, key = await create_api_key(session=session, shop=shop, name="tests")
        return shop.id, key


@pytest.fixture
async def app_http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.fixture
async def api(app_http: httpx.AsyncClient, database: Database) -> ShopClient:
    shop_id, key = await _shop(database, "acme")
    app_http.headers["Authorization"] = f"Bearer {key}"
    return ShopClient(app_http, shop_id, key)


@pytest.fixture
async def other_api(app_http: httpx.AsyncClient, database: Database) -> ShopClient:
    """A second shop on the same server, for isolation tests (its own client headers)."""
    shop_id, key = await _shop(database, "other")
    client = httpx.AsyncClient(
        transport=app_http._transport,
        base_url="https://testserver",
        headers={"Authorization": f"Bearer {key}"},
    )
    return ShopClient(client, shop_id, key)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per reason a group of tests skipped, instead of one per test."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in reasons.items():
        terminalreporter.write_line(f"skipped {count}: {reason}")

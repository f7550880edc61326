"""The engine and sessions, with the settings each engine needs to be a safe store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orderstatus import metrics

SQLITE_BUSY_TIMEOUT_MS = 10_000
CHANGED_ORDERS = "changed_orders"
ENDED_STREAMS = "ended_streams"
RECORDED_EVENTS = "recorded_events"

OnCommit = Callable[[dict[int, int]], Awaitable[None]]
"""Told which orders a committed transaction changed: {order id: new page version}."""
BeforeCommit = Callable[[AsyncSession, dict[int, int]], Awaitable[None]]
"""Run in a transaction that changed orders, just before it commits: what it adds
commits with the change, or not at all."""
OnEnd = Callable[[set[str]], Awaitable[None]]
"""Told which live streams a committed transaction took access from (their tags)."""


def note_order_changed(session: AsyncSession, order_id: int, version: int) -> None:
    """Record that this transaction changed what the order's page shows; listeners hear
    of it only once the transaction has committed (never of a rolled-back change)."""
    changed: dict[int, int] = session.info.setdefault(CHANGED_ORDERS, {})
    changed[order_id] = max(version, changed.get(order_id, 0))


def note_streams_ended(session: AsyncSession, tag: str) -> None:
    """Record that this transaction withdrew access that open streams were given (a
    share link revoked): once it has committed, they end in every process."""
    ended: set[str] = session.info.setdefault(ENDED_STREAMS, set())
    ended.add(tag)


def note_events_recorded(session: AsyncSession, source: str, count: int = 1) -> None:
    """Count new tracking events once the transaction that stores them has committed."""
    recorded: dict[str, int] = session.info.setdefault(RECORDED_EVENTS, {})
    recorded[source] = recorded.get(source, 0) + count


class Database:
    """One engine per process; a new session per request or job, never shared.

    On SQLite a writing transaction starts with ``BEGIN IMMEDIATE`` so that two writers
    queue on the busy timeout instead of failing when a read snapshot turns into a write.
    On PostgreSQL services lock the rows they change with ``SELECT … FOR UPDATE``.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 20) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo}
        # Enough pooled connections for a busy process, so bursts do not open and close
        # connections (a new SQLite connection is a thread; a new PostgreSQL one a backend).
        options |= {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": False}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        event.listen(self.engine.sync_engine, "checkout", _checked_out)
        event.listen(self.engine.sync_engine, "checkin", _checked_in)
        self._writer = self.engine.execution_options(sqlite_immediate=True)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(self._writer, expire_on_commit=False, autoflush=False)
        self.on_commit: OnCommit | None = None
        self.before_commit: BeforeCommit | None = None
        self.on_end: OnEnd | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; whatever it sees is one consistent snapshot."""
        async with self._read() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """Plain statements in one read transaction, without a session: for the hottest
        reads, where the session's bookkeeping costs more than the queries."""
        async with self.engine.connect() as connection, connection.begin():
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises.
        After the commit, :attr:`on_commit` hears which orders changed."""
        async with self._write() as session:
            async with session.begin():
                yield session
                if self.before_commit is not None and session.info.get(CHANGED_ORDERS):
                    await self.before_commit(session, dict(session.info[CHANGED_ORDERS]))
            changed = session.info.pop(CHANGED_ORDERS, None)
            ended = session.info.pop(ENDED_STREAMS, None)
            recorded = session.info.pop(RECORDED_EVENTS, None)
        for source, count in (recorded or {}).items():
            metrics.events_recorded(source, count)
        if ended and self.on_end is not None:  # before the change, which they must not show
            await self.on_end(ended)
        if changed and self.on_commit is not None:
            await self.on_commit(changed)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    metrics.connection_checked_out()


def _checked_in(_dbapi_connection: Any, _record: Any) -> None:
    metrics.connection_checked_in()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions get in the way).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

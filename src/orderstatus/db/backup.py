"""A consistent copy of a live SQLite database, taken while the service runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another engine or an in-memory one."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database)


def backup_sqlite(source: Path, target: Path) -> None:
    """Copy ``source`` into the new file ``target`` with SQLite's online backup API.

    The copy is made in one step, inside one read transaction: it is the database as
    it was at one moment, and in WAL mode writers go on meanwhile. The copy is checked
    before this returns.
    """
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            (result,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if result != "ok":
        raise OSError(f"the copy failed its check: {result}")

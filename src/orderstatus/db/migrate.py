"""Run and inspect migrations from code (the CLI and the tests use these)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from orderstatus.db.engine import Database

_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str) -> Config:
    config = Config(str(_INI))
    config.attributes["database_url"] = url
    return config


def _upgrade(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision (safe to run again)."""
    url = database.url.render_as_string(hide_password=False)
    async with database.engine.connect() as connection:
        await connection.run_sync(_upgrade, url)
        await connection.commit()


@functools.cache
def _heads(url: str) -> frozenset[str]:
    """The newest revisions of the migrations this code has (read once a process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _is_current(connection: Connection, url: str) -> bool:
    current = set(MigrationContext.configure(connection).get_current_heads())
    return current == _heads(url)


async def is_current(database: Database) -> bool:
    """Whether every migration has been applied."""
    url = database.url.render_as_string(hide_password=False)
    async with database.engine.connect() as connection:
        return await connection.run_sync(_is_current, url)

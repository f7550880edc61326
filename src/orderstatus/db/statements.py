"""Statements built once per SQL dialect, for the hot paths.

An expanding ``IN (…)`` renders a new SQL text for every length of its list; on PostgreSQL
each new text is parsed and prepared again. ``= ANY(:list)`` binds the whole list as one
array, so the statement is prepared once whatever the length. SQLite has no arrays and
keeps the expanding ``IN``. Inserts are the dialect's own, for ``ON CONFLICT``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import ARRAY

DIALECTS = ("postgresql", "sqlite")

T = TypeVar("T")


def in_list(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``name`` (pass a list, not a set)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def per_dialect(build: Callable[[str], T]) -> dict[str, T]:
    """``build(dialect)`` for each dialect we run on."""
    return {name: build(name) for name in DIALECTS}


def insert(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ``ON CONFLICT`` clauses."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def only_one(session: AsyncSession, name: str) -> bool:
    """Whether this transaction is the only one doing ``name`` now (a PostgreSQL advisory
    lock held until it ends; SQLite has one writer anyway). Workers that refresh the same
    figures at once: one writes, the others skip."""
    if dialect_of(session) != "postgresql":
        return True
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    got = await session.scalar(select(func.pg_try_advisory_xact_lock(key)))
    return bool(got)

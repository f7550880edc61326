"""Statements built once per SQL dialect, for the hot paths.

An expanding ``IN (…)`` renders a new SQL text for every length of its list; on PostgreSQL
each new text is parsed and prepared again. ``= ANY(:list)`` binds the whole list as one
array, so the statement is prepared once whatever the length. SQLite has no arrays and
keeps the expanding ``IN``. Inserts are the dialect's own, for ``ON CONFLICT``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, any_, bindparam
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

"""Small helpers for API tests: create things, count rows."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from orderstatus.db.engine import Database
from orderstatus.db.models import Base
from tests.factories import order_payload


async def create_order(http: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/orders", json=order_payload(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def fulfil(
    http: httpx.AsyncClient, order: dict[str, Any], items: list[tuple[int, int]], **extra: Any
) -> dict[str, Any]:
    lines = [{"id": order["line_items"][i]["id"], "quantity": q} for i, q in items]
    response = await http.post(
        f"/api/v1/orders/{order['id']}/fulfillments", json={"line_items": lines, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def row_counts(database: Database) -> dict[str, int]:
    """Rows in every table: a failed request must leave these unchanged."""
    counts = {}
    async with database.read() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts

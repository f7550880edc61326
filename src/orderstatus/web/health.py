"""/healthz: is this process able to serve? 503 when a dependency is down."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from orderstatus.web.deps import DatabaseDep

router = APIRouter(include_in_schema=False)
CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz(database: DatabaseDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(database.ping(), CHECK_TIMEOUT_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy, whatever its kind
        checks["database"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )

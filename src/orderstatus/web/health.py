"""/healthz: is this process able to serve? 503 when a dependency is down."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderstatus.web.deps import DatabaseDep

router = APIRouter(include_in_schema=False)
CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz(request: Request, database: DatabaseDep) -> JSONResponse:
    """503 only when this process cannot serve (no database). Without the broker, pages
    still work and refresh on a timer: that is reported as "degraded" with 200, so a
    load balancer keeps sending customers here."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(database.ping(), CHECK_TIMEOUT_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy, whatever its kind
        checks["database"] = f"error: {type(exc).__name__}"
    broker = request.app.state.broker
    checks["broker"] = "ok" if broker.healthy else "unavailable: live pages refresh on a timer"
    if checks["database"] != "ok":
        status, code = "unavailable", 503
    elif checks["broker"] != "ok":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JSONResponse({"status": status, "checks": checks}, status_code=code)

"""For load balancers and supervisors: ``/healthz`` (can this process serve?) and
``/readyz`` (should it be sent requests now?)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderstatus.db import migrate
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


@router.get("/readyz")
async def readyz(request: Request, database: DatabaseDep) -> JSONResponse:
    """503 while this process should get no new requests: the database is unreachable,
    its schema is not the one this code needs (a deployment half done: run ``orderstatus
    migrate``), or the process is stopping. The broker's state is reported; without it
    pages still work (they refresh on a timer), so it does not make the process unready."""
    checks: dict[str, str] = {}
    try:
        current = await asyncio.wait_for(migrate.is_current(database), CHECK_TIMEOUT_SECONDS)
        checks["database"] = "ok"
        checks["schema"] = "current" if current else "outdated: run `orderstatus migrate`"
    except Exception as exc:  # any failure means not ready, whatever its kind
        checks["database"] = f"error: {type(exc).__name__}"
    broker = request.app.state.broker
    checks["broker"] = "ok" if broker.healthy else "unavailable: live pages refresh on a timer"
    stopping = bool(request.app.state.stopping)
    if stopping:
        checks["process"] = "stopping"
    ready = not stopping and checks["database"] == "ok" and checks.get("schema") == "current"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )

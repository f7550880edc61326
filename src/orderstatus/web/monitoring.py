"""``GET /metrics``: Prometheus's text format, for the bearer of ORDERSTATUS_METRICS_TOKEN.

Without the setting, or without the right token, the answer is 404, as for any address
that is not there: the endpoint does not tell a stranger it exists.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from orderstatus import metrics
from orderstatus.services.notifications import outbox_backlog
from orderstatus.web.deps import DatabaseDep

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
BACKLOG_TIMEOUT_SECONDS = 2.5


def _authorized(request: Request) -> bool:
    token: str | None = request.app.state.settings.metrics_token
    if token is None:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@router.get("/metrics")
async def scrape(request: Request, database: DatabaseDep) -> Response:
    if not _authorized(request):
        raise HTTPException(404)  # the very answer of an address that is not there
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT_SECONDS):
            backlog = await outbox_backlog(database)
        extra = [metrics.BacklogCollector(backlog)]
    except Exception as exc:  # the other numbers still go out; the outbox's are left out
        log.warning("cannot read the outbox for /metrics: %s", type(exc).__name__)
        extra = []
    body = await asyncio.to_thread(metrics.render, extra)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})

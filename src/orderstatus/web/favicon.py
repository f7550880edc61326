"""Files browsers ask for at fixed addresses: the site's icon (/favicon.ico, whatever a
page links) and the status pages' service worker."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

ICON = files("orderstatus.web").joinpath("static/favicon.svg").read_bytes()


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(
        ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


SERVICE_WORKER = files("orderstatus.web").joinpath("static/push-sw.js").read_bytes()


@router.get("/push-sw.js")
async def service_worker() -> Response:
    """The status pages' service worker (static/push-sw.js) at an address that never
    changes, as a browser requires; checked again on each update (no-cache)."""
    return Response(
        SERVICE_WORKER,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": "default-src 'self'"},
    )

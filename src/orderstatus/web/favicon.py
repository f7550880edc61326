"""The site's icon, served by us: browsers ask for /favicon.ico whatever a page links."""

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

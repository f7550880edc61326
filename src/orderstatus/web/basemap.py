"""The offline base map: land and borders the shipment map draws when no tile server is
configured (static/basemap/world.json, made by scripts/basemap.py from Natural Earth).

It is served at a URL that names its content, so browsers keep it for a year and fetch
it once, and gzipped (about a third of its size) to browsers that accept that."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
CACHE_FOREVER = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Basemap:
    version: str
    plain: bytes
    gzipped: bytes

    @property
    def url(self) -> str:
        return f"/basemap/{self.version}.json"


@cache
def basemap() -> Basemap:
    data = (files("orderstatus.web") / "static" / "basemap" / "world.json").read_bytes()
    version = hashlib.sha256(data).hexdigest()[:16]
    return Basemap(version, data, gzip.compress(data, compresslevel=9, mtime=0))


def accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@router.get("/basemap/{version}.json")
async def serve_basemap(request: Request, version: str) -> Response:
    """Only the current version exists: an old URL is a 404, not stale data kept a year."""
    current = basemap()
    if version != current.version:
        raise HTTPException(status_code=404)
    headers = {
        "Cache-Control": CACHE_FOREVER,
        "ETag": f'"{current.version}"',
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(current.gzipped, media_type="application/json", headers=headers)
    return Response(current.plain, media_type="application/json", headers=headers)

"""Files merchants upload (logos) and our copies of product images, served from the var
folder at /media/."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from orderstatus.domain.branding import IMAGE_TYPES
from orderstatus.domain.media import PRODUCT_IMAGE_TYPES, sniff_product_image
from orderstatus.services.product_images import stored_path
from orderstatus.services.shop_settings import MEDIA_FOLDER
from orderstatus.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}-[0-9a-f]{20}\.(png|jpg|webp)")
"""Exactly the names shop_settings.store_logo makes: nothing else in the folder is served."""


_PRODUCT = re.compile(r"[0-9a-f]{40}")
PLACEHOLDER = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56" viewBox="0 0 56 56">'
    b'<rect width="56" height="56" rx="8" fill="#e8ebea"/></svg>'
)
"""A neutral square, shown until the image is fetched, and for good if it cannot be."""
_STORED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(12)
    except OSError:
        return None


@router.get("/media/products/{key}")
async def product_image(key: str, settings: SettingsDep) -> Response:
    if _PRODUCT.fullmatch(key) is None:
        raise HTTPException(404)
    path = stored_path(settings.var_dir, key)
    head = await asyncio.to_thread(_head, path)
    kind = sniff_product_image(head) if head else None
    if kind is None:
        return Response(
            PLACEHOLDER,
            media_type="image/svg+xml",
            headers={"Cache-Control": "no-cache", **_STORED_HEADERS},
        )
    return FileResponse(
        path,
        media_type=PRODUCT_IMAGE_TYPES[kind],
        headers={"Cache-Control": "public, max-age=86400", **_STORED_HEADERS},
    )


@router.get("/media/{name}")
async def media(name: str, settings: SettingsDep) -> FileResponse:
    match = _NAME.fullmatch(name)
    path = settings.var_dir / MEDIA_FOLDER / name
    if match is None or not path.is_file():
        raise HTTPException(404)
    return FileResponse(
        path,
        media_type=IMAGE_TYPES[match.group(1)],
        headers={
            # The name changes with the content, so a copy can be kept for ever.
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )

"""Files merchants upload (logos), served from the var folder at /media/{name}."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from orderstatus.domain.branding import IMAGE_TYPES
from orderstatus.services.shop_settings import MEDIA_FOLDER
from orderstatus.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}-[0-9a-f]{20}\.(png|jpg|webp)")
"""Exactly the names shop_settings.store_logo makes: nothing else in the folder is served."""


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

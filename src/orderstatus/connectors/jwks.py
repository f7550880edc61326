"""The signing keys of Saleor instances (their JWKS), fetched when first needed and kept.

A signature with a key the kept set does not have fetches the set again (the instance
rotated its key), at most once per :data:`REFETCH_SECONDS` per instance, so forged
signatures cannot make us fetch on every request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from orderstatus.notify import outbound_http

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[bytes]]
"""Gets a URL's body (raises on failure): the one place a JWKS request is made."""

KEEP_SECONDS = 6 * 3600.0
REFETCH_SECONDS = 30.0
TIMEOUT_SECONDS = 5.0
MAX_BYTES = 256 * 1024


async def fetch(url: str, *, allow_private: bool = False) -> bytes:
    """The key set at ``url``, fetched as every call to an address a merchant chose is
    (:mod:`orderstatus.notify.outbound_http`)."""
    async with outbound_http.new_client() as client:
        answer = await outbound_http.send(
            client,
            "GET",
            url,
            headers={"Accept": "application/json"},
            allow_private=allow_private,
            time_limit=TIMEOUT_SECONDS,
            max_answer_bytes=MAX_BYTES + 1,
        )
    if answer.status != 200:
        raise ValueError(f"the JWKS answered {answer.status}")
    if len(answer.body) > MAX_BYTES:
        raise ValueError("the JWKS is too large")
    return answer.body


def jwks_url(instance_url: str) -> str:
    """``https://shop.example/graphql/`` → ``https://shop.example/.well-known/jwks.json``."""
    parts = urlsplit(instance_url)
    return f"{parts.scheme}://{parts.netloc}/.well-known/jwks.json"


class JwksCache:
    def __init__(self, fetch_: Fetch = fetch) -> None:
        self.fetch = fetch_
        self._kept: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def get(self, instance_url: str, *, fresh: bool = False) -> dict[str, Any] | None:
        """The instance's key set, or None when it cannot be had."""
        url = jwks_url(instance_url)
        now = time.monotonic()
        kept = self._kept.get(url)
        if kept is not None:
            age = now - kept[0]
            if age < (REFETCH_SECONDS if fresh or kept[1] is None else KEEP_SECONDS):
                return kept[1]
        try:
            found = json.loads(await self.fetch(url))
            keys = (
                found if isinstance(found, dict) and isinstance(found.get("keys"), list) else None
            )
        except (outbound_http.Forbidden, outbound_http.Unreachable, ValueError, OSError) as exc:
            log.warning("could not fetch the JWKS of %s: %s", url, exc)
            keys = kept[1] if kept is not None else None
        self._kept[url] = (now, keys)
        return keys

"""Product images: each URL a merchant sends is fetched once, in the background, and
kept under ``VAR_DIR/media/products``; pages show only that copy, so a customer's browser
never calls the merchant's image host.

The fetch is a worker's job (never the request that stored the order): bounded in time,
size and redirects, the bytes must be a PNG, JPEG, WebP or GIF, and private, loopback
and link-local addresses are refused unless ``ORDERSTATUS_MEDIA_ALLOW_PRIVATE`` is set.
The address checked is the address connected to (no second look-up a DNS answer could
change in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import ProductImage, utcnow
from orderstatus.db.statements import dialect_of, insert, per_dialect
from orderstatus.domain.media import MAX_PRODUCT_IMAGE_BYTES, image_key, sniff_product_image
from orderstatus.notify import outbound_http

log = logging.getLogger(__name__)

FOLDER = Path("media") / "products"
MAX_REDIRECTS = 3
DEADLINE_SECONDS = 30.0
"""The whole fetch, redirects and a slow sender included."""
MAX_ATTEMPTS = 5
"""Tries for a host that does not answer; a refused image is not tried again."""
LEASE = timedelta(minutes=5)
BATCH = 20
CONCURRENCY = 4

_IMAGES = cast(Table, ProductImage.__table__)
_INSERT = per_dialect(
    lambda dialect: insert(_IMAGES, dialect).on_conflict_do_nothing(index_elements=["key"])
)


class Refused(Exception):
    """This URL will not give an image we show: not tried again."""


class Unreachable(Exception):
    """The host did not answer as it should now: tried again later."""


async def remember(session: AsyncSession, urls: Iterable[str | None]) -> None:
    """Note image URLs to fetch (each once, whichever shop sent it first)."""
    now = utcnow()
    rows = {
        image_key(url): {
            "key": image_key(url),
            "url": url,
            "state": "pending",
            "attempts": 0,
            "next_try_at": now,
            "created_at": now,
        }
        for url in urls
        if url
    }
    if rows:
        await session.execute(_INSERT[dialect_of(session)], list(rows.values()))


def stored_path(var_dir: Path, key: str) -> Path:
    return var_dir / FOLDER / key


async def _address_for(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to, checked as every call we make outwards is."""
    try:
        return (await outbound_http.resolve(host, port, allow_private=allow_private))[0]
    except outbound_http.Forbidden as exc:
        raise Refused("the host is on a private, loopback or link-local address") from exc
    except outbound_http.Unreachable as exc:
        raise Unreachable("the host name does not resolve") from exc


async def fetch_image(client: httpx.AsyncClient, url: str, *, allow_private: bool) -> bytes:
    """The image at ``url``, checked; :class:`Refused` or :class:`Unreachable` if not."""
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await _fetch(client, url, allow_private)
    except TimeoutError as exc:
        raise Unreachable("the host took too long") from exc
    except httpx.HTTPError as exc:
        raise Unreachable(type(exc).__name__) from exc


async def _fetch(client: httpx.AsyncClient, url: str, allow_private: bool) -> bytes:
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise Refused("not a valid URL") from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise Refused("not an http(s) URL")
        port = target.port or (443 if target.scheme == "https" else 80)
        address = await _address_for(target.host, port, allow_private)
        request = client.build_request(
            "GET",
            target.copy_with(host=address),
            headers={"Host": target.netloc.decode("ascii"), "Accept": "image/*"},
            extensions={"sni_hostname": target.host},
        )
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise Refused("a redirect without a Location")
                url = str(target.join(location))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                raise Unreachable(f"answered {response.status_code}")
            if response.status_code != 200:
                raise Refused(f"answered {response.status_code}")
            declared = response.headers.get("content-length", "")
            if (
                declared.isascii()
                and declared.isdigit()
                and int(declared) > MAX_PRODUCT_IMAGE_BYTES
            ):
                raise Refused("larger than 2 MiB")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_PRODUCT_IMAGE_BYTES:
                    raise Refused("larger than 2 MiB")
        finally:
            await response.aclose()
        if sniff_product_image(bytes(data[:12])) is None:
            raise Refused("not a PNG, JPEG, WebP or GIF image")
        return bytes(data)
    raise Refused(f"more than {MAX_REDIRECTS} redirects")


def _store(var_dir: Path, key: str, data: bytes) -> None:
    path = stored_path(var_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{key}.{secrets.token_hex(4)}"
    partial.write_bytes(data)
    os.replace(partial, path)


async def _claim(database: Database, now: datetime, limit: int) -> list[tuple[int, str, int]]:
    async with database.write() as session:
        rows = (
            await session.execute(
                select(ProductImage.id, ProductImage.url, ProductImage.attempts)
                .where(ProductImage.state == "pending", ProductImage.next_try_at <= now)
                .order_by(ProductImage.next_try_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if rows:
            await session.execute(
                update(ProductImage)
                .where(ProductImage.id.in_([row.id for row in rows]))
                .values(next_try_at=now + LEASE)
            )
    return [(row.id, row.url, row.attempts) for row in rows]


async def _one(
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    claimed: tuple[int, str, int],
    limiter: asyncio.Semaphore,
) -> None:
    image_id, url, attempts = claimed
    values: dict[str, object]
    async with limiter:
        try:
            data = await fetch_image(client, url, allow_private=settings.media_allow_private)
            await asyncio.to_thread(_store, settings.var_dir, image_key(url), data)
            values = {"state": "ready", "error": None}
        except Refused as exc:
            values = {"state": "failed", "error": str(exc)[:200]}
        except Unreachable as exc:
            tries = attempts + 1
            values = {"attempts": tries, "error": str(exc)[:200]}
            if tries >= MAX_ATTEMPTS:
                values["state"] = "failed"
            else:
                values["next_try_at"] = utcnow() + timedelta(minutes=2**tries)
    if values.get("state") == "failed":
        log.info("product image %s not shown: %s", image_key(url)[:12], values["error"])
    async with database.write() as session:
        await session.execute(
            update(ProductImage).where(ProductImage.id == image_id).values(**values)
        )


def new_client() -> httpx.AsyncClient:
    # No proxies from the environment: the address checked must be the one connected to.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "orderstatus (product image copy)"},
    )


async def fetch_due(
    database: Database, settings: Settings, *, client: httpx.AsyncClient | None = None
) -> int:
    """Fetch the images waiting now (at most one batch); returns how many were tried."""
    claimed = await _claim(database, utcnow(), BATCH)
    if not claimed:
        return 0
    own = client is None
    http = client or new_client()
    limiter = asyncio.Semaphore(CONCURRENCY)
    try:
        await asyncio.gather(*(_one(database, settings, http, c, limiter) for c in claimed))
    finally:
        if own:
            await http.aclose()
    return len(claimed)


async def run_fetcher(
    database: Database, settings: Settings, stop: asyncio.Event, *, interval: float = 5.0
) -> None:
    """Fetch new images until ``stop``: every ``interval`` seconds, at once after a full
    batch."""
    async with new_client() as client:
        while not stop.is_set():
            tried = 0
            try:
                tried = await fetch_due(database, settings, client=client)
            except Exception:
                log.exception("product image fetch failed; trying again in %.0f s", interval)
            if tried >= BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def start_fetcher(
    database: Database, settings: Settings, stop: asyncio.Event
) -> asyncio.Task[None]:
    return asyncio.create_task(run_fetcher(database, settings, stop), name="product-images")

"""Product images: fetched once by the server, served by us; pages never call the
merchant's image host (a tracking pixel, an IP leak)."""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app
from tests.conftest import ShopClient
from tests.integration.helpers import create_order


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00\xff\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = _png()


class ImageHost:
    """A merchant's image server on 127.0.0.1 that counts what it is asked."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if request.path == "/mug.png":
            return web.Response(body=PNG, content_type="image/png")
        if request.path == "/moved":
            raise web.HTTPFound("/mug.png")
        if request.path == "/huge.png":
            return web.Response(body=PNG + b"\x00" * (3 * 1024 * 1024), content_type="image/png")
        if request.path == "/page.png":
            return web.Response(
                text="<html><script>alert(1)</script></html>", content_type="image/png"
            )
        return web.Response(status=404)


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    images = ImageHost()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", images.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    images.base = f"http://127.0.0.1:{port}"
    yield images
    await runner.cleanup()


def _items(host: ImageHost, *paths: str) -> list[dict[str, object]]:
    return [
        {"title": f"Item {n}", "quantity": 1, "price": "10", "image_url": host.url(path)}
        for n, path in enumerate(paths)
    ]


async def _page(http: httpx.AsyncClient, order: dict[str, object]) -> httpx.Response:
    path = str(order["status_page_url"]).split("example.test", 1)[1]
    return await http.get(path)


def _images(html: str) -> list[str]:
    """The page's distinct image addresses, in order (an item may be listed twice)."""
    return list(dict.fromkeys(re.findall(r'<img src="([^"]+)"', html)))


async def _fetch(settings: Settings, database: Database) -> None:
    from orderstatus.services import product_images

    await product_images.fetch_due(database, settings)


@pytest.fixture
def allow_private(settings: Settings) -> Settings:
    return settings.model_copy(update={"media_allow_private": True})


async def test_the_page_shows_our_copy_of_a_product_image_fetched_once(
    api: ShopClient, host: ImageHost, allow_private: Settings, database: Database
) -> None:
    order = await create_order(
        api.http, line_items=_items(host, "/mug.png", "/moved", "/huge.png", "/page.png")
    )
    before = await _page(api.http, order)
    assert host.base not in before.text  # the merchant's host is never on the page
    policy = before.headers["content-security-policy"]
    img_src = re.search(r"img-src ([^;]+)", policy)
    assert img_src is not None and img_src.group(1).split() == ["'self'", "data:"]
    sources = _images(before.text)
    assert len(sources) == 4 and all("/media/products/" in s for s in sources)
    local = [s.split("example.test", 1)[1] for s in sources]
    placeholder = await api.http.get(local[0])
    assert placeholder.headers["content-type"].startswith("image/svg+xml")
    assert placeholder.headers["cache-control"] == "no-cache"
    assert host.hits == {}  # nothing is fetched while the order is stored

    await _fetch(allow_private, database)
    mug = await api.http.get(local[0])
    assert mug.status_code == 200 and mug.content == PNG
    assert mug.headers["content-type"] == "image/png"
    assert mug.headers["x-content-type-options"] == "nosniff"
    moved = await api.http.get(local[1])  # followed one redirect
    assert moved.content == PNG
    for refused in local[2:]:  # too big; not an image whatever it says
        answer = await api.http.get(refused)
        assert answer.headers["content-type"].startswith("image/svg+xml")
    stored = list((Path(allow_private.var_dir) / "media" / "products").iterdir())
    assert all(path.read_bytes() == PNG for path in stored)

    # A second order with the same image: no new request, the same copy.
    again = await create_order(api.http, line_items=_items(host, "/mug.png"))
    await _fetch(allow_private, database)
    assert host.hits["/mug.png"] == 2  # once directly, once through /moved
    assert _images((await _page(api.http, again)).text) == [sources[0]]
    assert host.hits["/huge.png"] == 1 and host.hits["/page.png"] == 1


async def test_private_addresses_are_refused_unless_allowed(
    api: ShopClient, host: ImageHost, settings: Settings, database: Database
) -> None:
    assert not settings.media_allow_private
    order = await create_order(api.http, line_items=_items(host, "/mug.png"))
    await _fetch(settings, database)
    await _fetch(settings, database)
    assert host.hits == {}
    local = _images((await _page(api.http, order)).text)[0].split("example.test", 1)[1]
    answer = await api.http.get(local)
    assert answer.headers["content-type"].startswith("image/svg+xml")


async def test_the_worker_in_the_web_process_fetches_new_images(
    host: ImageHost, allow_private: Settings, database: Database
) -> None:
    from orderstatus.services.accounts import create_api_key, create_shop

    async with database.write() as session:
        shop = await create_shop(session=session, handle="acme", name="Acme", currency="NOK")
        _row, key = await create_api_key(session=session, shop=shop, name="tests")
    app = create_app(allow_private, database, run_worker=True)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="https://testserver",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        order = await create_order(http, line_items=_items(host, "/mug.png"))
        local = _images((await _page(http, order)).text)[0].split("example.test", 1)[1]
        for _ in range(100):
            answer = await http.get(local)
            if answer.content == PNG:
                break
            await asyncio.sleep(0.1)
        assert answer.content == PNG

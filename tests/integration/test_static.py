"""Static files over real HTTP: pages link content-hashed names that are kept for a year,
compressed copies for browsers that take them, 304s for what a browser has."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.services.accounts import create_shop
from orderstatus.services.shop_settings import set_storefront
from tests.integration.live_server import serving

STATIC = Path(__file__).parents[2] / "src" / "orderstatus" / "web" / "static"
HASHED = re.compile(r'(?:href|src)="(/static/[^"]+\.[0-9a-f]{12}\.(?:css|js|svg))"')


@pytest.fixture
async def http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with database.write() as session:
        shop = await create_shop(session=session, handle="acme", name="Acme", currency="NOK")
        await set_storefront(session=session, shop_id=shop.id, enabled=True, actor="tests")
    async with (
        serving(settings, database) as (base, _app),
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        yield client


async def test_pages_link_hashed_names_kept_for_a_year(http: httpx.AsyncClient) -> None:
    page = await http.get("/shop/acme/")
    assert page.status_code == 200
    links = HASHED.findall(page.text)
    assert any(link.startswith("/static/app.") for link in links), links
    assert any(link.startswith("/static/products/") for link in links), links
    for link in links:
        answer = await http.get(link, headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200, link
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["etag"].startswith('"')
        name = re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", link.removeprefix("/static/"))
        assert answer.content == (STATIC / name).read_bytes()


async def test_compressed_copies_and_revalidation(http: httpx.AsyncClient) -> None:
    plain = (STATIC / "app.css").read_bytes()
    page = await http.get("/shop/acme/")
    [css] = [link for link in HASHED.findall(page.text) if link.startswith("/static/app.")]

    as_br = await http.get(css, headers={"Accept-Encoding": "gzip, br"})
    assert as_br.headers["content-encoding"] == "br"
    assert as_br.headers["vary"] == "Accept-Encoding"
    assert as_br.headers["content-type"] == "text/css; charset=utf-8"
    assert int(as_br.headers["content-length"]) < len(plain) / 2
    assert as_br.content == plain  # httpx undoes the coding (with brotli installed)

    as_gzip = await http.get(css, headers={"Accept-Encoding": "gzip;q=1, br;q=0"})
    assert as_gzip.headers["content-encoding"] == "gzip"
    assert as_gzip.content == plain

    identity = await http.get(css, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.content == plain
    assert len({as_br.headers["etag"], as_gzip.headers["etag"], identity.headers["etag"]}) == 3

    again = await http.get(
        css, headers={"Accept-Encoding": "gzip", "If-None-Match": as_gzip.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == as_gzip.headers["etag"]

    head = await http.head(css, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(plain))


async def test_plain_and_outdated_names_are_checked_each_time(http: httpx.AsyncClient) -> None:
    plain = await http.get("/static/app.css")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, no-cache"
    # A page of the previous release, during a rolling deployment, asks for an old hash:
    # it gets the file as it is now, not to be kept.
    outdated = await http.get("/static/app.0123456789ab.css")
    assert outdated.status_code == 200
    assert outdated.headers["cache-control"] == "public, no-cache"
    assert outdated.content == plain.content
    leaflet = await http.get("/static/leaflet/leaflet.js")
    assert leaflet.status_code == 200
    assert leaflet.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_what_is_not_a_static_file(http: httpx.AsyncClient) -> None:
    assert (await http.get("/static/nothing.css")).status_code == 404
    assert (await http.get("/static/../pyproject.toml")).status_code == 404
    assert (await http.get("/static/%2e%2e/config.py")).status_code == 404
    refused = await http.post("/static/app.css", content=b"x")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
    docs = await http.get("/api/docs")
    [script] = re.findall(r'src="(/static/api-docs\.[0-9a-f]{12}\.js)"', docs.text)
    assert (await http.get(script)).status_code == 200

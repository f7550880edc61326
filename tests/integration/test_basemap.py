"""The offline base map: served by the app, once per browser, under a strict policy."""

from __future__ import annotations

import json
import re

import httpx

from orderstatus.web.assets import app_assets
from tests.conftest import ShopClient
from tests.integration.helpers import create_order, fulfil


async def _map_page(api: ShopClient) -> httpx.Response:
    """A status page showing a map: a shipment seen in Oslo."""
    order = await create_order(api.http)
    shipment = await fulfil(
        api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999AA10123456784"
    )
    posted = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={
            "status": "in_transit",
            "occurred_at": "2026-01-05T10:00:00Z",
            "location": {
                "city": "Oslo",
                "country_code": "NO",
                "latitude": 59.91,
                "longitude": 10.75,
            },
        },
    )
    assert posted.status_code == 201, posted.text
    page = await api.http.get("/orders/" + order["status_page_url"].rsplit("/", 1)[1])
    assert page.status_code == 200
    assert 'class="map-slot"' in page.text
    return page


async def test_the_map_page_names_the_base_map_and_allows_no_other_site(api: ShopClient) -> None:
    page = await _map_page(api)
    urls = re.findall(r'data-basemap="([^"]+)"', page.text)
    assert urls and set(urls) == {app_assets().url("basemap/world.json")}
    assert re.findall(r'data-tiles="([^"]*)"', page.text) == [""]
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data:;" in policy
    assert "connect-src 'self';" in policy
    assert "http" not in policy  # no origin but our own


async def test_the_base_map_is_kept_a_year_and_sent_compressed(api: ShopClient) -> None:
    page = await _map_page(api)
    url = re.findall(r'data-basemap="([^"]+)"', page.text)[0]
    answer = await api.http.get(url, headers={"Accept-Encoding": "gzip"})  # httpx unpacks it
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"].startswith("application/json")
    assert int(answer.headers["content-length"]) < 200 * 1024  # what a phone downloads
    topology = json.loads(answer.content)
    assert topology["type"] == "Topology"
    assert len(topology["objects"]["land"]["arcs"]) > 100
    assert len(topology["objects"]["borders"]["arcs"]) > 100

    plain = await api.http.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert json.loads(plain.content) == topology
    assert len(plain.content) < 400 * 1024

    again = await api.http.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": answer.headers["etag"]}
    )
    assert again.status_code == 304


async def test_an_old_base_map_address_is_not_kept(api: ShopClient) -> None:
    """A page of the previous release asks for the base map it knew: it gets today's, to be
    checked again next time rather than kept a year under the old name."""
    answer = await api.http.get("/static/basemap/world.0123456789ab.json")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, no-cache"

"""The shipment map: where the parcel was last seen, and none for carriers without tracking."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.factories import order_payload
from tests.integration.test_product_images import PNG
from tests.live import server


def demo_urls(output: str) -> dict[str, str]:
    return dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/[^\s?]+)", output))


def api_key(output: str) -> str:
    return next(
        line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("API key")
    )


def test_the_marker_moves_to_the_city_of_a_new_event(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    orders = httpx.get(f"{base}/api/v1/orders", params={"number": "1002"}, headers=auth).json()
    shipment = orders["orders"][0]["fulfillments"][0]
    page = chromium.new_page()
    page.goto(demo_urls(output)["#1002"] + "?lang=en")
    expect(page.locator(f"#map-{shipment['id']} .leaflet-tooltip")).to_contain_text("Trondheim")

    posted = httpx.post(
        f"{base}/api/v1/fulfillments/{shipment['id']}/events",
        headers=auth,
        json={
            "status": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),  # newer than the demo's
            "message": "Arrived at terminal",
            "location": {"city": "TROMSØ", "country_code": "NO"},
        },
    )
    assert posted.status_code == 201, posted.text
    page.reload()
    tooltip = page.locator(f"#map-{shipment['id']} .leaflet-tooltip")
    expect(tooltip).to_contain_text("Tromsø")
    where = page.evaluate(
        "id => window.orderstatusMaps[id].marker.getLatLng()", str(shipment["id"])
    )
    assert abs(where["lat"] - 69.65) < 0.1 and abs(where["lng"] - 18.96) < 0.1
    # No tiles could be loaded, yet the route is drawn.
    assert page.locator(f"#map-{shipment['id']} path.leaflet-interactive").count() == 2
    page.screenshot(path=str(screenshots / "map-1280.png"), full_page=False)
    page.close()


def test_no_map_for_a_carrier_without_live_tracking(
    chromium: Any, demo_server: tuple[str, str]
) -> None:
    _base, output = demo_server
    page = chromium.new_page()
    page.goto(demo_urls(output)["#1007"] + "?lang=en")
    expect(page.get_by_role("heading", name="Shipment On its way")).to_be_visible()
    assert page.locator(".map-slot").count() == 0
    assert page.locator("script[src='/static/leaflet/leaflet.js']").count() == 0
    page.close()


def test_a_place_name_from_a_webhook_shows_as_text_not_as_a_link(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    """Carriers' place names are data: a "city" of markup is shown as the words it is."""
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    city = "<a href=https://evil.example/login>Sign in again</a>"
    created = httpx.post(f"{base}/api/v1/orders", headers=auth, json=order_payload(locale="en"))
    assert created.status_code == 201, created.text
    order = created.json()
    shipment = httpx.post(
        f"{base}/api/v1/orders/{order['id']}/fulfillments",
        headers=auth,
        json={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
    ).json()
    posted = httpx.post(
        f"{base}/api/v1/fulfillments/{shipment['id']}/events",
        headers=auth,
        json={
            "status": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "location": {"city": city, "country_code": "NO", "latitude": 59.91, "longitude": 10.75},
        },
    )
    assert posted.status_code == 201, posted.text
    page = chromium.new_page()
    path = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]
    page.goto(f"{base}{path}?lang=en")
    tooltip = page.locator(f"#map-{shipment['id']} .leaflet-tooltip")
    expect(tooltip).to_contain_text(city)
    assert tooltip.locator("a").count() == 0
    assert page.locator("a[href*='evil.example']").count() == 0
    page.screenshot(path=str(screenshots / "map-place-as-text.png"), full_page=False)
    page.close()


# The base map without tiles: drawn from the app's own file, nothing asked of anyone else.

OSLO = {"city": "Oslo", "country_code": "NO", "latitude": 59.91, "longitude": 10.75}
TRONDHEIM = {"city": "Trondheim", "country_code": "NO", "latitude": 63.43, "longitude": 10.40}
TROMSO = {"city": "Tromsø", "country_code": "NO", "latitude": 69.65, "longitude": 18.96}


def _shipment_through(base: str, auth: dict[str, str], *places: dict[str, Any]) -> tuple[str, str]:
    """A new order whose shipment was seen at these places in turn: (page URL, its id)."""
    created = httpx.post(
        f"{base}/api/v1/orders", headers=auth, json=order_payload(locale="en"), timeout=30
    )
    assert created.status_code == 201, created.text
    order = created.json()
    shipment = httpx.post(
        f"{base}/api/v1/orders/{order['id']}/fulfillments",
        headers=auth,
        json={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        timeout=30,
    ).json()
    for place in places:
        _seen_at(base, auth, str(shipment["id"]), place)
    path = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]
    return f"{base}{path}?lang=en", str(shipment["id"])


def _seen_at(base: str, auth: dict[str, str], shipment: str, place: dict[str, Any]) -> None:
    posted = httpx.post(
        f"{base}/api/v1/fulfillments/{shipment}/events",
        headers=auth,
        json={
            "status": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "location": place,
        },
        timeout=30,  # the first one waits for the server's gazetteer on a busy machine
    )
    assert posted.status_code == 201, posted.text


class Traffic:
    """Every request a page makes, those that failed or were refused, and console errors."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: self.refused.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )


def _label_inside_map(page: Any, shipment: str) -> None:
    label = page.locator(f"#map-{shipment} .leaflet-tooltip").bounding_box()
    frame = page.locator(f"#map-{shipment}").bounding_box()
    assert label is not None and frame is not None
    assert label["y"] >= frame["y"], (label, frame)
    assert label["x"] >= frame["x"], (label, frame)
    assert label["x"] + label["width"] <= frame["x"] + frame["width"], (label, frame)
    assert label["y"] + label["height"] <= frame["y"] + frame["height"], (label, frame)


def test_without_tiles_the_map_draws_land_and_asks_nothing_of_other_sites(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    url, shipment = _shipment_through(base, auth, OSLO, TRONDHEIM)
    for width in (375, 1280):
        context = chromium.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        traffic = Traffic(page)
        page.goto(url)
        land = page.locator(f"#map-{shipment} path.basemap-land")
        expect(land).to_have_count(1)
        # Norway's coast and its neighbours are in view: a long outline, not an empty path.
        assert (land.get_attribute("d") or "").count("L") > 100
        expect(page.locator(f"#map-{shipment} path.basemap-borders")).to_have_count(1)
        expect(page.locator(f"#map-{shipment} .leaflet-tooltip")).to_contain_text("Trondheim")
        expect(page.locator(f"#map-{shipment} .leaflet-control-attribution")).to_contain_text(
            "Natural Earth"
        )
        assert page.locator(f"#map-{shipment} img").count() == 0  # no tiles
        _label_inside_map(page, shipment)
        page.wait_for_timeout(500)  # anything late would show up now
        assert [u for u in traffic.requests if not u.startswith(f"{base}/")] == []
        assert traffic.failed == [] and traffic.refused == []
        # The browser's own favicon.ico guess is the page's business, not the map's.
        assert [e for e in traffic.errors if "/favicon.ico" not in e] == []
        assert len([u for u in traffic.requests if "/basemap/" in u]) == 1
        page.locator(f"#map-{shipment}").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / f"map-offline-{width}.png"), full_page=False)

        # The next page in this browser draws the base map from its cache.
        again = context.new_page()
        again.goto(url)
        expect(again.locator(f"#map-{shipment} path.basemap-land")).to_have_count(1)
        transferred = again.evaluate(
            "performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/basemap/')).map(e => e.transferSize)"
        )
        assert transferred == [0]
        context.close()


def test_a_live_update_moves_the_pin_without_loading_the_map_again(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    url, shipment = _shipment_through(base, auth, OSLO, TRONDHEIM)
    context = chromium.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    traffic = Traffic(page)
    page.goto(url)
    expect(page.locator(f"#map-{shipment} path.basemap-land")).to_have_count(1)
    page.evaluate("window.__sameDocument = true")
    page.wait_for_timeout(300)  # the live stream is open
    traffic.requests.clear()

    # Tromsø is the route's northern end: its label sits at the top edge of the map.
    _seen_at(base, auth, shipment, TROMSO)
    expect(page.locator(f"#map-{shipment} .leaflet-tooltip")).to_contain_text("Tromsø")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__sameDocument") is True
    # The update came over the open stream: nothing was asked again, not the base map,
    # not the page, not a script or an image.
    assert traffic.requests == []
    assert traffic.failed == [] and traffic.refused == []
    where = page.evaluate("id => window.orderstatusMaps[id].marker.getLatLng()", shipment)
    assert abs(where["lat"] - 69.65) < 0.01
    _label_inside_map(page, shipment)
    page.locator(f"#map-{shipment}").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "map-offline-live-375.png"), full_page=False)
    context.close()


def test_a_map_drawn_while_hidden_is_right_when_shown(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    """A map behind a "Show map" control is laid out with no size; shown, it fits again."""
    base, output = demo_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    url, shipment = _shipment_through(base, auth, OSLO, TRONDHEIM)
    context = chromium.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.add_init_script(
        "new MutationObserver(() => document.querySelectorAll('figure.map:not([data-seen])')"
        ".forEach(f => { f.dataset.seen = '1'; f.hidden = true; }))"
        ".observe(document, {childList: true, subtree: true});"
    )
    traffic = Traffic(page)
    page.goto(url)
    page.wait_for_function("id => !!window.orderstatusMaps[id]", arg=shipment)
    expect(page.locator(f"#map-{shipment}")).to_be_hidden()
    page.wait_for_timeout(300)
    assert [u for u in traffic.requests if "/basemap/" in u] == []  # not fetched unseen
    page.evaluate("document.querySelector('figure.map').hidden = false")
    expect(page.locator(f"#map-{shipment} path.basemap-land")).to_have_count(1)
    assert len([u for u in traffic.requests if "/basemap/" in u]) == 1
    page.wait_for_timeout(300)
    assert (page.locator(f"#map-{shipment} path.basemap-land").get_attribute("d") or "").count(
        "L"
    ) > 100
    frame = page.locator(f"#map-{shipment}").bounding_box()
    pin = page.locator(f"#map-{shipment} path.leaflet-interactive").last.bounding_box()
    assert frame is not None and pin is not None
    assert frame["x"] < pin["x"] < frame["x"] + frame["width"] - pin["width"]
    assert frame["y"] < pin["y"] < frame["y"] + frame["height"] - pin["height"]
    _label_inside_map(page, shipment)
    page.locator(f"#map-{shipment}").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "map-offline-shown-375.png"), full_page=False)
    context.close()


# Tiles stay an option: with ORDERSTATUS_MAP_TILE_URL the map shows them, credited.


class TileHandler(BaseHTTPRequestHandler):
    asked: list[str] = []

    def do_GET(self) -> None:
        TileHandler.asked.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tiled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A demo server with a tile server on this machine: (base URL, output, tile origin)."""
    tiles = ThreadingHTTPServer(("127.0.0.1", 0), TileHandler)
    threading.Thread(target=tiles.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{tiles.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    env["ORDERSTATUS_MAP_TILE_URL"] = origin + "/{z}/{x}/{y}.png"
    env["ORDERSTATUS_MAP_ATTRIBUTION"] = "Tiles © Example Maps"
    folder = tmp_path_factory.mktemp("tiled")
    try:
        with server("demo", "--no-carrier", env=env, cwd=folder) as (base, log):
            yield base, log.read_text(), origin
    finally:
        tiles.shutdown()
        tiles.server_close()


def test_with_a_tile_url_the_map_shows_those_tiles_and_credits_them(
    chromium: Any, tiled_server: tuple[str, str, str], screenshots: Path
) -> None:
    base, output, origin = tiled_server
    auth = {"Authorization": f"Bearer {api_key(output)}"}
    url, shipment = _shipment_through(base, auth, OSLO, TRONDHEIM)
    context = chromium.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    traffic = Traffic(page)
    response = page.goto(url)
    assert response is not None
    assert f"img-src 'self' data: {origin};" in response.headers["content-security-policy"]
    expect(page.locator(f"#map-{shipment} img.leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator(f"#map-{shipment} .leaflet-control-attribution")).to_contain_text(
        "Tiles © Example Maps"
    )
    expect(page.locator(f"#map-{shipment} .leaflet-tooltip")).to_contain_text("Trondheim")
    page.wait_for_timeout(300)
    assert page.locator(f"#map-{shipment} path.basemap-land").count() == 0
    assert [u for u in traffic.requests if "/basemap/" in u] == []
    assert {u.split("/", 3)[2] for u in traffic.requests} == {
        base.split("/")[2],
        origin.split("/")[2],
    }
    assert traffic.failed == [] and traffic.refused == []
    assert any(path.endswith(".png") for path in TileHandler.asked)
    page.screenshot(path=str(screenshots / "map-tiles-375.png"), full_page=False)
    context.close()

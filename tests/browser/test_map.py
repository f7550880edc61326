"""The shipment map: where the parcel was last seen, and none for carriers without tracking."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.factories import order_payload


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

"""Inbox tracking: every shipping e-mail carries a schema.org ParcelDelivery in JSON-LD
with what Google's e-mail markup documentation requires, made of what the e-mail's
reader (the owner) may see, and a TrackAction to the order's page."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import NotificationTemplate
from orderstatus.notify.worker import Worker, WorkerConfig
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order, fulfil
from tests.messaging import MailServer, Received

FAST = WorkerConfig(backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5)
KIND = re.compile(r"<o\d+\.f(\d+)\.([a-z_]+)\.email\.")
SHIPPING_KINDS = {
    "shipping_confirmation",
    "shipping_update",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
}
REQUIRED = {
    # Google's "Parcel Delivery" reference: the properties marked (Required).
    "carrier": ["name"],
    "deliveryAddress": ["addressCountry", "addressLocality", "postalCode", "streetAddress"],
    "itemShipped": ["name"],
    "partOfOrder": ["orderNumber", "merchant"],
}


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "script" and ("type", "application/ld+json") in attrs
        if self._in:
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.found[-1] += data


def json_ld(html: str) -> list[dict[str, Any]]:
    parser = _Scripts()
    parser.feed(html)
    return [json.loads(text) for text in parser.found]


def soon(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
async def worker(database: Database, settings: Settings, mail: MailServer) -> AsyncIterator[Worker]:
    w = Worker(database, settings.model_copy(update={"smtp_url": mail.url}), FAST)
    yield w
    await w.close()


async def event(api: ShopClient, shipment: dict[str, Any], status: str, minutes: float) -> None:
    response = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={
            "status": status,
            "occurred_at": soon(minutes),
            "estimated_delivery": soon(60 * 48),
        },
    )
    assert response.status_code in (200, 201), response.text


def check_required(delivery: dict[str, Any], *, region: bool) -> None:
    assert delivery["@context"] in ("http://schema.org", "https://schema.org")
    assert delivery["@type"] == "ParcelDelivery"
    for name, inner in REQUIRED.items():
        value = delivery[name]
        for one in value if isinstance(value, list) else [value]:
            assert one, name
            for field in inner:
                assert one.get(field), f"{name}.{field} missing in {one}"
    assert delivery["partOfOrder"]["merchant"]["name"]
    assert ("addressRegion" in delivery["deliveryAddress"]) is region
    arrival = datetime.fromisoformat(delivery["expectedArrivalUntil"])
    assert arrival.tzinfo is not None


async def test_every_shipping_email_carries_a_parcel_delivery(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    us = order_payload(
        shipping_address={
            "name": "Kari Nordmann",
            "address1": "1600 Amphitheatre Pkwy",
            "address2": "Building 4",
            "city": "Mountain View",
            "province": "CA",
            "zip": "94043",
            "country_code": "US",
        },
        phone="+14155550123",
    )
    abroad = await create_order(api.http, **us)
    home = await create_order(api.http)  # Norway: no region in the address
    async with database.write() as session:  # the merchant's own wording, no <body>
        session.add(
            NotificationTemplate(
                shop_id=api.shop_id,
                kind="out_for_delivery",
                locale="nb",
                subject="Snart hos deg: {{ order.name }}",
                text="Snart!",
                html="<p>Snart!</p>",
            )
        )
    first = await fulfil(
        api.http, abroad, [(0, 1), (1, 1)], carrier="ups", tracking_number="1Z999AA10123456784"
    )
    second = await fulfil(api.http, home, [(2, 1)], carrier="bring", tracking_number="TESTPAK1")
    third = await fulfil(api.http, home, [(0, 1)], carrier="bring", tracking_number="TESTPAK2")
    for shipment in (first, second, third):
        await event(api, shipment, "in_transit", 1)
    await event(api, first, "out_for_delivery", 2)
    await event(api, first, "delivered", 3)
    await event(api, second, "delayed", 2)
    await event(api, third, "ready_for_pickup", 2)
    await worker.drain()

    seen: set[str] = set()
    by_shipment = {first["id"]: (abroad, first), second["id"]: (home, second)}
    by_shipment[third["id"]] = (home, third)
    for received in mail.received:
        match = KIND.match(received.message_id)
        assert match, received.message_id
        kind = match.group(2)
        found = json_ld(received.part("html"))
        if kind not in SHIPPING_KINDS:
            assert found == [], kind  # the order confirmation tells of no parcel
            continue
        seen.add(kind)
        assert len(found) == 1, kind
        delivery = found[0]
        order, shipment = by_shipment[int(match.group(1))]
        check_required(delivery, region=order is abroad)
        assert delivery["partOfOrder"]["orderNumber"] == order["number"]
        assert delivery["trackingNumber"] == shipment["tracking_number"]
        assert delivery["trackingUrl"].startswith("https://")
        assert [i["name"] for i in delivery["itemShipped"]] == [
            (f"{i['title']} ({i['variant']})" if i.get("variant") else i["title"])
            for line in shipment["line_items"]
            for i in order["line_items"]
            if i["id"] == line["id"]
        ]
        page = _links(received)  # none where the merchant's own template shows no link
        target = delivery["potentialAction"]["target"]
        assert delivery["potentialAction"]["@type"] == "TrackAction"
        assert target.startswith(order["status_page_url"] + "?key=")
        assert target in page or (not page and kind == "out_for_delivery")
        assert delivery["partOfOrder"]["url"] == target
        text = json.dumps(delivery)
        for private in ("kari@example.com", "+14155550123", "4242", "Visa"):
            assert private not in text  # what the page keeps for the owner, not the parcel's
        if kind == "delivered":  # when it arrived
            arrived = datetime.fromisoformat(delivery["expectedArrivalUntil"])
            assert abs(arrived - datetime.now(UTC)) < timedelta(minutes=10)
        if kind == "out_for_delivery":  # the merchant's own template has it too
            assert received.subject.startswith("Snart hos deg")
    assert seen == SHIPPING_KINDS


def _links(received: Received) -> set[str]:
    return {link.replace("&amp;", "&") for link in received.links()}

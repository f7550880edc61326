"""Fulfilling orders and recording tracking events through the REST API."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderstatus.db.engine import Database
from orderstatus.domain.statuses import EventStatus
from tests.conftest import ShopClient
from tests.integration.helpers import create_order, fulfil, row_counts

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


async def post_event(api: ShopClient, fulfillment_id: int, **body: Any) -> Any:
    return await api.http.post(f"/api/v1/fulfillments/{fulfillment_id}/events", json=body)


async def status_of(api: ShopClient, order_id: int) -> dict[str, Any]:
    response = await api.http.get(f"/api/v1/orders/{order_id}/status")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_partial_then_full_fulfilment(api: ShopClient) -> None:
    order = await create_order(api.http)
    first = await fulfil(
        api.http, order, [(0, 1), (1, 1)], carrier="UPS", tracking_number="1Z999AA10123456784"
    )
    assert first["status"] == "in_transit"
    assert first["carrier"] == "ups"
    assert sorted(i["quantity"] for i in first["line_items"]) == [1, 1]
    after = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()
    assert after["fulfillment_status"] == "partial"
    assert [i["fulfilled_quantity"] for i in after["line_items"]] == [1, 1, 0]
    assert after["headline"] == "On its way"

    rest = await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})
    assert rest.status_code == 201
    assert rest.json()["line_items"] == [{"id": order["line_items"][2]["id"], "quantity": 1}]
    done = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()
    assert done["fulfillment_status"] == "fulfilled"
    assert len(done["fulfillments"]) == 2


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("DHL Express", "dhl_express"),  # a carrier's name
        ("Posten", "posten_norge"),  # a name merchants use for it
        (" Hurtigbud ", "hurtigbud"),  # a carrier we do not know: kept, without live tracking
    ],
)
async def test_a_carrier_is_stored_by_its_code_however_it_is_named(
    api: ShopClient, given: str, stored: str
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier=given, tracking_number="HB-1")
    assert shipment["carrier"] == stored
    status = await status_of(api, order["id"])
    assert [f["carrier"] for f in status["fulfillments"]] == [stored]


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([(0, 2)], 409),  # more than ordered
        ([(0, 1), (0, 1)], 422),  # the same line twice
    ],
)
async def test_over_fulfilment_is_refused_and_writes_nothing(
    api: ShopClient, database: Database, lines: list[tuple[int, int]], status: int
) -> None:
    order = await create_order(api.http)
    before = await row_counts(database)
    body = {"line_items": [{"id": order["line_items"][i]["id"], "quantity": q} for i, q in lines]}
    response = await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json=body)
    assert response.status_code == status, response.text
    assert await row_counts(database) == before


async def test_fulfilling_what_was_already_shipped_is_a_conflict(
    api: ShopClient, database: Database
) -> None:
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)])
    before = await row_counts(database)
    again = {"line_items": [{"id": order["line_items"][0]["id"], "quantity": 1}]}
    response = await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json=again)
    assert response.status_code == 409
    assert "0 left to fulfil" in response.json()["error"]["message"]
    await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})
    everything = await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})
    assert everything.status_code == 409
    assert (await row_counts(database))["fulfillments"] == before["fulfillments"] + 1


async def test_a_line_item_of_another_order_is_refused(api: ShopClient) -> None:
    order = await create_order(api.http)
    other = await create_order(api.http)
    body = {"line_items": [{"id": other["line_items"][0]["id"], "quantity": 1}]}
    response = await api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json=body)
    assert response.status_code == 422
    assert "line_items" in response.json()["error"]["fields"]


async def test_events_out_of_order_and_twice_give_the_right_status(api: ShopClient) -> None:
    """The issue's curl walk: 2 of 3 items shipped, events shuffled and repeated."""
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1), (1, 1)], carrier="ups")
    events = [
        {"status": "label_purchased", "occurred_at": at(0), "external_id": "e1"},
        {
            "status": "carrier_picked_up",
            "occurred_at": at(2),
            "external_id": "e2",
            "location": {"city": "Oslo", "country_code": "NO"},
        },
        {
            "status": "in_transit",
            "occurred_at": at(10),
            "external_id": "e3",
            "location": {
                "city": "Bergen",
                "country_code": "no",
                "latitude": 60.39,
                "longitude": 5.32,
            },
        },
        {"status": "out_for_delivery", "occurred_at": at(20), "external_id": "e4"},
    ]
    for body in [events[3], events[1], events[0], events[3], events[2], events[1]]:
        response = await post_event(api, shipment["id"], **body)
        assert response.status_code in (200, 201)
    status = await status_of(api, order["id"])
    assert status["fulfillment_status"] == "partial"
    assert status["headline"] == "Out for delivery"
    [only] = status["fulfillments"]
    assert only["status"] == "out_for_delivery"
    assert [e["external_id"] for e in only["events"]] == ["e4", "e3", "e2", "e1"]
    bergen = only["events"][1]["location"]
    assert bergen["country_code"] == "NO" and bergen["latitude"] == 60.39


async def test_a_repeat_answers_200_with_the_stored_event(
    api: ShopClient, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    first = await post_event(
        api, shipment["id"], status="in_transit", occurred_at=at(1), external_id="x-1"
    )
    assert first.status_code == 201 and first.json()["created"] is True
    before = await row_counts(database)
    # Same id with other content, and same content with no id: both are repeats.
    again = await post_event(
        api, shipment["id"], status="delivered", occurred_at=at(5), external_id="x-1"
    )
    assert again.status_code == 200
    assert again.json()["event"] == first.json()["event"]
    assert again.json()["fulfillment_status"] == "in_transit"
    same_content = await post_event(api, shipment["id"], status="in_transit", occurred_at=at(1))
    assert same_content.status_code == 200
    assert same_content.json()["event"]["id"] == first.json()["event"]["id"]
    assert await row_counts(database) == before


async def test_delivered_holds_until_a_later_failure(api: ShopClient) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1), (1, 1), (2, 1)])
    await post_event(api, shipment["id"], status="delivered", occurred_at=at(5))
    late_scan = await post_event(api, shipment["id"], status="in_transit", occurred_at=at(6))
    assert late_scan.json()["fulfillment_status"] == "delivered"
    assert (await status_of(api, order["id"]))["headline"] == "Delivered"
    returned = await post_event(
        api, shipment["id"], status="returned_to_sender", occurred_at=at(30)
    )
    assert returned.json()["fulfillment_status"] == "returned_to_sender"
    listed = (await api.http.get("/api/v1/orders", params={"status": "returned_to_sender"})).json()
    assert [o["id"] for o in listed["orders"]] == [order["id"]]


async def test_the_headline_counts_delivered_shipments(api: ShopClient) -> None:
    order = await create_order(api.http)
    shipments = [await fulfil(api.http, order, [(i, 1)]) for i in range(3)]
    for shipment in shipments[:2]:
        await post_event(api, shipment["id"], status="delivered", occurred_at=at(3))
    status = await status_of(api, order["id"])
    assert status["headline"] == "2 of 3 shipments delivered"
    assert (await api.http.get(f"/api/v1/orders/{order['id']}")).json()[
        "delivery_status"
    ] == "in_transit"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "teleported", "occurred_at": at(1)}, "status"),
        ({"status": "delivered"}, "occurred_at"),
        ({"status": "delivered", "occurred_at": "yesterday"}, "occurred_at"),
        ({"status": "delivered", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        (
            {
                "status": "delivered",
                "occurred_at": at(1),
                "location": {"latitude": 91, "longitude": 0},
            },
            "location.latitude",
        ),
        ({"status": "delivered", "occurred_at": at(1), "location": {"latitude": 60}}, "location"),
    ],
)
async def test_bad_events_are_422_and_write_nothing(
    api: ShopClient, database: Database, body: dict[str, Any], field: str
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    before = await row_counts(database)
    response = await post_event(api, shipment["id"], **body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert await row_counts(database) == before


async def test_a_time_without_offset_is_read_as_utc_and_marked_a_guess(api: ShopClient) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    response = await post_event(
        api, shipment["id"], status="in_transit", occurred_at="2026-11-20T10:00:00"
    )
    event = response.json()["event"]
    assert event["occurred_at"] == "2026-11-20T10:00:00Z"
    assert event["occurred_at_guessed"] is True


async def test_another_shops_fulfilment_is_not_found(
    api: ShopClient, other_api: ShopClient, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    before = await row_counts(database)
    response = await post_event(other_api, shipment["id"], status="delivered", occurred_at=at(1))
    assert response.status_code == 404
    assert (await post_event(api, 987654, status="delivered", occurred_at=at(1))).status_code == 404
    assert await row_counts(database) == before


async def test_concurrent_events_for_one_order_end_in_the_derived_state(api: ShopClient) -> None:
    """Many senders at once, in any order: the stored statuses match the derivation."""
    order = await create_order(api.http)
    shipments = [await fulfil(api.http, order, [(i, 1)]) for i in range(3)]
    plan = [
        (shipments[0]["id"], "in_transit", 1),
        (shipments[0]["id"], "out_for_delivery", 5),
        (shipments[0]["id"], "delivered", 7),
        (shipments[0]["id"], "in_transit", 8),
        (shipments[1]["id"], "in_transit", 2),
        (shipments[1]["id"], "attempted_delivery", 9),
        (shipments[2]["id"], "in_transit", 3),
        (shipments[2]["id"], "delivered", 4),
    ]
    posts = [
        post_event(api, fid, status=s, occurred_at=at(h), external_id=f"{fid}-{s}-{h}")
        for fid, s, h in plan * 2
    ]
    random.Random(7).shuffle(posts)
    responses = await asyncio.gather(*posts)
    assert all(r.status_code in (200, 201) for r in responses)
    status = await status_of(api, order["id"])
    assert [f["status"] for f in status["fulfillments"]] == [
        "delivered",
        "attempted_delivery",
        "delivered",
    ]
    assert status["headline"] == "Delivery attempted (2 of 3 shipments delivered)"
    assert (await api.http.get(f"/api/v1/orders/{order['id']}")).json()["delivery_status"] == (
        "attempted_delivery"
    )


async def test_a_scan_with_only_a_place_name_is_put_on_the_map(api: ShopClient) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="bring")
    response = await post_event(
        api,
        shipment["id"],
        status="in_transit",
        occurred_at="2026-11-20T10:00:00",
        location={"city": "BERGEN", "country_code": "NO"},
    )
    event = response.json()["event"]
    assert round(event["location"]["latitude"], 1) == 60.4
    assert round(event["location"]["longitude"], 1) == 5.3
    # Without an offset the time is read in Bergen's zone (UTC+1 in November), as a guess.
    assert event["occurred_at"] == "2026-11-20T09:00:00Z"
    assert event["occurred_at_guessed"] is True
    unknown = await post_event(
        api,
        shipment["id"],
        status="in_transit",
        occurred_at=at(30),
        location={"city": "Springfield", "country_code": "US"},
    )
    assert unknown.json()["event"]["location"]["latitude"] is None


async def test_the_api_lists_every_status_of_the_domain(app_http: Any) -> None:
    """A status added to the domain (e.g. no_recent_updates) is in the schema by itself."""
    spec = (await app_http.get("/api/openapi.json")).json()
    assert spec["components"]["schemas"]["EventStatus"]["enum"] == [s.value for s in EventStatus]
    assert "no_recent_updates" in spec["components"]["schemas"]["EventStatus"]["enum"]

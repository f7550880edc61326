"""The OpenAPI description says what the API really accepts, and the API holds to it."""

from __future__ import annotations

import base64

import pytest

from orderstatus.db.engine import Database
from orderstatus.domain.statuses import EventStatus, FulfillmentStatus
from tests.conftest import ShopClient
from tests.factories import event_payload, order_payload
from tests.integration.helpers import create_order, fulfil, row_counts


async def test_statuses_currencies_and_countries_are_enums(api: ShopClient) -> None:
    spec = (await api.http.get("/api/openapi.json")).json()
    listing = spec["paths"]["/api/v1/orders"]["get"]["parameters"]
    [status] = [p for p in listing if p["name"] == "status"]
    schemas = spec["components"]["schemas"]
    filter_enum = schemas[status["schema"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert set(filter_enum) == {s.value for s in (*FulfillmentStatus, *EventStatus)}
    assert set(schemas["EventStatus"]["enum"]) == {s.value for s in EventStatus}
    order = schemas["OrderInput"]["properties"]
    assert "NOK" in order["currency"]["enum"]
    assert "NO" in schemas["Address"]["properties"]["country_code"]["enum"]
    assert order["email"]["anyOf"][0]["format"] == "email"
    assert order["phone"]["anyOf"][0]["format"] == "phone"
    price = schemas["LineItemInput"]["properties"]["price"]
    assert price["type"] == "string" and "pattern" in price


async def test_a_405_lists_every_method_of_its_path(api: ShopClient) -> None:
    response = await api.http.put("/api/v1/orders", json={})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "POST"}
    response = await api.http.get("/webhooks/custom/acme")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("when", [0, 1700000000, "1700000000", 1.5])
async def test_date_times_are_iso_text_only(
    api: ShopClient, database: Database, when: object
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    url = f"/api/v1/fulfillments/{shipment['id']}/events"
    for body in (
        event_payload("in_transit", "2024-05-01T10:00:00Z", estimated_delivery=when),
        {"status": "in_transit", "occurred_at": when},
    ):
        response = await api.http.post(url, json=body)
        assert response.status_code == 422, response.text
    assert await row_counts(database) == before


async def test_money_is_decimal_text(api: ShopClient, database: Database) -> None:
    before = await row_counts(database)
    for price in (299, 2.5, "1e3", " 12 "):
        items = [{"title": "Mug", "quantity": 1, "price": price}]
        response = await api.http.post("/api/v1/orders", json=order_payload(line_items=items))
        assert response.status_code == 422, (price, response.text)
    items = [{"title": "Mug", "quantity": 10**5, "price": "999999999999"}] * 2
    response = await api.http.post("/api/v1/orders", json=order_payload(line_items=items))
    assert response.status_code == 422, response.text
    assert await row_counts(database) == before


async def test_a_cursor_beyond_any_id_lists_from_the_newest(api: ShopClient) -> None:
    """Well formed (what the API's description allows), so not refused; and never a 500
    from an id no column can hold."""
    for number in (2**31, 2**63, 10**30):
        cursor = base64.urlsafe_b64encode(f"o:{number}".encode()).decode().rstrip("=")
        response = await api.http.get("/api/v1/orders", params={"cursor": cursor})
        assert response.status_code == 200, response.text

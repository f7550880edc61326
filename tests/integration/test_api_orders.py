"""Creating, reading and listing orders through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from orderstatus.db.engine import Database
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order, row_counts


async def test_create_order_returns_it_with_item_ids_and_the_status_page(api: ShopClient) -> None:
    response = await api.http.post("/api/v1/orders", json=order_payload(phone="+47 412 34 567"))
    assert response.status_code == 201
    order = response.json()
    assert order["name"] == "#1001"
    assert order["status_page_url"].startswith("https://status.example.test/orders/")
    token = order["status_page_url"].rsplit("/", 1)[1]
    assert len(token) >= 22 and "1001" not in token  # ≥128 bits, not the order number
    assert order["phone"] == "+4741234567"
    assert order["locale"] == "nb-NO"
    assert [i["title"] for i in order["line_items"]] == ["Mug", "Scarf", "Socks"]
    assert all(isinstance(i["id"], int) for i in order["line_items"])
    assert order["totals"] == {
        "subtotal": "747.00",
        "shipping": "0.00",
        "discount": "0.00",
        "tax": "0.00",
        "taxes_included": False,
        "total": "747.00",
    }
    assert order["fulfillment_status"] == "unfulfilled"
    assert order["headline"] == "Order confirmed"

    fetched = await api.http.get(f"/api/v1/orders/{order['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == order


async def test_numbers_count_up_and_skip_numbers_the_caller_took(api: ShopClient) -> None:
    assert (await create_order(api.http, number="#1002"))["name"] == "#1002"
    assert (await create_order(api.http))["name"] == "#1001"
    assert (await create_order(api.http))["name"] == "#1003"


async def test_a_taken_number_is_a_conflict_and_writes_nothing(
    api: ShopClient, database: Database
) -> None:
    await create_order(api.http, number="A-77")
    before = await row_counts(database)
    response = await api.http.post("/api/v1/orders", json=order_payload(number="A-77"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert await row_counts(database) == before


async def test_each_shop_numbers_its_own_orders(api: ShopClient, other_api: ShopClient) -> None:
    assert (await create_order(api.http))["name"] == "#1001"
    assert (await create_order(other_api.http))["name"] == "#1001"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b'{"currency": "NOK",', 400, "malformed_json", None),
        (b"", 400, "missing_body", None),
        (order_payload(email=None), 422, "invalid", "body"),
        (order_payload(email="nope"), 422, "invalid", "email"),
        (order_payload(currency="EURO"), 422, "invalid", "currency"),
        (order_payload(line_items=[]), 422, "invalid", "line_items"),
        (
            order_payload(line_items=[{"title": "Mug", "quantity": 0, "price": "1"}]),
            422,
            "invalid",
            "line_items.0.quantity",
        ),
        (
            order_payload(line_items=[{"title": "Mug", "quantity": 1, "price": "1.234"}]),
            422,
            "invalid",
            "line_items",
        ),
    ],
)
async def test_bad_orders_get_a_clear_error_and_write_nothing(
    api: ShopClient,
    database: Database,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = await row_counts(database)
    if isinstance(body, bytes):
        response = await api.http.post(
            "/api/v1/orders", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await api.http.post("/api/v1/orders", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field:
        assert field in error["fields"]
    assert await row_counts(database) == before


async def test_a_form_encoded_body_is_415_with_what_to_send(api: ShopClient) -> None:
    response = await api.http.post(
        "/api/v1/orders",
        content=b'{"currency": "NOK"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


async def test_a_body_over_one_mebibyte_is_refused(api: ShopClient, database: Database) -> None:
    before = await row_counts(database)
    payload = order_payload(customer={"first_name": "K" * (1024 * 1024)})
    response = await api.http.post("/api/v1/orders", json=payload)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await row_counts(database) == before


@pytest.mark.parametrize("header", [None, "Bearer os_wrong", "Basic dXNlcjpwYXNz"])
async def test_a_wrong_or_missing_key_is_401_and_writes_nothing(
    api: ShopClient, database: Database, header: str | None
) -> None:
    before = await row_counts(database)
    headers = {"Authorization": header} if header else {}
    api.http.headers.pop("Authorization")
    response = await api.http.post("/api/v1/orders", json=order_payload(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert await row_counts(database) == before


async def test_another_shops_order_is_not_found(api: ShopClient, other_api: ShopClient) -> None:
    order = await create_order(api.http)
    for path in (f"/api/v1/orders/{order['id']}", f"/api/v1/orders/{order['id']}/status"):
        response = await other_api.http.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = await other_api.http.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})
    assert response.status_code == 404
    assert (await other_api.http.get("/api/v1/orders")).json()["orders"] == []


async def test_unknown_order_ids_are_404(api: ShopClient) -> None:
    assert (await api.http.get("/api/v1/orders/999999")).status_code == 404
    assert (await api.http.get("/api/v1/orders/not-a-number")).status_code == 404


async def test_listing_pages_newest_first(api: ShopClient) -> None:
    made = [await create_order(api.http) for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.http.get("/api/v1/orders", params=params)).json()
        seen += [o["name"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["name"] for o in reversed(made)]


async def test_a_cursor_past_every_id_lists_from_the_newest(api: ShopClient) -> None:
    """Well formed, but before an id no 32-bit column can hold: every order is older."""
    made = [await create_order(api.http) for _ in range(2)]
    beyond = base64.urlsafe_b64encode(b"o:337112054668").decode().rstrip("=")
    page = await api.http.get("/api/v1/orders", params={"cursor": beyond})
    assert page.status_code == 200
    assert [o["id"] for o in page.json()["orders"]] == [o["id"] for o in reversed(made)]


async def test_listing_filters_by_number_email_and_status(api: ShopClient) -> None:
    first = await create_order(api.http, email="first@example.com")
    await create_order(api.http, email="second@example.com")
    by_number = (await api.http.get("/api/v1/orders", params={"number": "#1001"})).json()
    assert [o["id"] for o in by_number["orders"]] == [first["id"]]
    by_email = (await api.http.get("/api/v1/orders", params={"email": "FIRST@example.com"})).json()
    assert [o["id"] for o in by_email["orders"]] == [first["id"]]
    unfulfilled = (await api.http.get("/api/v1/orders", params={"status": "unfulfilled"})).json()
    assert len(unfulfilled["orders"]) == 2
    delivered = (await api.http.get("/api/v1/orders", params={"status": "delivered"})).json()
    assert delivered["orders"] == []


@pytest.mark.parametrize(
    "params", [{"status": "lost-in-space"}, {"cursor": "garbage!"}, {"limit": "0"}]
)
async def test_bad_list_parameters_are_422(api: ShopClient, params: dict[str, str]) -> None:
    response = await api.http.get("/api/v1/orders", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]


async def test_openapi_describes_the_api(app_http: Any) -> None:
    spec = (await app_http.get("/api/openapi.json")).json()
    assert "/api/v1/fulfillments/{fulfillment_id}/events" in spec["paths"]
    assert "OrderInput" in spec["components"]["schemas"]
    webhook = spec["paths"]["/webhooks/{source}/{handle}"]["post"]
    assert webhook["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert "ErrorOut" in spec["components"]["schemas"]

"""The admin on real-world input that once answered 500: each now gets a documented
answer and writes nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from orderstatus.db.engine import Database
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil, row_counts
from tests.integration.test_never_500 import OVERFLOWING, TOO_BIG


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/orders/{big}"),
        ("GET", "/admin/orders/{big}/fulfil"),
        ("GET", "/admin/orders/{big}/events"),
        ("GET", "/admin/orders/{big}/fulfillments/{big}"),
        ("POST", "/admin/orders/{big}/note"),
        ("POST", "/admin/orders/{big}/fulfillments/{big}/events"),
        ("GET", "/admin/page/messages/{big}"),
        ("GET", "/admin/notifications/mailbox/{big}"),
        ("POST", "/admin/webhooks/{big}/delete"),
        ("POST", "/admin/webhooks/{big}/active"),
        ("POST", "/admin/webhooks/deliveries/{big}/send-again"),
    ],
)
async def test_admin_ids_beyond_64_bits_are_404(
    staff: Staff, database: Database, method: str, path: str
) -> None:
    before = await row_counts(database)
    url = path.format(big=TOO_BIG)
    if method == "POST":
        response = await staff.post(url, {"note": "x", "status": "delayed"})
    else:
        response = await staff.http.get(url)
    assert response.status_code == 404, response.text
    assert await row_counts(database) == before


async def test_unicode_digits_in_the_admin_list_cursor_are_ignored(staff: Staff) -> None:
    for path in ("/admin/orders", "/admin/notifications/mailbox"):
        for before in ("²", "٣", TOO_BIG):
            response = await staff.http.get(path, params={"before": before})
            assert response.status_code == 200, (path, before)


async def test_unicode_digits_in_the_fulfil_form_are_422(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    before = await row_counts(database)
    for value in ("²", "٣", TOO_BIG):
        item = order["line_items"][0]["id"]
        response = await staff.post(
            f"/admin/orders/{order['id']}/fulfil", {f"qty_{item}": value, "carrier": "ups"}
        )
        assert response.status_code == 422, value
        assert "Enter a whole number" in response.text
    assert await row_counts(database) == before


@pytest.mark.parametrize("when", OVERFLOWING)
async def test_admin_event_dates_that_overflow_are_422(
    api: ShopClient, staff: Staff, database: Database, when: str
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    response = await staff.post(
        f"/admin/orders/{order['id']}/fulfillments/{shipment['id']}/events",
        {"status": "delayed", "occurred_at": when},
    )
    assert response.status_code == 422, response.text
    assert await row_counts(database) == before


async def test_form_text_with_nul_is_refused(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999")
    before = await row_counts(database)
    attempts = [
        (f"/admin/orders/{order['id']}/note", {"note": "Fragile\x00"}),
        (
            f"/admin/orders/{order['id']}/fulfillments/{shipment['id']}/events",
            {"status": "delayed", "message": "Snow\x00"},
        ),
        (
            f"/admin/orders/{order['id']}/fulfillments/{shipment['id']}/tracking",
            {"carrier": "ups", "tracking_number": "1Z\x00999"},
        ),
    ]
    for url, form in attempts:
        response = await staff.post(url, form)
        assert response.status_code in (400, 422), (url, response.text)
    response = await staff.http.get("/admin/orders", params={"q": "Kari\x00"})
    assert response.status_code in (200, 400), response.text
    assert await row_counts(database) == before


@pytest.mark.parametrize(
    "params",
    [
        {"from": "9999-12-31", "to": "0001-01-01"},
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": "2026-02-30", "to": "x\x00y"},
        {"from": "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661", "to": TOO_BIG},
        {"days": TOO_BIG},
        {"days": "²"},
        {"from": "", "to": ""},
    ],
)
async def test_odd_insights_periods_get_a_page_or_a_clear_error(
    staff: Staff, database: Database, params: dict[str, str]
) -> None:
    before = await row_counts(database)
    for path in ("/admin/insights", "/admin/insights.csv"):
        response = await staff.http.get(path, params=params)
        assert response.status_code in (200, 400, 422), (path, params, response.status_code)
    assert await row_counts(database) == before


async def test_odd_order_filters_are_ignored(staff: Staff) -> None:
    for state in ("needs_attention", "x\x00", "٣", "n" * 5000):
        response = await staff.http.get("/admin/orders", params={"state": state})
        assert response.status_code in (200, 400, 422), state

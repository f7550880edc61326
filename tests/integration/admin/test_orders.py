"""The orders list, the order page, shipping items and what staff do after."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Fulfillment, Notification, Order, TrackingEvent
from orderstatus.notify.worker import Worker
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil, row_counts

UPS = "1Z999AA10123456784"


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/orders/\d+">#(\d+)</a>', html)


async def three_orders(api: ShopClient) -> list[dict[str, object]]:
    first = await create_order(api.http)
    second = await create_order(
        api.http,
        email="ola@example.com",
        phone="+4741234567",
        customer={"first_name": "Ola", "last_name": "Østby"},
    )
    third = await create_order(api.http, email="per@example.com", customer={"first_name": "Per"})
    await fulfil(api.http, second, [(0, 1)], carrier="ups", tracking_number=UPS)
    await fulfil(api.http, third, [(0, 1), (1, 1), (2, 1)], tracking_number="370722150004528013")
    return [first, second, third]


async def test_the_list_is_newest_first_with_badges(api: ShopClient, staff: Staff) -> None:
    await three_orders(api)
    page = await staff.http.get("/admin/orders")
    assert page.status_code == 200
    assert listed(page.text) == ["1003", "1002", "1001"]
    assert "Partially fulfilled" in page.text and "Unfulfilled" in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_search_finds_by_number_email_phone_name_and_tracking(
    api: ShopClient, staff: Staff
) -> None:
    await three_orders(api)
    searches = {
        "#1002": ["1002"],
        "1001": ["1001"],
        "OLA@example.com": ["1002"],
        "ola@exa": ["1002"],
        "+47 412 34 567": ["1002"],
        "41234567": ["1002"],
        "østby": ["1002"],
        "Ola Østby": ["1002"],
        "kari nord": ["1001"],
        "1z999aa1 0123456784": ["1002"],
        "370722150004528013": ["1003"],
        "nothing-like-this": [],
        "100%_": [],
    }
    for query, expected in searches.items():
        page = await staff.http.get("/admin/orders", params={"q": query})
        assert page.status_code == 200
        assert listed(page.text) == expected, query


async def test_filters_by_state(api: ShopClient, staff: Staff, database: Database) -> None:
    orders = await three_orders(api)
    shipment = (await api.http.get(f"/api/v1/orders/{orders[2]['id']}")).json()["fulfillments"][0]
    await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "attempted_delivery", "occurred_at": datetime.now(UTC).isoformat()},
    )
    expected = {
        "unfulfilled": ["1001"],
        "partial": ["1002"],
        "on_its_way": ["1002"],
        "attempted_delivery": ["1003"],
        "delivered": [],
        "exception": [],
        "nonsense": ["1003", "1002", "1001"],
    }
    for state, numbers in expected.items():
        page = await staff.http.get("/admin/orders", params={"state": state})
        assert listed(page.text) == numbers, state


async def test_a_quiet_shipment_has_a_filter_of_its_own(api: ShopClient, staff: Staff) -> None:
    orders = await three_orders(api)
    shipment = (await api.http.get(f"/api/v1/orders/{orders[2]['id']}")).json()["fulfillments"][0]
    posted = await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "no_recent_updates", "occurred_at": datetime.now(UTC).isoformat()},
    )
    assert posted.status_code == 201, posted.text
    everything = await staff.http.get("/admin/orders")
    assert 'href="/admin/orders?state=no_recent_updates"' in everything.text
    for state, numbers in {"no_recent_updates": ["1003"], "exception": []}.items():
        page = await staff.http.get("/admin/orders", params={"state": state})
        assert listed(page.text) == numbers, state


async def test_the_list_pages_by_25(api: ShopClient, staff: Staff) -> None:
    for _ in range(27):
        await create_order(api.http)
    first = await staff.http.get("/admin/orders")
    assert len(listed(first.text)) == 25
    older = re.search(r'href="(/admin/orders\?before=\d+)[^"]*" rel="next"', first.text)
    assert older
    second = await staff.http.get(older.group(1))
    assert listed(second.text) == ["1002", "1001"]


async def test_the_order_page_shows_items_shipments_and_timeline(
    api: ShopClient, staff: Staff
) -> None:
    orders = await three_orders(api)
    page = await staff.http.get(f"/admin/orders/{orders[1]['id']}")
    assert page.status_code == 200
    text = page.text
    assert "Order #1002" in text
    assert "ola@example.com" in text and "+4741234567" in text and "Storgata 1" in text
    assert "UPS" in text and UPS in text
    assert "Order #1002 placed" in text and "1 item fulfilled (ups 1Z999AA10123456784)" in text
    assert "“Order confirmation” e-mail to ola@example.com" in text
    assert f'href="/orders/{orders[1]["status_page_url"].rsplit("/", 1)[1]}?preview=1"' in text
    assert 'target="_blank"' in text


async def test_fulfil_some_items_with_a_detected_carrier(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    items = [line["id"] for line in order["line_items"]]
    form = await staff.http.get(f"/admin/orders/{order['id']}/fulfil")
    assert form.status_code == 200
    response = await staff.post(
        f"/admin/orders/{order['id']}/fulfil",
        {
            f"qty_{items[0]}": "1",
            f"qty_{items[1]}": "1",
            f"qty_{items[2]}": "0",
            "tracking_number": "1z999aa1 0123456784",
            "carrier": "",
            "notify": "1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/orders/{order['id']}?done=fulfilled"
    async with database.read() as session:
        shipment = await session.scalar(select(Fulfillment))
        activity = await session.scalar(
            select(Activity).where(Activity.kind == "fulfillment_created")
        )
        placed = await session.scalar(select(Order))
    assert shipment is not None and activity is not None and placed is not None
    assert (shipment.carrier_code, shipment.tracking_number) == ("ups", UPS)
    assert shipment.notify_customer
    assert activity.actor == "anna@acme.example"
    assert placed.fulfillment_status == "partial"
    page = await staff.http.get(response.headers["location"])
    assert "Items fulfilled." in page.text and "Partially fulfilled" in page.text


async def test_fulfil_with_another_carrier_and_a_link(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    response = await staff.post(
        f"/admin/orders/{order['id']}/fulfil",
        {
            **{f"qty_{line['id']}": "1" for line in order["line_items"]},
            "tracking_number": "HB-2231",
            "carrier": "other",
            "tracking_url": "https://bud.example/track/HB-2231",
        },
    )
    assert response.status_code == 303
    async with database.read() as session:
        shipment = await session.scalar(select(Fulfillment))
    assert shipment is not None
    assert shipment.carrier_code == "other"
    assert shipment.tracking_url == "https://bud.example/track/HB-2231"
    assert not shipment.notify_customer


async def test_bad_fulfil_forms_say_what_is_wrong_and_save_nothing(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    first = order["line_items"][0]["id"]
    path = f"/admin/orders/{order['id']}/fulfil"
    await staff.token()
    before = await row_counts(database)
    cases = [
        ({f"qty_{first}": "2"}, "e-qty_"),
        ({f"qty_{first}": "-1"}, "e-qty_"),
        ({f"qty_{first}": "one"}, "e-qty_"),
        ({f"qty_{first}": "0"}, "e-items"),
        ({f"qty_{first}": "1", "tracking_number": "x"}, "e-tracking_number"),
        ({f"qty_{first}": "1", "tracking_url": "javascript:alert(1)"}, "e-tracking_url"),
        ({f"qty_{first}": "1", "carrier": "other"}, "e-tracking_url"),
    ]
    for data, error_id in cases:
        response = await staff.post(path, data)
        assert response.status_code == 422, data
        assert f'id="{error_id}' in response.text, data
        assert "Nothing was saved" in response.text
    assert await row_counts(database) == before


async def test_over_fulfilment_races_are_caught(api: ShopClient, staff: Staff) -> None:
    order = await create_order(api.http)
    first = order["line_items"][0]["id"]
    token = await staff.token(f"/admin/orders/{order['id']}/fulfil")
    await fulfil(api.http, order, [(0, 1)])
    response = await staff.http.post(
        f"/admin/orders/{order['id']}/fulfil", data={"csrf_token": token, f"qty_{first}": "1"}
    )
    assert response.status_code in (409, 422)
    assert "Nothing was saved" in response.text


async def test_edit_tracking_and_cancel_a_shipment(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number=UPS)
    base = f"/admin/orders/{order['id']}/fulfillments/{shipment['id']}"
    assert (await staff.http.get(base)).status_code == 200
    changed = await staff.post(
        f"{base}/tracking", {"tracking_number": "370722150004528013", "carrier": "bring"}
    )
    assert changed.status_code == 303
    bad = await staff.post(f"{base}/tracking", {"tracking_url": "ftp://x"})
    assert bad.status_code == 422 and 'id="e-tracking_url"' in bad.text
    cancelled = await staff.post(f"{base}/cancel")
    assert cancelled.status_code == 303
    async with database.read() as session:
        row = await session.get_one(Fulfillment, shipment["id"])
        placed = await session.get_one(Order, order["id"])
        kinds = (await session.scalars(select(Activity.kind).order_by(Activity.id))).all()
    assert (row.carrier_code, row.tracking_number) == ("bring", "370722150004528013")
    assert row.cancelled_at is not None
    assert placed.fulfillment_status == "unfulfilled"
    assert "tracking_updated" in kinds and "fulfillment_cancelled" in kinds
    status = await api.http.get(f"/api/v1/orders/{order['id']}/status")
    assert status.json()["fulfillments"] == []


async def test_a_manual_delivered_event_moves_the_shipment(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(
        api.http,
        order,
        [(0, 1), (1, 1), (2, 1)],
        carrier="other",
        tracking_url="https://bud.example/t/1",
    )
    base = f"/admin/orders/{order['id']}/fulfillments/{shipment['id']}"
    when = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    response = await staff.post(
        f"{base}/events",
        {"status": "delivered", "occurred_at": when, "message": "Left by the door", "city": "Oslo"},
    )
    assert response.status_code == 303
    async with database.read() as session:
        event = await session.scalar(select(TrackingEvent))
        placed = await session.get_one(Order, order["id"])
        activity = await session.scalar(select(Activity).where(Activity.kind == "manual_event"))
    assert event is not None and event.source == "manual" and event.status == "delivered"
    assert placed.delivery_status == "delivered"
    assert activity is not None and activity.actor == "anna@acme.example"
    page = await staff.http.get(f"/admin/orders/{order['id']}")
    assert "Shipment 1:" in page.text and "Left by the door" in page.text
    assert "anna@acme.example" in page.text

    await staff.token()
    before = await row_counts(database)
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    for data, field in (
        ({"status": "delivered", "occurred_at": future}, "e-occurred_at"),
        ({"status": "label_printed", "occurred_at": when}, "e-status"),
        ({"status": "delivered", "occurred_at": "yesterday"}, "e-occurred_at"),
        (
            {
                "status": "delivered",
                "occurred_at": when,
                "message": "Left by the door",
                "city": "Oslo",
            },
            "e-status",
        ),
    ):
        bad = await staff.post(f"{base}/events", data)
        assert bad.status_code in (409, 422), data
        assert f'id="{field}"' in bad.text, data
    assert await row_counts(database) == before


async def test_a_note_on_one_order(api: ShopClient, staff: Staff, database: Database) -> None:
    order = await create_order(api.http)
    path = f"/admin/orders/{order['id']}/note"
    assert (await staff.post(path, {"note": "Your **gift wrap** is included."})).status_code == 303
    async with database.read() as session:
        version = (await session.get_one(Order, order["id"])).version
    customer_page = order["status_page_url"].replace("https://status.example.test", "")
    page = await staff.http.get(customer_page, params={"preview": "1"})
    assert "<strong>gift wrap</strong>" in page.text
    # For this customer only: not on the page as anyone else with the link sees it.
    assert "gift wrap" not in (await staff.http.get(customer_page)).text
    await staff.token()
    before = await row_counts(database)
    too_long = await staff.post(path, {"note": "x" * 5001})
    assert too_long.status_code == 422 and 'id="e-note"' in too_long.text
    assert await row_counts(database) == before
    assert (await staff.post(path, {"note": ""})).status_code == 303
    async with database.read() as session:
        assert (await session.get_one(Order, order["id"])).version > version
    assert "gift wrap" not in (await staff.http.get(customer_page, params={"preview": "1"})).text


async def test_resend_a_kept_message(api: ShopClient, staff: Staff, database: Database) -> None:
    from orderstatus.db.models import Notification

    order = await create_order(api.http)
    async with database.write() as session:
        row = await session.scalar(select(Notification))
        assert row is not None
        row.state = "failed"
        row.last_error = "550 mailbox unavailable"
        notification_id = row.id
    page = await staff.http.get(f"/admin/orders/{order['id']}")
    assert "550 mailbox unavailable" in page.text and "Send again" in page.text
    response = await staff.post(
        f"/admin/orders/{order['id']}/notifications/{notification_id}/resend"
    )
    assert response.status_code == 303
    async with database.read() as session:
        assert (await session.get_one(Notification, notification_id)).state == "pending"
    again = await staff.post(f"/admin/orders/{order['id']}/notifications/{notification_id}/resend")
    assert again.status_code == 409


async def test_carrier_detection_for_the_form(staff: Staff) -> None:
    found = await staff.http.get("/admin/carriers/detect", params={"number": UPS})
    assert found.json()["carriers"][0] == {"code": "ups", "name": "UPS"}
    nothing = await staff.http.get("/admin/carriers/detect", params={"number": "hello"})
    assert nothing.json() == {"carriers": []}


async def test_staff_see_phone_numbers_in_international_format(
    api: ShopClient, staff: Staff, database: Database, settings: Settings
) -> None:
    order = await create_order(api.http, email=None, phone="+4791234567")
    listing = await staff.http.get("/admin/orders")
    assert "+47 91 23 45 67" in listing.text and "+4791234567" not in listing.text
    waiting = await staff.http.get(f"/admin/orders/{order['id']}")
    assert 'href="tel:+4791234567">+47 91 23 45 67</a>' in waiting.text
    assert "text message to +47 91 23 45 67" in waiting.text
    assert waiting.text.count("+4791234567") == 1  # only in the tel: link
    assert (await Worker(database, settings).drain())["held"] == 1  # no SMS provider: kept
    kept = await staff.http.get(f"/admin/orders/{order['id']}")
    assert "SMS to +47 91 23 45 67 kept in the mailbox" in kept.text
    assert kept.text.count("+4791234567") == 1
    async with database.read() as session:
        kept_id = await session.scalar(
            select(Notification.id).where(Notification.order_id == order["id"])
        )
    for path in ("/admin/notifications/mailbox", f"/admin/notifications/mailbox/{kept_id}"):
        mailbox = await staff.http.get(path)
        assert mailbox.status_code == 200
        assert "+47 91 23 45 67" in mailbox.text and "+4791234567" not in mailbox.text

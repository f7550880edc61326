"""Staff carry out a customer's request to be forgotten from the order page."""

from __future__ import annotations

from sqlalchemy import select

from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Order
from tests.conftest import ShopClient
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import create_order, fulfil, row_counts
from tests.integration.test_retention import PII, personal_order, scan


async def test_staff_erase_a_customer_from_all_their_orders(
    api: ShopClient, database: Database, staff: Staff, other_staff: Staff
) -> None:
    first = await create_order(api.http, **personal_order())
    await fulfil(api.http, first, [(0, 1)], carrier="ups", tracking_number=PII["tracking number"])
    # The same customer again, with the phone only: found by the first order's phone.
    second = await create_order(api.http, **personal_order(email=None, number="AGAIN"))
    bystander = await create_order(api.http, number="OTHER1")
    path = f"/admin/orders/{first['id']}"
    page = await staff.http.get(path)
    assert 'action="/admin/orders/{}/erase"'.format(first["id"]) in page.text
    assert PII["first name"] in page.text

    before = await row_counts(database)
    unconfirmed = await staff.post(f"{path}/erase")
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm" in unconfirmed.text
    foreign = await other_staff.post(f"{path}/erase", {"confirm": "yes"})
    assert foreign.status_code == 404
    assert await row_counts(database) == before

    done = await staff.post(f"{path}/erase", {"confirm": "yes"})
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"{path}?done=erased")
    page = await staff.http.get(done.headers["location"])
    assert page.status_code == 200
    assert "data was removed from their orders." in page.text
    assert "personal data was removed from this order" in page.text
    assert 'id="view-status-page"' not in page.text
    assert PII["first name"] not in page.text and PII["tracking number"] not in page.text
    listing = await staff.http.get("/admin/orders")
    assert listing.text.count("Customer data removed") == 2

    assert await scan(database) == []
    async with database.read() as session:
        orders = {o.id: o for o in (await session.scalars(select(Order))).all()}
        audit = (
            await session.scalars(select(Activity).where(Activity.kind == "customer_erased"))
        ).all()
    assert orders[first["id"]].customer_first_name == ""
    assert orders[second["id"]].customer_first_name == ""
    assert orders[bystander["id"]].email == "kari@example.com"
    assert orders[first["id"]].total == orders[bystander["id"]].total  # amounts stay
    assert [(a.actor, a.order_id, a.data) for a in audit] == [
        (staff.email, None, {"orders": 2, "by": "order"})
    ]

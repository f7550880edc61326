"""No public response carries the order's personal data, whatever page or language."""

from __future__ import annotations

import httpx

from orderstatus.db.engine import Database
from orderstatus.db.models import Order
from orderstatus.services.admin_orders import set_order_note
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import fulfil
from tests.integration.test_status_page import csrf_of, path_of

PII = {
    "first name": "Zqxfirstname",
    "last name": "Zqxlastname",
    "email": "zqx.private@example.com",
    "phone": "+4741234599",
    "phone (local)": "41234599",
    "phone (as shown)": "+47 41 23 45 99",
    "address line 1": "Zqxgate 77",
    "address line 2": "Zqxoppgang B",
    "shipping city": "Zqxby",
    "shipping postcode": "Z-7341",
    "billing name": "Zqxbilling Payer",
    "billing address": "Zqxbillingveien 3",
    "payment": "Zqxcard",
    "card digits": "•••• 9876",
    "tracking number": "ZQXTRACK123456",
    "carrier message": "Zqxsigned by the neighbour",
    "note for this order": "Zqxnote: your engraving says Happy birthday Zqxmormor",
}


def unique_order() -> dict[str, object]:
    return order_payload(
        email=PII["email"],
        phone=PII["phone"],
        customer={"first_name": PII["first name"], "last_name": PII["last name"]},
        shipping_address={
            "name": f"{PII['first name']} {PII['last name']}",
            "address1": PII["address line 1"],
            "address2": PII["address line 2"],
            "city": PII["shipping city"],
            "zip": PII["shipping postcode"],
            "country_code": "NO",
        },
        billing_address={
            "name": PII["billing name"],
            "address1": PII["billing address"],
            "city": "Oslo",
            "country_code": "NO",
        },
        payment={"method": "card", "brand": PII["payment"], "last4": "9876"},
    )


async def add_order_note(database: Database, shop_id: int, order_id: int) -> None:
    """The admin's note for this customer's page only, which may name them."""
    async with database.write() as session:
        await set_order_note(
            session=session,
            shop_id=shop_id,
            order_id=order_id,
            body=PII["note for this order"],
            actor="staff@example.com",
        )


def leaks(text: str) -> list[str]:
    return [kind for kind, value in PII.items() if value.lower() in text.lower()]


async def test_no_public_response_contains_personal_data(
    api: ShopClient, database: Database
) -> None:
    created = await api.http.post("/api/v1/orders", json=unique_order())
    order = created.json()
    shipment = await fulfil(
        api.http, order, [(0, 1)], carrier="ups", tracking_number=PII["tracking number"]
    )
    for status, hour, message in (
        ("in_transit", 1, "Arrived at hub"),
        ("out_for_delivery", 5, "Out for delivery"),
        ("delivered", 7, PII["carrier message"]),
    ):
        await api.http.post(
            f"/api/v1/fulfillments/{shipment['id']}/events",
            json={
                "status": status,
                "occurred_at": f"2026-11-20T{hour:02d}:00:00Z",
                "message": message,
                "location": {
                    "city": "Bergen",
                    "country_code": "NO",
                    "latitude": 60.39123,
                    "longitude": 5.32456,
                },
            },
        )
    await add_order_note(database, api.shop_id, order["id"])
    path = path_of(order)

    # The owner can share; everything after that is read as somebody else.
    owner = httpx.AsyncClient(transport=api.http._transport, base_url="https://testserver")
    owner.cookies.set(
        "os_owner",
        api.http._transport.app.state.pages.signer.owner_value(order["id"]),  # type: ignore[attr-defined]
        domain="testserver.local",
        path=path,
    )
    owner_page = await owner.get(path)
    assert set(leaks(owner_page.text)) >= {
        "first name",
        "email",
        "phone (as shown)",
        "address line 1",
        "tracking number",
        "note for this order",
    }
    await owner.post(f"{path}/share", data={"csrf_token": csrf_of(owner_page.text)})
    async with database.read() as session:
        share = (await session.get_one(Order, order["id"])).share_token
    await owner.aclose()

    responses: dict[str, httpx.Response] = {}
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as public:
        for lang in ("en", "nb"):
            responses[f"page {lang}"] = await public.get(path, params={"lang": lang})
            responses[f"shared {lang}"] = await public.get(
                f"/shared/{share}", params={"lang": lang}
            )
        token = csrf_of(responses["page en"].text)
        for attempt in range(6):
            responses[f"failed login {attempt}"] = await public.post(
                f"{path}/login",
                data={"number": order["number"], "email": "guess@example.com", "csrf_token": token},
            )
        responses["share attempt"] = await public.post(f"{path}/share", data={"csrf_token": token})
        responses["opt-in attempt"] = await public.post(
            f"{path}/updates", data={"email": "x@example.com", "csrf_token": token}
        )
        responses["lookup miss"] = await public.post(
            "/shop/acme/order-status",
            data={"number": order["number"], "email": "guess@example.com", "csrf_token": token},
        )
    assert responses["page en"].status_code == 200 and "Bergen" in responses["page en"].text
    assert responses["failed login 5"].status_code == 429
    for name, response in responses.items():
        text = response.text + str(response.headers)
        assert leaks(text) == [], f"{name} shows {leaks(text)}"
    # Positions on public pages are rounded to about a kilometre.
    assert "60.39123" not in responses["shared en"].text

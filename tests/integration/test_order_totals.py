"""An order's money as real shops send it: prices that include tax, discounts, totals that
must add up, and the same amounts on the page, in the e-mails, in the admin and the API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Shop
from orderstatus.notify.worker import Worker
from orderstatus.services import demo
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.admin.conftest import Staff, add_staff, browser_for, sign_in
from tests.integration.helpers import create_order, row_counts
from tests.integration.test_notifications import (  # noqa: F401 - fixtures
    FAST,
    notify_settings,
    sms,
)
from tests.messaging import MailServer

NBSP = "\u00a0"

# Subtotal 747 (249 + 299 + 199), shipping 99, a discount of 100; Norwegian VAT (25 %)
# is 20 % of a price that includes it: (747 + 99 - 100) * 0.2 = 149.20.
INCLUDED = {
    "subtotal": "747.00",
    "shipping": "99.00",
    "discount": "100.00",
    "tax": "149.20",
    "taxes_included": True,
    "total": "746.00",
}
# The same goods where tax is added: 25 % of 646 = 161.50.
ADDED = {
    "subtotal": "747.00",
    "shipping": "99.00",
    "discount": "200.00",
    "tax": "161.50",
    "taxes_included": False,
    "total": "807.50",
}


def text_of(html: str) -> str:
    """What a reader sees: tags dropped, entities read, runs of space as one."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).replace(NBSP, " ").split())


def summary_of(html: str) -> str:
    """The order summary's amounts on a page: from "Subtotal" (or "Delsum") to the end."""
    text = text_of(html)
    start = min(i for i in (text.find("Subtotal"), text.find("Delsum")) if i >= 0)
    return text[start:]


def path_of(order: dict[str, Any]) -> str:
    return "/orders/" + order["status_page_url"].rsplit("/", 1)[1]


@pytest.fixture
async def owner(api: ShopClient) -> AsyncIterator[httpx.AsyncClient]:
    """The customer's browser, signed in to their orders by number and e-mail."""
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as client:
        yield client


async def open_as_owner(
    browser: httpx.AsyncClient, order: dict[str, Any], language: str = "en"
) -> str:
    browser.cookies.set("os_lang", language, domain="testserver.local")
    path = path_of(order)
    page = await browser.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    signed_in = await browser.post(
        f"{path}/login",
        data={"number": order["number"], "email": "kari@example.com", "csrf_token": token[1]},
    )
    assert signed_in.status_code == 303, signed_in.text
    return (await browser.get(path)).text


# ---- the API ----


@pytest.mark.parametrize("totals", [INCLUDED, ADDED], ids=["included", "added"])
async def test_the_api_keeps_discount_and_whether_taxes_are_included(
    api: ShopClient, totals: dict[str, Any]
) -> None:
    response = await api.http.post("/api/v1/orders", json=order_payload(totals=totals))
    assert response.status_code == 201, response.text
    assert response.json()["totals"] == totals
    fetched = await api.http.get(f"/api/v1/orders/{response.json()['id']}")
    assert fetched.json()["totals"] == totals


def _off(**changes: Any) -> dict[str, Any]:
    return {**INCLUDED, **changes}


@pytest.mark.parametrize(
    ("currency", "totals", "field", "says"),
    [
        # Tax added to a total whose prices already include it.
        ("NOK", _off(total="895.20"), "totals.total", "= 746.00 (taxes included)"),
        # Tax left out of a total that must add it.
        ("NOK", {**ADDED, "total": "646.00"}, "totals.total", "+ tax = 807.50"),
        # The discount not taken off.
        ("NOK", _off(total="846.00"), "totals.total", "subtotal + shipping - discount"),
        # One øre off.
        ("NOK", _off(total="746.01"), "totals.total", "not 746.01"),
        # Finer than the currency's minor unit: yen have none.
        (
            "JPY",
            {"subtotal": "747", "shipping": "99", "tax": "84.6", "total": "931"},
            "totals.tax",
            "JPY amounts have at most 0 decimals",
        ),
        # One yen off.
        (
            "JPY",
            {"subtotal": "747", "shipping": "99", "tax": "85", "total": "930"},
            "totals.total",
            "= 931,",
        ),
        # Included tax larger than the total it is part of.
        ("NOK", _off(tax="800.00"), "totals.tax", "more than the total"),
        ("NOK", _off(discount="-5.00", total="851.00"), "totals.discount", "decimal string"),
    ],
)
async def test_totals_that_do_not_add_up_are_refused_naming_the_field(
    api: ShopClient,
    database: Database,
    currency: str,
    totals: dict[str, Any],
    field: str,
    says: str,
) -> None:
    body = order_payload(currency=currency, totals=totals)
    before = await row_counts(database)
    response = await api.http.post("/api/v1/orders", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert says in error["fields"][field]
    assert await row_counts(database) == before


async def test_yen_totals_that_add_up_are_taken(api: ShopClient) -> None:
    totals = {"subtotal": "747", "shipping": "99", "tax": "85", "total": "931"}
    order = await create_order(api.http, currency="JPY", totals=totals)
    assert order["totals"] == {**totals, "discount": "0", "taxes_included": False}


# ---- the page ----


async def test_the_page_says_taxes_are_included_and_never_adds_them(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, totals=INCLUDED)
    summary = summary_of(await open_as_owner(owner, order))
    assert summary.startswith(
        "Subtotal NOK 747.00 Shipping NOK 99.00 Discount -NOK 100.00 Total NOK 746.00 "
        "Including NOK 149.20 in taxes"
    )
    assert "Tax " not in summary
    norwegian = summary_of(await open_as_owner(owner, order, "nb"))
    assert norwegian.startswith(
        "Delsum 747,00 kr Frakt 99,00 kr Rabatt \u2212100,00 kr Totalt 746,00 kr "
        "Inkludert 149,20 kr i mva."
    )
    assert "Mva. " not in norwegian


async def test_the_page_adds_tax_that_is_not_included(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, totals=ADDED)
    summary = summary_of(await open_as_owner(owner, order))
    assert summary.startswith(
        "Subtotal NOK 747.00 Shipping NOK 99.00 Discount -NOK 200.00 Tax NOK 161.50 "
        "Total NOK 807.50 "
    )
    assert "Including" not in summary


async def test_money_is_written_as_cldr_writes_it_in_the_page_language(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    items = [{"title": "Blanket", "quantity": 1, "price": "1788"}]
    order = await create_order(api.http, line_items=items)
    english = await open_as_owner(owner, order)
    assert f"NOK{NBSP}1,788.00" in english and "NOK1,788.00" not in english
    norwegian = await open_as_owner(owner, order, "nb")
    assert f"1{NBSP}788,00{NBSP}kr" in norwegian


# ---- the e-mail ----


@pytest.fixture
async def worker(database: Database, notify_settings: Settings) -> AsyncIterator[Worker]:  # noqa: F811
    w = Worker(database, notify_settings, FAST)
    yield w
    await w.close()


@pytest.mark.parametrize(
    ("totals", "lines", "absent"),
    [
        (
            INCLUDED,
            [
                "Subtotal: NOK 747.00",
                "Shipping: NOK 99.00",
                "Discount: -NOK 100.00",
                "Total: NOK 746.00",
                "Including NOK 149.20 in taxes",
            ],
            "Tax:",
        ),
        (
            ADDED,
            [
                "Subtotal: NOK 747.00",
                "Shipping: NOK 99.00",
                "Discount: -NOK 200.00",
                "Tax: NOK 161.50",
                "Total: NOK 807.50",
            ],
            "Including",
        ),
    ],
    ids=["included", "added"],
)
async def test_the_confirmation_email_shows_the_same_totals(
    api: ShopClient,
    mail: MailServer,
    worker: Worker,
    totals: dict[str, Any],
    lines: list[str],
    absent: str,
) -> None:
    await create_order(api.http, totals=totals, locale="en", email="kari@example.com")
    await worker.drain()
    [message] = mail.to("kari@example.com")
    text = message.part("plain").replace(NBSP, " ")
    found = [line for line in lines if line in text.splitlines()]
    assert found == lines, text
    assert absent not in text
    html = text_of(message.part("html"))
    for line in lines:
        assert line.replace(": ", " ") in html, html
    assert absent.rstrip(":") + " NOK" not in html


async def test_the_norwegian_confirmation_says_mva_is_included(
    api: ShopClient,
    mail: MailServer,
    worker: Worker,
) -> None:
    await create_order(api.http, totals=INCLUDED, email="kari@example.com")
    await worker.drain()
    [message] = mail.to("kari@example.com")
    text = message.part("plain").replace(NBSP, " ")
    assert "Totalt: 746,00 kr\nInkludert 149,20 kr i mva." in text
    assert "Mva.:" not in text


# ---- the admin ----


@pytest.fixture
async def staff(api: ShopClient, database: Database) -> AsyncIterator[Staff]:
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        assert (await sign_in(http, "anna@acme.example")).status_code == 303
        yield Staff(http, "anna@acme.example", api.shop_id)


async def test_the_admin_order_page_shows_the_same_totals(api: ShopClient, staff: Staff) -> None:
    included = await create_order(api.http, totals=INCLUDED)
    added = await create_order(api.http, totals=ADDED)
    page = text_of((await staff.http.get(f"/admin/orders/{included['id']}")).text)
    assert (
        "Subtotal NOK 747.00 Shipping NOK 99.00 Discount -NOK 100.00 Total NOK 746.00 "
        "Including NOK 149.20 in taxes"
    ) in page
    assert "Tax NOK" not in page
    page = text_of((await staff.http.get(f"/admin/orders/{added['id']}")).text)
    assert (
        "Subtotal NOK 747.00 Shipping NOK 99.00 Discount -NOK 200.00 Tax NOK 161.50 "
        "Total NOK 807.50"
    ) in page
    assert "Including" not in page


async def setting_box(staff: Staff) -> str:
    """The page settings' "Prices include taxes" box, as staff see it."""
    page = (await staff.http.get("/admin/page")).text
    box = re.search(
        r'<input type="checkbox" id="f-taxes_included" name="taxes_included"[^>]*>', page
    )
    assert box, "no taxes_included box on the page settings"
    return "checked" if " checked" in box[0] else "unchecked"


async def test_the_shop_setting_decides_for_orders_that_do_not_say(
    api: ShopClient, staff: Staff, owner: httpx.AsyncClient
) -> None:
    totals = {k: v for k, v in INCLUDED.items() if k != "taxes_included"}
    refused = await api.http.post("/api/v1/orders", json=order_payload(totals=totals))
    assert refused.status_code == 422  # the shop adds tax by default: 746 is short
    assert list(refused.json()["error"]["fields"]) == ["totals.total"]

    assert await setting_box(staff) == "unchecked"
    saved = await staff.post("/admin/page/prices", {"taxes_included": "1"})
    assert saved.status_code == 303
    assert await setting_box(staff) == "checked"

    order = await create_order(api.http, totals=totals)
    assert order["totals"]["taxes_included"] is True
    summary = summary_of(await open_as_owner(owner, order))
    assert "Including NOK 149.20 in taxes" in summary and "Tax " not in summary

    await staff.post("/admin/page/prices", {})
    later = await create_order(api.http, totals={**totals, "total": "895.20"})
    assert later["totals"]["taxes_included"] is False
    kept = await api.http.get(f"/api/v1/orders/{order['id']}")
    assert kept.json()["totals"]["taxes_included"] is True  # placed orders keep theirs


# ---- the demo ----


async def test_the_demo_shop_includes_taxes_and_its_orders_add_up(
    app_http: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    seeded = await demo.seed(database, secret_key=settings.secret_key, base_url=settings.base_url)
    app_http.headers["Authorization"] = f"Bearer {seeded.api_key}"
    listed = (await app_http.get("/api/v1/orders", params={"limit": 100})).json()["orders"]
    assert listed
    for order in listed:
        t = {k: v if isinstance(v, bool) else float(v) for k, v in order["totals"].items()}
        assert t["taxes_included"] is True, order["name"]
        assert t["subtotal"] + t["shipping"] - t["discount"] == t["total"], order["name"]
    first = next(o for o in listed if o["name"] == "#1001")
    assert first["totals"] == {
        "subtotal": "498.00",
        "shipping": "99.00",
        "discount": "0.00",
        "tax": "99.60",
        "taxes_included": True,
        "total": "597.00",
    }
    async with httpx.AsyncClient(
        transport=app_http._transport, base_url="https://testserver"
    ) as customer:
        customer.cookies.set("os_lang", "en", domain="testserver.local")
        path = path_of(first)
        page = await customer.get(path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        await customer.post(
            f"{path}/login",
            data={"number": "1001", "email": "kari@demo.example", "csrf_token": token[1]},
        )
        summary = summary_of((await customer.get(path)).text)
    assert summary.startswith(
        "Subtotal NOK 498.00 Shipping NOK 99.00 Total NOK 597.00 Including NOK 99.60 in taxes"
    )


async def test_the_storefront_checkout_sends_totals_that_add_up(
    api: ShopClient, staff: Staff, database: Database
) -> None:
    async with database.write() as session:
        await session.execute(
            update(Shop).where(Shop.id == api.shop_id).values(storefront_enabled=True)
        )
    await staff.post("/admin/page/prices", {"taxes_included": "1"})
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as shopper:
        shopper.cookies.set("os_lang", "en", domain="testserver.local")
        form = await shopper.get("/shop/acme/checkout", params={"qty_mug": 2})
        assert (
            "Subtotal NOK 498.00 Shipping NOK 99.00 Total NOK 597.00 Including NOK 99.60 in taxes"
        ) in text_of(form.text)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        placed = await shopper.post(
            "/shop/acme/checkout",
            data={
                "csrf_token": token[1],
                "qty_mug": "2",
                "email": "ola@example.com",
                "first_name": "Ola",
                "address1": "Kirkegata 5",
                "city": "Oslo",
                "country_code": "NO",
                "payment": "card",
            },
        )
        assert placed.status_code == 303, placed.text
    [order] = (await api.http.get("/api/v1/orders")).json()["orders"]
    assert order["totals"] == {
        "subtotal": "498.00",
        "shipping": "99.00",
        "discount": "0.00",
        "tax": "99.60",
        "taxes_included": True,
        "total": "597.00",
    }

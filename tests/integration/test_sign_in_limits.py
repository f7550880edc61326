"""Guessing an order's e-mail: every spelling of the order number, and both forms (the
look-up and the status page's sign-in), count against the one order they name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import ShopClient
from tests.integration.helpers import create_order
from tests.integration.test_status_page import csrf_of, path_of

SPELLINGS = ("1001", "# 1001", "#\t1001", "## 1001", "#\u30001001")


@asynccontextmanager
async def stranger(api: ShopClient, n: int) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at an address of its own, so that only the per-order limit applies."""
    app: Any = api.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{n}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        client.cookies.set("os_lang", "en", domain="testserver.local")
        yield client


async def look_up(api: ShopClient, n: int, number: str, email: str) -> httpx.Response:
    async with stranger(api, n) as browser:
        form = await browser.get("/shop/acme/order-status")
        return await browser.post(
            "/shop/acme/order-status",
            data={"number": number, "email": email, "csrf_token": csrf_of(form.text)},
        )


async def sign_in(api: ShopClient, n: int, path: str, number: str, email: str) -> httpx.Response:
    async with stranger(api, n) as browser:
        page = await browser.get(path)
        return await browser.post(
            f"{path}/login",
            data={"number": number, "email": email, "csrf_token": csrf_of(page.text)},
        )


async def test_a_respelled_number_gets_no_fresh_tries(api: ShopClient) -> None:
    await create_order(api.http)
    for n in range(5):
        assert (await look_up(api, n, "1001", f"guess{n}@example.com")).status_code == 401
    for n, spelling in enumerate(SPELLINGS[1:], start=10):
        right = await look_up(api, n, spelling, "kari@example.com")
        assert right.status_code == 429, spelling
        assert "os_owner" not in right.headers.get("set-cookie", "")


async def test_failures_in_every_spelling_count_against_the_order(api: ShopClient) -> None:
    await create_order(api.http)
    for n, spelling in enumerate(SPELLINGS):
        assert (await look_up(api, n, spelling, "guess@example.com")).status_code == 401
    assert (await look_up(api, 20, "1001", "kari@example.com")).status_code == 429


async def test_the_look_up_and_the_page_sign_in_share_the_order_budget(api: ShopClient) -> None:
    order = await create_order(api.http)
    for n in range(3):
        assert (await look_up(api, n, "#1001", "guess@example.com")).status_code == 401
    for n in range(3, 5):
        failed = await sign_in(api, n, path_of(order), "1001", "guess@example.com")
        assert failed.status_code == 401
    blocked = await sign_in(api, 9, path_of(order), "## 1001", "kari@example.com")
    assert blocked.status_code == 429
    assert (await look_up(api, 10, "# 1001", "kari@example.com")).status_code == 429


async def test_an_unknown_number_is_limited_like_a_known_one(api: ShopClient) -> None:
    await create_order(api.http)
    codes = [
        (await look_up(api, n, spelling, "guess@example.com")).status_code
        for n, spelling in enumerate(("9999", "# 9999", "## 9999", "#\t9999", "9999", "#9999"))
    ]
    assert codes == [401] * 5 + [429]


async def test_another_order_keeps_its_own_budget(api: ShopClient) -> None:
    await create_order(api.http)
    other = await create_order(api.http, number="1002", email="ola@example.com")
    for n in range(5):
        assert (await look_up(api, n, "1001", "guess@example.com")).status_code == 401
    found = await look_up(api, 9, "# 1002", "ola@example.com")
    assert found.status_code == 303 and found.headers["location"] == path_of(other)

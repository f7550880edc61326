"""Staff browsers for the admin tests: each signed in to one shop through the form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from orderstatus.db.engine import Database
from orderstatus.services.accounts import create_staff
from orderstatus.services.orders import get_shop
from tests.conftest import ShopClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form token"
    return match.group(1)


@dataclass
class Staff:
    """A staff member's browser: its own cookies, reading English."""

    http: httpx.AsyncClient
    email: str
    shop_id: int

    async def token(self, path: str = "/admin/orders") -> str:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    async def post(self, path: str, data: dict[str, object] | None = None) -> httpx.Response:
        """A form post with this browser's genuine token."""
        return await self.http.post(path, data={"csrf_token": await self.token(), **(data or {})})


async def add_staff(database: Database, handle: str, email: str) -> None:
    async with database.write() as session:
        shop = await get_shop(session, handle)
        await create_staff(session=session, shop=shop, email=email, password=PASSWORD)


def browser_for(api: ShopClient) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=api.http._transport, base_url="https://testserver")
    client.cookies.set("os_lang", "en", domain="testserver.local")
    return client


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await http.get("/admin/login")
    return await http.post(
        "/admin/login",
        data={"csrf_token": csrf_of(form.text), "email": email, "password": password},
    )


@pytest.fixture
async def staff(api: ShopClient, database: Database) -> AsyncIterator[Staff]:
    """Signed in to shop "acme" (the ``api`` fixture's shop)."""
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        assert (await sign_in(http, "anna@acme.example")).status_code == 303
        yield Staff(http, "anna@acme.example", api.shop_id)


@pytest.fixture
async def other_staff(other_api: ShopClient, database: Database) -> AsyncIterator[Staff]:
    """Signed in to shop "other"."""
    await add_staff(database, "other", "olav@other.example")
    async with browser_for(other_api) as http:
        assert (await sign_in(http, "olav@other.example")).status_code == 303
        yield Staff(http, "olav@other.example", other_api.shop_id)

"""The page links in our messages open the owner's view once, then the plain address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from orderstatus.domain.links import link_key, page_link
from tests.conftest import ShopClient
from tests.integration.helpers import create_order
from tests.integration.test_status_page import path_of


def secret_of(api: ShopClient) -> str:
    pages: Any = api.http._transport.app.state.pages  # type: ignore[attr-defined]
    return str(pages.secret_key)


def token_of(order: dict[str, Any]) -> str:
    return str(order["status_page_url"].rsplit("/", 1)[1])


async def test_a_sent_link_makes_this_browser_the_owner_and_leaves_the_key_behind(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    path = path_of(order)
    later = datetime.now(UTC) + timedelta(days=30)
    link = page_link(
        "https://testserver", token_of(order), secret_key=secret_of(api), expires_at=later
    )
    opened = await browser.get(link)
    assert opened.status_code == 303 and opened.headers["location"] == path
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert opened.headers["cache-control"] == "no-store"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("os_owner=") and f"Path={path}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    page = await browser.get(path)
    assert "Storgata 1" in page.text and "kari@example.com" in page.text


async def test_an_expired_or_altered_link_shows_the_public_view(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http)
    other = await create_order(api.http, email="other@example.com")
    path = path_of(order)
    secret = secret_of(api)
    public = await browser.get(path)
    now = datetime.now(UTC)
    good = link_key(secret, token_of(order), now + timedelta(days=1))
    for key in (
        link_key(secret, token_of(order), now - timedelta(days=1)),  # expired yesterday
        link_key("x" * 40, token_of(order), now + timedelta(days=1)),  # not ours
        link_key(secret, token_of(other), now + timedelta(days=1)),  # another order's
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # altered
        "zz" + good[2:],  # a later expiry written in
        "",
        "nonsense",
    ):
        response = await browser.get(path, params={"key": key})
        assert response.status_code == 200, key
        assert "os_owner" not in response.headers.get("set-cookie", "")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "Storgata" not in response.text
        assert 'id="login-contact"' in response.text
        # Nothing else differs from the page without a key (bar the form token).
        assert len(response.text) == len(public.text)


async def test_links_can_be_turned_off(api: ShopClient, browser: httpx.AsyncClient) -> None:
    order = await create_order(api.http)
    pages: Any = api.http._transport.app.state.pages  # type: ignore[attr-defined]
    pages.settings = pages.settings.model_copy(update={"link_days": 0})
    later = datetime.now(UTC) + timedelta(days=30)
    response = await browser.get(
        path_of(order), params={"key": link_key(secret_of(api), token_of(order), later)}
    )
    assert response.status_code == 200 and "Storgata" not in response.text

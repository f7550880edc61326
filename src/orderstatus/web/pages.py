"""What every HTML page handler shares: templates, signing, throttling, the page cache."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from orderstatus import i18n
from orderstatus.config import Settings
from orderstatus.domain.view import ShopData
from orderstatus.notify.webpush import public_key_of
from orderstatus.services.insights import PageCounter
from orderstatus.services.status_pages import PageKey
from orderstatus.web.assets import app_assets
from orderstatus.web.ratelimit import RateLimiter
from orderstatus.web.security import Signer, csrf_token, remember_csrf
from orderstatus.web.templating import create_environment, render

LANG_COOKIE = "os_lang"
CHECKOUTS_PER_CLIENT = 5
CHECKOUT_MINUTES = 15
"""Orders one client may place in the demo storefront in a moving window."""


class FormPage(str):
    """A rendered page that can be cached for every browser: ``parts`` is the page cut
    where its forms take the browser's own token.

    The cuts are made at a mark drawn at random for each rendering, which no data in the
    page can know, so a value that looks like a placeholder is shown as it is."""

    parts: tuple[str, ...]

    @classmethod
    def cut(cls, html: str, mark: str) -> FormPage:
        page = cls(html)
        page.parts = tuple(html.split(mark))
        return page

    def with_token(self, token: str) -> str:
        return token.join(self.parts)


def security_headers(tile_url: str | None) -> dict[str, str]:
    """Status-page URLs are secrets: no Referer may carry them to a carrier or a tile
    server. Images come from us (product images are our copies) and, when one is
    configured, the map's tile server, and nowhere else outside."""
    tile_origin = ""
    if tile_url:
        tiles = urlsplit(tile_url.replace("{s}", "a"))
        tile_origin = f" {tiles.scheme}://{tiles.netloc}".replace("://a.", "://*.")
    return {
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            f"default-src 'self'; img-src 'self' data:{tile_origin}; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        ),
    }


PLAIN_SHOP = ShopData(
    handle="",
    name="orderstatus",
    logo_url=None,
    accent_color="#1f6f5c",
    contact_email=None,
    website_url=None,
    timezone="UTC",
    default_locale="en",
)


class PageCache:
    """Rendered pages by a key that includes the order's version: a change makes a new
    key, so nothing is ever served stale and nothing needs invalidating."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[Any, ...], str] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> str | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: tuple[Any, ...], page: str) -> None:
        self._pages[key] = page
        if len(self._pages) > self.size:
            self._pages.popitem(last=False)


class KeyCache:
    """Status-page tokens → their page key, so a page served from the page cache costs no
    database round trip. Changes heard from the broker update an entry at once; entries
    also expire after a moment, for changes made where no broker reaches (a command
    run by hand, a worker without Redis)."""

    TTL_SECONDS = 2.0
    REFRESH_SECONDS = 1.0
    """An entry this old is looked up again in the background, while it still answers."""

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        self._keys: dict[str, tuple[PageKey, float, float]] = {}
        """token → (key, when to look again, when it expires) in monotonic seconds"""
        self._tokens: dict[int, set[str]] = {}
        self._reading: dict[str, asyncio.Future[PageKey | None]] = {}

    async def read(
        self, token: str, read: Callable[[], Awaitable[PageKey | None]]
    ) -> PageKey | None:
        """The key from memory while fresh, else from ``read``: once at a time per token,
        however many requests wait for it.

        A busy page's key is looked up again before it expires, in the background, so
        that no request waits for the database while the page is being asked for. (When
        every request in the moment of expiry waited for one read, and that read waited
        for its turn on a loop busy with all of them, those requests made the page's
        latency tail.) An expired entry is never answered from: a change no broker told
        this process about shows within ``TTL_SECONDS``."""
        now = time.monotonic()
        entry = self._keys.get(token)
        if entry is not None and now < entry[2]:
            if now >= entry[1] and token not in self._reading:
                self._start(token, read)
            return entry[0]
        reading = self._reading.get(token) or self._start(token, read)
        return await asyncio.shield(reading)

    def _start(
        self, token: str, read: Callable[[], Awaitable[PageKey | None]]
    ) -> asyncio.Future[PageKey | None]:
        reading = asyncio.ensure_future(read())
        self._reading[token] = reading
        reading.add_done_callback(lambda done: self._read(token, done))
        return reading

    def _read(self, token: str, done: asyncio.Future[PageKey | None]) -> None:
        self._reading.pop(token, None)
        if done.cancelled() or done.exception() is not None:
            return  # the entry expires as it would have; a waiting request gets the error
        key = done.result()
        if key is None:
            self._keys.pop(token, None)
        else:
            self.put(token, key)

    def get(self, token: str) -> PageKey | None:
        entry = self._keys.get(token)
        if entry is None or entry[2] <= time.monotonic():
            return None
        return entry[0]

    def put(self, token: str, key: PageKey) -> None:
        known = self._keys.get(token)
        if known is not None and known[0].order_version > key.order_version:
            # A change heard from the broker while this key was being read.
            key = dataclasses.replace(key, order_version=known[0].order_version)
        if len(self._keys) >= self.size:
            self._keys.clear()
            self._tokens.clear()
        now = time.monotonic()
        self._keys[token] = (key, now + self.REFRESH_SECONDS, now + self.TTL_SECONDS)
        self._tokens.setdefault(key.order_id, set()).add(token)

    def changed(self, order_id: int, version: int) -> None:
        for token in self._tokens.get(order_id, ()):
            entry = self._keys.get(token)
            if entry is not None and entry[0].order_version < version:
                self._keys[token] = (
                    dataclasses.replace(entry[0], order_version=version),
                    entry[1],
                    entry[2],
                )

    def forget(self, order_id: int) -> None:
        """A change this cache cannot follow (a share link revoked): look again."""
        for token in self._tokens.pop(order_id, ()):
            self._keys.pop(token, None)


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env: Environment = create_environment()
        self.secret_key = settings.resolved_secret_key()
        self.signer = Signer(self.secret_key)
        self.push_key = public_key_of(settings.resolved_vapid_key())
        """Our VAPID public key, which a device subscribes with."""
        self.guesses = RateLimiter(settings.redis_url)
        self.checkouts = RateLimiter(
            settings.redis_url, attempts=CHECKOUTS_PER_CLIENT, minutes=CHECKOUT_MINUTES
        )
        self.cache = PageCache()
        self.keys = KeyCache()
        self.counter = PageCounter()
        """Page views and message clicks, written every few seconds (services.insights)."""
        self.secure_cookies = urlsplit(settings.base_url).scheme == "https"
        self.headers = security_headers(settings.map_tile_url)

    def locale(self, request: Request, *, order: str | None, shop: str | None) -> str:
        return i18n.choose(
            explicit=request.query_params.get("lang") or request.cookies.get(LANG_COOKIE),
            order=order,
            accept_language=request.headers.get("accept-language"),
            shop=shop,
        )

    def render(self, name: str, locale: str, **context: Any) -> FormPage:
        mark = f"csrf-{secrets.token_hex(16)}"
        html = render(
            self.env,
            name,
            locale,
            csrf=mark,
            map_tiles=self.settings.map_tile_url or "",
            map_basemap=app_assets().url("basemap/world.json"),
            map_attribution=self.settings.map_attribution,
            push_key=self.push_key,
            wallet_orders=self.settings.wallet_enabled,
            **context,
        )
        return FormPage.cut(html, mark)

    def respond(
        self,
        request: Request,
        html: str,
        *,
        status_code: int = 200,
        private: bool = False,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """Send a page: fill in this browser's form token, remember a language switch,
        and keep pages with personal details out of every cache."""
        body = html.with_token(csrf_token(request)) if isinstance(html, FormPage) else html
        response = HTMLResponse(body, status_code=status_code, headers=self.headers)
        response.headers["Cache-Control"] = "no-store" if private else "private, no-cache"
        for name, value in (headers or {}).items():
            response.headers[name] = value
        remember_csrf(request, response, secure=self.secure_cookies)
        switch = request.query_params.get("lang")
        if switch and i18n.supported(switch):
            response.set_cookie(
                LANG_COOKIE,
                i18n.supported(switch) or "",
                max_age=60 * 60 * 24 * 365,
                httponly=True,
                samesite="lax",
                secure=self.secure_cookies,
            )
        return response

    def error(
        self,
        request: Request,
        status_code: int,
        title: str,
        message: str,
        shop: ShopData | None = None,
    ) -> HTMLResponse:
        locale = self.locale(request, order=None, shop=shop.default_locale if shop else None)
        i18n.activate(locale)
        html = self.render(
            "error.html",
            locale,
            shop=shop or PLAIN_SHOP,
            title=i18n.gettext(title),
            message=i18n.gettext(message),
        )
        return self.respond(request, html, status_code=status_code)


async def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]

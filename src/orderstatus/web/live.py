"""The live stream of a status page (Server-Sent Events).

Each message carries the page's whole order content, rendered by the same template
(``_status_main.html``) from the same view builder as the page itself, so an open page
that takes it in shows exactly what a reload would: notes shown only in some statuses,
the headline, every card. Its forms carry no token (the message is shared by every
listener); the live script keeps the token the page already has. Who may listen is
decided exactly as for the page: the owner cookie is scoped to the order's path, so it
reaches ``/orders/{token}/events`` and nothing else; a share link's stream is always
public.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from orderstatus import i18n
from orderstatus.db.engine import Database
from orderstatus.domain.inputs import whole_number
from orderstatus.domain.view import Viewer, build_view
from orderstatus.realtime.broker import Broker
from orderstatus.realtime.hub import Subscription, share_tag
from orderstatus.services import status_pages
from orderstatus.services.status_pages import PageKey
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import PageCache, Pages, PagesDep
from orderstatus.web.security import OWNER_COOKIE, order_path
from orderstatus.web.sse import EventStream
from orderstatus.web.storefront.status import key_for_token

router = APIRouter(include_in_schema=False)


class Live:
    """Builds stream messages once per (order version, viewer, language) for all listeners."""

    def __init__(self, pages: Pages, database: Database, broker: Broker) -> None:
        self.pages = pages
        self.database = database
        self.broker = broker
        self._messages = PageCache(size=8192)
        self._loaded: dict[int, tuple[tuple[int, int], asyncio.Future[Any]]] = {}
        """Per order: the versions (order, shop) last read, and the reading."""
        self._building: dict[tuple[Any, ...], asyncio.Future[str]] = {}
        self._checking: dict[int, asyncio.Future[PageKey | None]] = {}
        self._parts = status_pages.PageParts()

    async def message(
        self, key: PageKey, version: int, viewer: Viewer, locale: str, base_path: str
    ) -> str:
        """The stream message for the page of ``key`` at ``version``."""
        cache_key = (key.order_id, version, key.shop_version, viewer, locale, base_path)
        cached = self._messages.get(cache_key)
        if cached is not None:
            return cached
        pending = self._building.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._building[cache_key] = future
        try:
            if version != key.order_version:
                key = dataclasses.replace(key, order_version=version)
            text = await self._build(key, viewer, locale, base_path)
            self._messages.put(cache_key, text)
            future.set_result(text)
            return text
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._building[cache_key]

    async def _load(self, key: PageKey) -> Any:
        """The order's page data, read once per version however many views are built."""
        version = (key.order_version, key.shop_version)
        entry = self._loaded.get(key.order_id)
        if entry is None or entry[0] != version:
            if len(self._loaded) >= 4096:
                self._loaded.clear()
            entry = (version, asyncio.ensure_future(self._read(key)))
            self._loaded[key.order_id] = entry
        return await asyncio.shield(entry[1])

    async def _read(self, key: PageKey) -> Any:
        async with self.database.reading() as connection:
            return await status_pages.load_page(
                connection,
                order_id=key.order_id,
                base_url=self.pages.settings.base_url,
                parts=self._parts,
                shop_version=key.shop_version,
            )

    async def _build(self, key: PageKey, viewer: Viewer, locale: str, base_path: str) -> str:
        try:
            data, shop = await self._load(key)
        except Exception:
            self._loaded.pop(key.order_id, None)
            raise
        view = build_view(data, shop, viewer, locale=locale)
        main = self.pages.render(
            "_status_main.html",
            locale,
            view=view,
            shop=shop,
            base_path=base_path,
            base_url=self.pages.settings.base_url,
            show_login=not base_path.startswith("/shared/"),
            thanks=False,
            login_error=None,
            form_errors={},
            typed={},
        )
        payload = {"version": key.order_version, "main": main.with_token("")}
        data_line = json.dumps(payload, separators=(",", ":"))
        return f"id: {key.order_version}\nevent: update\ndata: {data_line}\n\n"

    async def current_key(self, key: PageKey, *, share_token: str | None = None) -> PageKey | None:
        """The page's key now, from the database. Streams that ask at the same time (every
        open page, when the broker comes back) share one read per order. A share link's
        stream asks by its token, which may have been revoked while the broker was away."""
        if share_token is not None:
            async with self.database.read() as session:
                return await status_pages.page_key(session, share_token=share_token)
        reading = self._checking.get(key.order_id)
        if reading is None:
            reading = asyncio.ensure_future(self._current_key(key.order_id))
            self._checking[key.order_id] = reading
            reading.add_done_callback(lambda _: self._checking.pop(key.order_id, None))
        return await asyncio.shield(reading)

    async def _current_key(self, order_id: int) -> PageKey | None:
        async with self.database.read() as session:
            return await status_pages.page_key_by_id(session, order_id=order_id)


class PageStream(EventStream):
    """A status page's stream: the page's changed parts whenever its version moves on."""

    def __init__(
        self,
        live: Live,
        key: PageKey,
        viewer: Viewer,
        locale: str,
        base_path: str,
        seen: int,
        share_token: str | None = None,
    ) -> None:
        super().__init__(
            live.broker.hub,
            key.order_id,
            {"Referrer-Policy": "no-referrer"},
            tag=share_tag(share_token) if share_token else None,
        )
        self.share_token = share_token
        """A share link's stream ends when the link is revoked."""
        self.live = live
        self.key = key
        self.viewer = viewer
        self.locale = locale
        self.base_path = base_path
        self.seen = seen

    async def opening(self) -> str | None:
        return await self._send_from(self.key.order_version)

    async def update(self, subscription: Subscription, beat: bool) -> str | None:
        latest = subscription.latest()
        if latest <= self.seen and (not beat or not self.live.broker.healthy):
            # Told to look (the broker is back) or the broker is away: ask the database
            # what the page's version is now.
            fresh = await self.live.current_key(self.key, share_token=self.share_token)
            if fresh is None:  # the order is gone, or the share link revoked
                self.ended = self.gone = True
                return None
            self.key, latest = fresh, fresh.order_version
        return await self._send_from(latest)

    async def _send_from(self, version: int) -> str | None:
        """The message for ``version`` if the page does not show it yet."""
        if version <= self.seen:
            return None
        self.seen = version
        return await self.live.message(self.key, version, self.viewer, self.locale, self.base_path)


async def get_live(request: Request) -> Live:
    live: Live = request.app.state.live
    return live


LiveDep = Annotated[Live, Depends(get_live)]


def _seen(request: Request) -> int:
    """The version the page already shows: the browser's Last-Event-ID on a reconnect,
    else the version the page was rendered at."""
    for value in (request.headers.get("last-event-id"), request.query_params.get("v")):
        number = whole_number(value)
        if number is not None:
            return number
    return 0


def _stream(
    request: Request,
    live: Live,
    key: PageKey,
    viewer: Viewer,
    base_path: str,
    share_token: str | None = None,
) -> Response:
    locale = live.pages.locale(request, order=key.locale, shop=key.shop_locale)
    i18n.activate(locale)
    return PageStream(live, key, viewer, locale, base_path, _seen(request), share_token)


@router.get("/orders/{token}/events")
async def order_stream(
    token: str, request: Request, pages: PagesDep, database: DatabaseDep, live: LiveDep
) -> Response:
    key = await key_for_token(pages, database, token)
    if key is None:
        return PlainTextResponse("not found", status_code=404)
    owner = pages.signer.is_owner(request.cookies.get(OWNER_COOKIE), key.order_id)
    viewer = Viewer.OWNER if owner else Viewer.PUBLIC
    return _stream(request, live, key, viewer, order_path(token))


@router.get("/shared/{share_token}/events")
async def shared_stream(
    share_token: str, request: Request, database: DatabaseDep, live: LiveDep
) -> Response:
    async with database.read() as session:
        key = await status_pages.page_key(session, share_token=share_token)
    if key is None:
        return PlainTextResponse("not found", status_code=404)
    return _stream(request, live, key, Viewer.PUBLIC, f"/shared/{share_token}", share_token)

"""Live status pages: the stream is allowed exactly to who may see the page, carries
what changed, resumes, keeps alive, and (with Redis) crosses processes."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.realtime.hub import Hub
from orderstatus.services import status_pages
from tests.conftest import ShopClient
from tests.integration.helpers import create_order, fulfil
from tests.integration.live_server import serving
from tests.integration.test_privacy import add_order_note, leaks, unique_order
from tests.integration.test_status_page import csrf_of
from tests.live import env_for, free_port, run, server, two_servers


def headline_of(payload: dict[str, Any]) -> str:
    """The headline a live message brings (it carries the page's whole order content)."""
    found = re.search(r'<h2 id="headline">(.*?)</h2>', payload["main"], re.S)
    assert found, payload["main"][:200]
    return found.group(1)


def card_of(payload: dict[str, Any], shipment_id: int) -> str:
    """One shipment's card in a live message."""
    main = payload["main"]
    start = main.index(f'id="shipment-card-{shipment_id}"')
    return main[start : main.index("</section>", start)]


class Stream:
    """Reads Server-Sent Events from an open response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.raw: list[str] = []

    async def next_event(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        async def read() -> dict[str, Any]:
            event: dict[str, Any] = {}
            async for line in self._lines:
                self.raw.append(line)
                if line == "":
                    if event:
                        return event
                    continue
                if line.startswith(":"):
                    return {"comment": line[1:].strip()}
                name, _, value = line.partition(": ")
                event[name] = value
            raise EOFError

        return await asyncio.wait_for(read(), timeout)

    async def next_update(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        while True:
            event = await self.next_event(timeout)
            if event.get("event") == "update":
                event["payload"] = json.loads(event["data"])
                return event


@pytest.fixture
async def base(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with serving(settings, database) as (url, _app):
        yield url


async def open_stream(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> tuple[Stream, Any]:
    context = client.stream("GET", path, headers=headers or {})
    response = await context.__aenter__()
    return Stream(response), context


async def test_the_stream_sends_the_current_page_and_each_change(
    api: ShopClient, base: str
) -> None:
    order = await create_order(api.http, locale="en")
    shipment = await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1ZLIVE1")
    token = order["status_page_url"].rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=base, timeout=10) as browser:
        stream, context = await open_stream(browser, f"/orders/{token}/events?v=0")
        try:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            first = await stream.next_event()
            assert first.get("retry") == "3000"
            current = await stream.next_update()
            assert "On its way" in headline_of(current["payload"])
            assert current["id"] == str(current["payload"]["version"])
            await api.http.post(
                f"/api/v1/fulfillments/{shipment['id']}/events",
                json={
                    "status": "out_for_delivery",
                    "occurred_at": "2026-11-20T08:00:00Z",
                    "location": {"city": "Bergen", "country_code": "NO"},
                },
            )
            changed = await stream.next_update()
            assert int(changed["id"]) > int(current["id"])
            assert "Out for delivery" in headline_of(changed["payload"])
            card = card_of(changed["payload"], shipment["id"])
            assert "Bergen" in card and "aria-current" in card
        finally:
            await context.__aexit__(None, None, None)


async def test_resuming_with_last_event_id_sends_only_what_was_missed(
    api: ShopClient, base: str
) -> None:
    order = await create_order(api.http, locale="en")
    shipment = await fulfil(api.http, order, [(0, 1)])
    token = order["status_page_url"].rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=base, timeout=10) as browser:
        stream, context = await open_stream(browser, f"/orders/{token}/events?v=0")
        latest = (await stream.next_update())["id"]
        await context.__aexit__(None, None, None)

        # Reconnect having seen everything: nothing is repeated.
        stream, context = await open_stream(
            browser, f"/orders/{token}/events", headers={"Last-Event-ID": latest}
        )
        await stream.next_event()  # retry advice
        with pytest.raises(TimeoutError):
            await stream.next_update(timeout=0.5)
        await context.__aexit__(None, None, None)

        # Something happened while disconnected: the reconnect brings it at once.
        await api.http.post(
            f"/api/v1/fulfillments/{shipment['id']}/events",
            json={"status": "delivered", "occurred_at": "2026-11-20T09:00:00Z"},
        )
        stream, context = await open_stream(
            browser, f"/orders/{token}/events", headers={"Last-Event-ID": latest}
        )
        missed = await stream.next_update()
        assert "Delivered" in headline_of(missed["payload"])
        await context.__aexit__(None, None, None)


@dataclass
class OnePage:
    order: dict[str, Any]
    token: str
    hub: Hub
    browser: httpx.AsyncClient


@pytest.fixture
async def one_page(
    api: ShopClient, settings: Settings, database: Database
) -> AsyncIterator[OnePage]:
    """An order's page served over HTTP, its server's hub, and a browser."""
    order = await create_order(api.http)
    token = order["status_page_url"].rsplit("/", 1)[1]
    async with (
        serving(settings, database) as (url, app),
        httpx.AsyncClient(base_url=url, timeout=10) as browser,
    ):
        yield OnePage(order, token, app.state.live.broker.hub, browser)  # type: ignore[attr-defined]


async def test_heartbeats_keep_the_connection_open(one_page: OnePage) -> None:
    one_page.hub.heartbeat = 0.2
    stream, context = await open_stream(one_page.browser, f"/orders/{one_page.token}/events?v=99")
    await stream.next_event()
    assert (await stream.next_event(timeout=2))["comment"] == "ping"
    await context.__aexit__(None, None, None)


async def test_a_closed_page_stops_listening(one_page: OnePage) -> None:
    stream, context = await open_stream(one_page.browser, f"/orders/{one_page.token}/events?v=0")
    await stream.next_update()
    assert one_page.hub.streams == 1
    await context.__aexit__(None, None, None)
    for _ in range(100):  # the server hears of the closed connection
        if one_page.hub.streams == 0:
            break
        await asyncio.sleep(0.02)
    assert one_page.hub.streams == 0


async def test_pages_told_to_look_share_one_read_per_order(
    one_page: OnePage, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = status_pages.page_key_by_id

    async def counted(session: Any, *, order_id: int) -> Any:
        reads.append(order_id)
        return await real(session, order_id=order_id)

    monkeypatch.setattr(status_pages, "page_key_by_id", counted)
    path = f"/orders/{one_page.token}/events?v=0"
    opened = [await open_stream(one_page.browser, path) for _ in range(5)]
    for stream, _context in opened:
        await stream.next_update()
    one_page.hub.wake_all()  # as when the broker comes back: every page checks
    for stream, _context in opened:
        with pytest.raises(TimeoutError):  # nothing changed, nothing sent
            await stream.next_update(timeout=0.3)
    assert reads == [one_page.order["id"]]
    for _stream, context in opened:
        await context.__aexit__(None, None, None)


async def test_a_revoked_share_link_stops_streaming_at_once(
    api: ShopClient, base: str, database: Database
) -> None:
    order = await create_order(api.http, locale="en")
    async with database.write() as session:
        share = await status_pages.create_share_link(session, order_id=order["id"])
    async with httpx.AsyncClient(base_url=base, timeout=10) as friend:
        stream, context = await open_stream(friend, f"/shared/{share}/events?v=0")
        await stream.next_update()
        async with database.write() as session:
            await status_pages.revoke_share_link(session, order_id=order["id"])
        assert (await stream.next_event(timeout=3)).get("event") == "gone"
        with pytest.raises(EOFError):
            await stream.next_event(timeout=3)
        await context.__aexit__(None, None, None)
        assert (await friend.get(f"/shared/{share}/events")).status_code == 404


async def test_unknown_tokens_have_no_stream(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as browser:
        assert (await browser.get("/orders/nope/events")).status_code == 404
        assert (await browser.get("/shared/nope/events")).status_code == 404


async def test_the_public_stream_carries_no_personal_data(
    api: ShopClient, base: str, database: Database
) -> None:
    order = (await api.http.post("/api/v1/orders", json=unique_order())).json()
    await add_order_note(database, api.shop_id, order["id"])
    shipment = await fulfil(
        api.http, order, [(0, 1)], carrier="ups", tracking_number="ZQXTRACK123456"
    )
    token = order["status_page_url"].rsplit("/", 1)[1]
    owner_cookie = api.http._transport.app.state.pages.signer.owner_value(order["id"])  # type: ignore[attr-defined]
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as public,
        httpx.AsyncClient(base_url=base, timeout=10, cookies={"os_owner": owner_cookie}) as owner,
    ):
        public_stream, p_ctx = await open_stream(public, f"/orders/{token}/events?v=0&lang=en")
        owner_stream, o_ctx = await open_stream(owner, f"/orders/{token}/events?v=0")
        await public_stream.next_update()
        await owner_stream.next_update()
        await api.http.post(
            f"/api/v1/fulfillments/{shipment['id']}/events",
            json={
                "status": "delivered",
                "occurred_at": "2026-11-20T09:00:00Z",
                "message": "Zqxsigned by the neighbour",
                "location": {"city": "Bergen", "country_code": "NO"},
            },
        )
        public_update = await public_stream.next_update()
        owner_update = await owner_stream.next_update()
        assert "Zqxsigned by the neighbour" in owner_update["data"]
        assert leaks("\n".join(public_stream.raw)) == []
        await p_ctx.__aexit__(None, None, None)
        await o_ctx.__aexit__(None, None, None)
        assert "Delivered" in headline_of(public_update["payload"])


# ---- across processes with Redis -------------------------------------------------------


def test_an_event_posted_to_one_process_reaches_a_page_on_another(
    database_url: str, redis_url: str, tmp_path: Any
) -> None:
    with two_servers(database_url, redis_url, tmp_path, shop="two") as (one, two, key):
        health = httpx.get(f"{two}/healthz").json()
        assert health["checks"]["broker"] == "ok"
        asyncio.run(_cross_process(one, two, key))


async def _cross_process(one: str, two: str, key: str) -> None:
    from tests.factories import order_payload

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=one, headers=auth, timeout=10) as api:
        order = (await api.post("/api/v1/orders", json=order_payload(locale="en"))).json()
        shipment = (await api.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})).json()
        token = order["status_page_url"].rsplit("/", 1)[1]
        async with httpx.AsyncClient(base_url=two, timeout=10) as browser:
            stream, context = await open_stream(browser, f"/orders/{token}/events?v=0")
            await stream.next_update()
            await api.post(
                f"/api/v1/fulfillments/{shipment['id']}/events",
                json={"status": "out_for_delivery", "occurred_at": "2026-11-20T08:00:00Z"},
            )
            update = await stream.next_update(timeout=3)
            assert "Out for delivery" in headline_of(update["payload"])
            await context.__aexit__(None, None, None)


def test_revoking_a_share_link_ends_its_open_streams_in_every_process(
    database_url: str, redis_url: str, tmp_path: Any
) -> None:
    with two_servers(database_url, redis_url, tmp_path, shop="sharing") as (one, two, key):
        asyncio.run(_revoked_across_processes(one, two, key))


async def _revoked_across_processes(one: str, two: str, key: str) -> None:
    from tests.factories import order_payload

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=one, headers=auth, timeout=10) as api:
        order = (await api.post("/api/v1/orders", json=order_payload(locale="en"))).json()
        shipment = (await api.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})).json()
    path = "/orders/" + order["status_page_url"].rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=one, timeout=10) as owner:
        csrf = csrf_of((await owner.get(path)).text)
        signed_in = await owner.post(
            f"{path}/login",
            data={"number": order["number"], "email": "kari@example.com", "csrf_token": csrf},
        )
        assert signed_in.status_code == 303
        assert (await owner.post(f"{path}/share", data={"csrf_token": csrf})).status_code == 303
        found = re.search(r"/shared/([A-Za-z0-9_-]+)", (await owner.get(path)).text)
        assert found
        shared = f"/shared/{found.group(1)}"
        async with (
            httpx.AsyncClient(base_url=one, timeout=10) as friend_here,
            httpx.AsyncClient(base_url=two, timeout=10) as friend_there,
        ):
            streams = [
                await open_stream(friend_here, f"{shared}/events?v=0"),
                await open_stream(friend_there, f"{shared}/events?v=0"),
            ]
            for stream, _context in streams:
                await stream.next_update()
            revoked = await owner.post(f"{path}/share/revoke", data={"csrf_token": csrf})
            assert revoked.status_code == 303
            for stream, _context in streams:
                event = await stream.next_event(timeout=3)
                while "comment" in event:
                    event = await stream.next_event(timeout=3)
                assert event.get("event") == "gone", event
                with pytest.raises(EOFError):  # the server closed the stream
                    await stream.next_event(timeout=3)
            # Nothing more reaches a browser that was showing the shared page.
            async with httpx.AsyncClient(base_url=one, headers=auth, timeout=10) as api:
                await api.post(
                    f"/api/v1/fulfillments/{shipment['id']}/events",
                    json={"status": "delivered", "occurred_at": "2026-11-20T09:00:00Z"},
                )
            for client in (friend_here, friend_there):
                assert (await client.get(f"{shared}/events")).status_code == 404
            for _stream, context in streams:
                await context.__aexit__(None, None, None)


def test_redis_stopped_and_started_again_the_page_recovers(
    database_url: str, redis_url: str, tmp_path: Any
) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("Redis restart test: redis-server is not installed")
    port = free_port()
    own = f"redis://127.0.0.1:{port}/0"
    started: list[subprocess.Popen[bytes]] = []

    def start_redis() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        started.append(process)
        for _ in range(100):
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return process
            except OSError:
                import time

                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    redis = start_redis()
    env = env_for(database_url, ORDERSTATUS_REDIS_URL=own)
    assert run("create-shop", "--handle", "rr", "--currency", "NOK", env=env).returncode == 0
    key = run("create-api-key", "--shop", "rr", env=env).stdout.strip()
    try:
        with server("serve", env=env, cwd=tmp_path) as (one, _):
            redis.terminate()
            redis.wait(10)
            asyncio.run(_through_an_outage(one, key, start_redis))
    finally:
        for process in started:  # the first and the one started again
            process.terminate()
            process.wait(10)


async def _through_an_outage(base: str, key: str, start_redis: Any) -> None:
    from tests.factories import order_payload

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as api:
        for _ in range(100):
            if (await api.get("/healthz")).json()["status"] == "degraded":
                break
            await asyncio.sleep(0.1)
        health = await api.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        # Pages and the API keep working while Redis is away.
        order = (await api.post("/api/v1/orders", json=order_payload(locale="en"))).json()
        assert order["id"]
        token = order["status_page_url"].rsplit("/", 1)[1]
        page = await api.get(f"/orders/{token}")
        assert page.status_code == 200
        shipment = (await api.post(f"/api/v1/orders/{order['id']}/fulfillments", json={})).json()
        start_redis()
        for _ in range(100):
            if (await api.get("/healthz")).json()["status"] == "ok":
                break
            await asyncio.sleep(0.1)
        assert (await api.get("/healthz")).json()["status"] == "ok"
        async with httpx.AsyncClient(base_url=base, timeout=10) as browser:
            stream, context = await open_stream(browser, f"/orders/{token}/events?v=0")
            await stream.next_update()
            await api.post(
                f"/api/v1/fulfillments/{shipment['id']}/events",
                json={"status": "delivered", "occurred_at": "2026-11-20T09:00:00Z"},
            )
            update = await stream.next_update(timeout=3)
            assert "Delivered" in headline_of(update["payload"])
            await context.__aexit__(None, None, None)

"""The mixed load a shop puts on orderstatus, through its front door (nginx): orders and
fulfilments through the API, tracking events through the API and as EasyPost-signed
webhooks, status pages read, live pages open. Shared by the system test and
``bench/scale.py``.

Each order follows one *flow*: create the order (with an e-mail address), open its live
page (the first ``live_pages`` orders), ship everything, then four tracking events in
carrier time just after now (news, so each notifiable one sends a message): picked up,
in transit, out for delivery, delivered. Even orders get them through
``POST /api/v1/fulfillments/{id}/events``, odd ones as EasyPost ``tracker.updated``
webhooks carrying the whole history. Every fifth order also tries changes that must be
refused: shipping again (409), an event with a NUL in its text (400) or a webhook with a
wrong signature (401); none of them may leave anything behind, a message least of all.

Requests that get no answer, or 502/503/504 from nginx (a process gone), are tried again
until they get one: an order number already taken (409) or nothing left to ship (409) on
a second try means the first try was committed, and the flow reads what it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.carriers import samples

JOURNEY = ("carrier_picked_up", "in_transit", "out_for_delivery", "delivered")
NOTIFIED = ("order_confirmation", "shipping_confirmation", "out_for_delivery", "delivered")
"""The messages each flow's order must get, exactly once each."""
TRANSIENT = {502, 503, 504}
RETRY_FOR = 90.0
RETRY_PAUSE = 0.25
MESSAGE_KEY = re.compile(r"<o(\d+)\.f(\d+)\.([a-z_]+)\.(email|sms)\.")


def order_body(n: int) -> dict[str, Any]:
    return {
        "number": f"S{n:06d}",
        "email": f"customer{n}@example.com",
        "currency": "NOK",
        "locale": "en",
        "customer": {"first_name": "Kari", "last_name": f"Nordmann {n}"},
        "shipping_address": {
            "name": "Kari Nordmann",
            "address1": "Storgata 1",
            "city": "Oslo",
            "zip": "0155",
            "country_code": "NO",
        },
        "payment": {"method": "card"},
        "line_items": [{"title": "Mug", "quantity": 2, "price": "249.00"}],
    }


@dataclass
class Tally:
    """Latencies of answered requests by kind (page, event, webhook, order, fulfil),
    tries again after no answer or a 5xx from nginx, and unexpected answers."""

    measuring: bool = True
    latencies: dict[str, list[float]] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def answered(self, kind: str, seconds: float) -> None:
        if self.measuring:
            self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, detail[:300])


@dataclass
class Flow:
    """One order's path through the load, and what the server answered."""

    n: int
    order_id: int = 0
    status_path: str = ""
    fulfillment_id: int = 0
    tracking_number: str = ""
    events_sent: int = 0
    refused: list[int] = field(default_factory=list)
    """The status of each change that had to be refused."""
    done: bool = False

    @property
    def via_webhook(self) -> bool:
        return self.n % 2 == 1

    @property
    def tries_refused_changes(self) -> bool:
        return self.n % 5 == 0


@dataclass
class LivePage:
    """A status page left open: follows its stream, and reconnects on a drop with the
    Last-Event-ID it has, as a browser does."""

    path: str
    last_id: int | None = None
    last_data: str | None = None
    connects: int = 0
    updates: int = 0
    gone: bool = False

    async def follow(self, session: aiohttp.ClientSession, base: str) -> None:
        while not self.gone:
            headers = {"Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = str(self.last_id)
            try:
                async with session.get(f"{base}{self.path}/events", headers=headers) as resp:
                    if resp.status != 200:
                        await asyncio.sleep(0.5)
                        continue
                    self.connects += 1
                    async for event, data, event_id in read_events(resp):
                        if event == "gone":
                            self.gone = True
                        elif event == "update" and event_id is not None:
                            self.last_id, self.last_data = event_id, data
                            self.updates += 1
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.3 + random.random() * 0.4)


async def read_events(resp: aiohttp.ClientResponse) -> Any:
    """(event, data, id) of each message of a text/event-stream answer."""
    event, data, event_id = "message", [], None
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data), event_id
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = int(value) if value.isdigit() else None


async def current_message(
    session: aiohttp.ClientSession, base: str, path: str
) -> tuple[int | None, str | None]:
    """The message a page opened now starts with: (version, data)."""
    async with session.get(f"{base}{path}/events") as resp:
        async for event, data, event_id in read_events(resp):
            if event == "update":
                return event_id, data
    return None, None


class Load:
    """The mixed load against ``base`` (nginx), for one shop."""

    def __init__(
        self,
        base: str,
        api_key: str,
        webhook_secret: str,
        handle: str,
        *,
        live_pages: int = 200,
        tally: Tally | None = None,
    ) -> None:
        self.base = base
        self.api = {"Authorization": f"Bearer {api_key}"}
        self.secret = webhook_secret.encode()
        self.webhook_url = f"{base}/webhooks/easypost/{handle}"
        self.live_limit = live_pages
        self.tally = tally or Tally()
        self.flows: list[Flow] = []
        self.pages: list[LivePage] = []
        self._page_tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._live_session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Load:
        timeout = aiohttp.ClientTimeout(total=30)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), timeout=timeout
        )
        live_timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
        self._live_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=live_timeout
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close_pages()
        for session in (self._session, self._live_session):
            if session is not None:
                await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    # --- requests ----------------------------------------------------------------------

    async def request(
        self,
        kind: str,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One answer that is not a gateway error, trying again while there is none."""
        deadline = time.monotonic() + RETRY_FOR
        while True:
            started = time.perf_counter()
            try:
                async with self.session.request(
                    method, url, json=json_body, data=data, headers=headers
                ) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, body = 0, type(exc).__name__.encode()
            if status and status not in TRANSIENT:
                self.tally.answered(kind, time.perf_counter() - started)
                return status, body
            self.tally.retries[f"{kind} {status or body.decode()}"] += 1
            if time.monotonic() > deadline:
                return status, body
            await asyncio.sleep(RETRY_PAUSE)

    def _unexpected(self, kind: str, status: int, body: bytes) -> None:
        self.tally.error(f"{kind} {status}", body.decode(errors="replace"))

    # --- one order's flow --------------------------------------------------------------

    async def flow(self, n: int, pause: float = 0.0) -> Flow:
        flow = Flow(n)
        self.flows.append(flow)
        api = f"{self.base}/api/v1"
        status, body = await self.request(
            "order", "POST", f"{api}/orders", json_body=order_body(n), headers=self.api
        )
        if status == 409:  # the first try was committed
            status, body = await self.request(
                "order", "GET", f"{api}/orders?number=S{n:06d}", headers=self.api
            )
            orders = json.loads(body)["orders"] if status == 200 else []
            order = orders[0] if orders else None
        else:
            order = json.loads(body) if status == 201 else None
        if order is None:
            self._unexpected("order", status, body)
            return flow
        flow.order_id = int(order["id"])
        flow.status_path = urlsplit(order["status_page_url"]).path
        if len(self.pages) < self.live_limit:
            self.open_page(flow.status_path)
        await asyncio.sleep(pause)

        flow.tracking_number = f"1Z999SY1{n:010d}"
        shipment = {"carrier": "ups", "tracking_number": flow.tracking_number}
        url = f"{api}/orders/{flow.order_id}/fulfillments"
        status, body = await self.request(
            "fulfil", "POST", url, json_body=shipment, headers=self.api
        )
        if status == 409:  # the first try was committed: nothing is left to ship
            status, body = await self.request(
                "order", "GET", f"{api}/orders/{flow.order_id}", headers=self.api
            )
            shipped = json.loads(body)["fulfillments"] if status == 200 else []
            fulfillment = shipped[0] if shipped else None
        else:
            fulfillment = json.loads(body) if status == 201 else None
        if fulfillment is None:
            self._unexpected("fulfil", status, body)
            return flow
        flow.fulfillment_id = int(fulfillment["id"])
        if flow.tries_refused_changes:
            status, body = await self.request(
                "fulfil", "POST", url, json_body=shipment, headers=self.api
            )
            flow.refused.append(status)

        start = datetime.now(UTC) + timedelta(minutes=1)
        for step in range(len(JOURNEY)):
            await asyncio.sleep(pause)
            occurred = start + timedelta(minutes=10 * step)
            if flow.via_webhook:
                ok = await self._webhook(flow, step, occurred)
            else:
                ok = await self._event(flow, step, occurred)
            if not ok:
                return flow
            flow.events_sent += 1
            if flow.tries_refused_changes and step == 1:
                await self._refused_event(flow, occurred + timedelta(minutes=5))
        flow.done = True
        return flow

    async def _event(self, flow: Flow, step: int, occurred: datetime) -> bool:
        body = {
            "status": JOURNEY[step],
            "occurred_at": occurred.isoformat(),
            "external_id": f"s{flow.n}-{step}",
            "location": {"city": "Oslo", "country_code": "NO"},
        }
        url = f"{self.base}/api/v1/fulfillments/{flow.fulfillment_id}/events"
        status, payload = await self.request("event", "POST", url, json_body=body, headers=self.api)
        if status not in (200, 201):
            self._unexpected("event", status, payload)
            return False
        return True

    def _easypost(self, flow: Flow, steps: list[tuple[str, datetime]]) -> bytes:
        hours = [(when - samples.START).total_seconds() / 3600 for _, when in steps]
        journey: list[samples.Step] = [
            (status, h, "Oslo", "NO") for (status, _), h in zip(steps, hours, strict=True)
        ]
        return samples.easypost(flow.tracking_number, journey)

    def _signed(self, body: bytes, key: bytes) -> dict[str, str]:
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        return {
            "X-Hmac-Signature": f"hmac-sha256-hex={digest}",
            "Content-Type": "application/json",
            "User-Agent": "EasyPost WebHook Agent 1.0",
        }

    def _history(self, step: int, start: datetime) -> list[tuple[str, datetime]]:
        return [(JOURNEY[i], start + timedelta(minutes=10 * i)) for i in range(step + 1)]

    async def _webhook(self, flow: Flow, step: int, occurred: datetime) -> bool:
        start = occurred - timedelta(minutes=10 * step)
        body = self._easypost(flow, self._history(step, start))
        status, payload = await self.request(
            "webhook", "POST", self.webhook_url, data=body, headers=self._signed(body, self.secret)
        )
        if status != 200:
            self._unexpected("webhook", status, payload)
            return False
        return True

    async def _refused_event(self, flow: Flow, occurred: datetime) -> None:
        """A delay that must be refused: nothing of it kept, no message for it."""
        if flow.via_webhook:
            start = occurred - timedelta(minutes=15)
            steps = [*self._history(1, start), ("delayed", occurred)]
            body = self._easypost(flow, steps)
            headers = self._signed(body, b"not-the-secret")
            status, _ = await self.request(
                "webhook", "POST", self.webhook_url, data=body, headers=headers
            )
        else:
            url = f"{self.base}/api/v1/fulfillments/{flow.fulfillment_id}/events"
            event = {"status": "delayed", "occurred_at": occurred.isoformat(), "message": "\x00"}
            status, _ = await self.request("event", "POST", url, json_body=event, headers=self.api)
        flow.refused.append(status)

    # --- pages -------------------------------------------------------------------------

    def open_page(self, path: str) -> None:
        assert self._live_session is not None
        page = LivePage(path)
        self.pages.append(page)
        self._page_tasks.append(asyncio.create_task(page.follow(self._live_session, self.base)))

    async def close_pages(self) -> None:
        for task in self._page_tasks:
            task.cancel()
        await asyncio.gather(*self._page_tasks, return_exceptions=True)
        self._page_tasks.clear()

    async def read_pages(self, until: float, pause: float = 0.0) -> None:
        """Read status pages of orders made so far, one after another, until ``until``
        (``time.monotonic()``)."""
        rng = random.Random()
        while time.monotonic() < until:
            ready = [f for f in self.flows if f.status_path]
            if not ready:
                await asyncio.sleep(0.1)
                continue
            path = rng.choice(ready).status_path
            status, body = await self.request("page", "GET", f"{self.base}{path}")
            if status != 200:
                self._unexpected("page", status, body)
            await asyncio.sleep(pause)

    # --- driving -----------------------------------------------------------------------

    async def paced(self, orders: int, seconds: float, readers: int, reader_pause: float) -> None:
        """``orders`` flows started evenly over the first half of ``seconds``, each
        spreading its steps over the rest, with page readers the whole time."""
        spread = seconds / 2
        pause = spread / (len(JOURNEY) + 1)
        until = time.monotonic() + seconds

        async def later(n: int) -> None:
            await asyncio.sleep(spread * n / orders)
            await self.flow(n, pause)

        await gather_all(
            [later(n) for n in range(orders)]
            + [self.read_pages(until, reader_pause) for _ in range(readers)]
        )

    async def closed(self, clients: int, readers: int, until: float, first: int = 0) -> None:
        """``clients`` flows at a time, one after the other without pause, and
        ``readers`` page readers, until ``until`` (``time.monotonic()``)."""
        numbers = iter(range(first, 10**9))

        async def client() -> None:
            while time.monotonic() < until:
                await self.flow(next(numbers))

        await gather_all(
            [client() for _ in range(clients)] + [self.read_pages(until) for _ in range(readers)]
        )


async def gather_all(coroutines: list[Awaitable[Any]]) -> None:
    """Run them all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(check: Callable[[], Awaitable[bool]], limit: float, step: float = 1.0) -> bool:
    """Whether ``check()`` came true within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)

"""Status page benchmark: ``GET /orders/{token}`` against a static page, over real HTTP.

Sets up one realistic order on a fresh database through the REST API (three line items, two
shipments with six tracking events each, with places), then measures the customer's order
status page as its owner sees it (with the signed ``os_owner`` cookie) and as anyone else
sees it (no cookies: the public view), and a static page of the owner page's size served by
the same app, one after the other in the same run against ONE server process.

The server is the app as ``orderstatus serve`` builds it (``create_app`` on the settings
from the environment, the same middleware, one uvicorn process on the same event loop, with
httptools) plus one extra route, ``GET /bench/static``, that answers a fixed
``HTMLResponse``. It logs warnings only; ``--log-level info`` adds the access log that
``serve`` writes. It is started once to set up the order and measure the owner page, then
again with the static page sized to match. Before measuring, the bench checks that the owner
page shows the shipping address and e-mail and the public page shows neither.

Concurrent clients share one aiohttp session (keep-alive, one connection each), send what a
browser sends (``Accept``, ``Accept-Language``, no cookie jar) and each loop on one page;
a short warm-up per page is not counted. Latency is measured by the client. For each page
it prints the body size, requests/s, p50/p99 latency, throughput as a share of the static
page's, non-200 answers by status, and the CPU seconds the server process (all its threads,
from /proc/<pid>/stat), this client process and the rest of the machine used in the measured
time, to show which one is the bottleneck and whether something else was competing for the
cores, and the server's CPU time per page answered; then whether the targets (on SQLite: at
least 1,500 requests/s, at least 25 % of the static page's throughput and p99 under 50 ms,
for both views) are met.

Run it from the project folder (it is not part of the test suite)::

    .venv/bin/python bench/status_page.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/status_page.py --backend sqlite --seconds 30 --clients 64

PostgreSQL and clean-up: as every benchmark here (see ``_common``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

import _common as common
from orderstatus.web.security import OWNER_COOKIE, Signer

REQUEST_TIMEOUT = 30.0

STATIC_PATH = "/bench/static"
PORT_ENV = "STATUS_BENCH_PORT"
STATIC_BYTES_ENV = "STATUS_BENCH_STATIC_BYTES"
LOG_LEVEL_ENV = "STATUS_BENCH_LOG_LEVEL"

LAUNCHER = f'''\
"""The app as `orderstatus serve` builds it, plus a static page of a fixed size."""

import os

import uvicorn
from fastapi.responses import HTMLResponse

from orderstatus.cli import SERVER_OPTIONS
from orderstatus.config import Settings
from orderstatus.web.app import create_app


def main() -> None:
    app = create_app(Settings.from_env())
    size = int(os.environ["{STATIC_BYTES_ENV}"])
    head = b"<!doctype html><html><head><title>Static</title></head><body><p>"
    body = (head + b"x" * size)[:size]

    @app.get("{STATIC_PATH}", include_in_schema=False)
    async def static_page() -> HTMLResponse:
        return HTMLResponse(body)

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["{PORT_ENV}"]),
        log_level=os.environ["{LOG_LEVEL_ENV}"],
        loop=SERVER_OPTIONS["loop"],
    )


if __name__ == "__main__":
    main()
'''

BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.9,nb;q=0.8",
}

ADDRESS_LINE = "Strandgaten 12"
EMAIL = "kari.nordmann@example.com"
ORDER_BODY: dict[str, Any] = {
    "email": EMAIL,
    "phone": "+47 912 34 567",
    "locale": "en",
    "currency": "NOK",
    "customer": {"first_name": "Kari", "last_name": "Nordmann"},
    "shipping_address": {
        "name": "Kari Nordmann",
        "address1": ADDRESS_LINE,
        "city": "Bergen",
        "zip": "5013",
        "country_code": "NO",
    },
    "payment": {"method": "card", "brand": "Visa", "last4": "4242"},
    "line_items": [
        {
            "title": "Stoneware mug",
            "variant": "Fjord blue",
            "sku": "MUG-BLU",
            "quantity": 2,
            "price": "249.00",
        },
        {
            "title": "Wool scarf",
            "variant": "Grey",
            "sku": "SCF-GRY",
            "quantity": 1,
            "price": "599.00",
        },
        {"title": "Tea sampler", "sku": "TEA-SMP", "quantity": 1, "price": "189.00"},
    ],
}

Journey = tuple[tuple[str, float, str, str, str], ...]
"""(status, hours ago, city, zip, message) per tracking event, oldest first."""

SHIPMENTS: tuple[tuple[tuple[int, ...], str, str, Journey], ...] = (
    (
        (0, 1),
        "ups",
        "1Z999AA10123456784",
        (
            ("label_purchased", 74, "Oslo", "0150", "Shipping label created"),
            ("carrier_picked_up", 66, "Oslo", "0150", "Picked up by the carrier"),
            ("in_transit", 58, "Drammen", "3015", "Arrived at sorting facility"),
            ("in_transit", 44, "Bergen", "5020", "Arrived at local depot"),
            ("out_for_delivery", 30, "Bergen", "5013", "Out for delivery"),
            ("delivered", 26, "Bergen", "5013", "Delivered, left at the front door"),
        ),
    ),
    (
        (2,),
        "bring",
        "370722150004528013",
        (
            ("label_purchased", 50, "Oslo", "0150", "Shipping label created"),
            ("carrier_picked_up", 40, "Oslo", "0150", "Picked up by the carrier"),
            ("in_transit", 32, "Gardermoen", "2060", "Departed from terminal"),
            ("in_transit", 20, "Trondheim", "7010", "Arrived at sorting facility"),
            ("in_transit", 9, "Bergen", "5020", "Arrived at local depot"),
            ("out_for_delivery", 2, "Bergen", "5013", "Out for delivery"),
        ),
    ),
)


@contextlib.asynccontextmanager
async def serving(
    env: dict[str, str], workdir: Path, port: int, static_bytes: int, log_level: str
) -> AsyncIterator[common.Server]:
    """The launcher in its own process, settled after its start."""
    launcher = workdir / "server.py"
    launcher.write_text(LAUNCHER)
    env = env | {
        PORT_ENV: str(port),
        STATIC_BYTES_ENV: str(static_bytes),
        LOG_LEVEL_ENV: log_level,
    }
    async with common.running_server(env, workdir, port, script=launcher, settle=True) as server:
        yield server


# --- setting up the order ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeededOrder:
    order_id: int
    path: str


async def seed_order(base: str, api_key: str) -> SeededOrder:
    """The order, its two shipments and their tracking events, through the REST API."""
    headers = {"Authorization": f"Bearer {api_key}"}
    now = datetime.now(UTC).replace(microsecond=0)
    async with aiohttp.ClientSession() as session:
        order = await common.post_json(session, f"{base}/api/v1/orders", ORDER_BODY, headers)
        items = [item["id"] for item in order["line_items"]]
        for chosen, carrier, tracking, journey in SHIPMENTS:
            fulfillment = await common.post_json(
                session,
                f"{base}/api/v1/orders/{order['id']}/fulfillments",
                {
                    "line_items": [
                        {"id": items[i], "quantity": ORDER_BODY["line_items"][i]["quantity"]}
                        for i in chosen
                    ],
                    "carrier": carrier,
                    "tracking_number": tracking,
                    "notify_customer": False,
                },
                headers,
            )
            for n, (status, hours_ago, city, zip_code, message) in enumerate(journey):
                await common.post_json(
                    session,
                    f"{base}/api/v1/fulfillments/{fulfillment['id']}/events",
                    {
                        "status": status,
                        "occurred_at": (now - timedelta(hours=hours_ago)).isoformat(),
                        "message": message,
                        "location": {"city": city, "zip": zip_code, "country_code": "NO"},
                        "external_id": f"{tracking}-{n}",
                    },
                    headers,
                )
    return SeededOrder(order["id"], urlsplit(order["status_page_url"]).path)


# --- load --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    url: str
    headers: Mapping[str, str]
    size: int


@dataclass(frozen=True, slots=True)
class Measurement:
    page: Page
    seconds: float
    tally: common.Tally
    server_cpu: float
    client_cpu: float
    other_cpu: float

    @property
    def rate(self) -> float:
        return len(self.tally.latencies) / self.seconds

    def percentile_ms(self, pct: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies, in ms."""
        ordered = sorted(self.tally.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, math.ceil(len(ordered) * pct / 100))
        return ordered[rank - 1] * 1000


async def fetch_page(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str]
) -> tuple[int, bytes]:
    async with session.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


async def client(
    session: aiohttp.ClientSession,
    page: Page,
    measure_from: float,
    stop_at: float,
    tally: common.Tally,
) -> None:
    """Get the page until ``stop_at``; count the requests started after ``measure_from``."""
    clock = time.perf_counter
    while (started := clock()) < stop_at:
        try:
            async with session.get(page.url, headers=page.headers) as resp:
                status = resp.status
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            if started >= measure_from:
                tally.error(type(exc).__name__, str(exc))
            await asyncio.sleep(0.01)
            continue
        elapsed = clock() - started
        if started < measure_from:
            continue
        if status != 200:
            tally.error(str(status), body.decode(errors="replace"))
        elif len(body) != page.size:
            tally.error("200 of another size", f"{len(body)} bytes, not {page.size}")
        else:
            tally.latencies.append(elapsed)


async def measure(
    session: aiohttp.ClientSession, page: Page, server_pid: int, args: argparse.Namespace
) -> Measurement:
    tally = common.Tally()
    measure_from = time.perf_counter() + args.warmup
    stop_at = measure_from + args.seconds
    tasks = [
        asyncio.create_task(client(session, page, measure_from, stop_at, tally))
        for _ in range(args.clients)
    ]
    start, end = await common.measure_tasks(tasks, server_pid, measure_from, stop_at)
    return Measurement(
        page,
        args.seconds,
        tally,
        server_cpu=end.server - start.server,
        client_cpu=end.client - start.client,
        other_cpu=(end.host_busy - start.host_busy)
        - (end.server - start.server)
        - (end.client - start.client),
    )


def client_session(clients: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def status_pages(base: str, order: SeededOrder, secret_key: str) -> tuple[Page, Page]:
    """The owner's and the public page, checked to be what they claim to be."""
    url = f"{base}{order.path}"
    cookie = f"{OWNER_COOKIE}={Signer(secret_key).owner_value(order.order_id)}"
    owner_headers = BROWSER_HEADERS | {"Cookie": cookie}
    async with client_session(1) as session:
        owner_status, owner_body = await fetch_page(session, url, owner_headers)
        public_status, public_body = await fetch_page(session, url, BROWSER_HEADERS)
        again_status, again_body = await fetch_page(session, url, owner_headers)
    if owner_status != 200 or public_status != 200 or again_status != 200:
        raise common.BenchError(f"GET {url}: {owner_status} (owner), {public_status} (public)")
    if len(again_body) != len(owner_body):
        raise common.BenchError(
            f"the owner page changes size: {len(owner_body)}, {len(again_body)}"
        )
    owner_text, public_text = owner_body.decode(), public_body.decode()
    if ADDRESS_LINE not in owner_text or EMAIL not in owner_text:
        raise common.BenchError(
            "the page with the owner cookie does not show the address and e-mail"
        )
    if ADDRESS_LINE in public_text or EMAIL in public_text:
        raise common.BenchError("the page without cookies shows the address or e-mail")
    return (
        Page("owner", url, owner_headers, len(owner_body)),
        Page("public", url, dict(BROWSER_HEADERS), len(public_body)),
    )


async def static_page(base: str, size: int) -> Page:
    url = f"{base}{STATIC_PATH}"
    async with client_session(1) as session:
        status, body = await fetch_page(session, url, BROWSER_HEADERS)
    if status != 200 or len(body) != size:
        raise common.BenchError(f"GET {url}: {status}, {len(body)} bytes instead of {size}")
    return Page("static", url, dict(BROWSER_HEADERS), size)


# --- backends ----------------------------------------------------------------------------


async def bench_backend(backend: str, args: argparse.Namespace) -> list[Measurement]:
    workdir = Path(tempfile.mkdtemp(prefix=f"orderstatus-bench-{backend}-"))
    try:
        async with common.database_for(backend, workdir, args.pg_url) as database_url:
            port = common.free_port()
            secret_key = secrets.token_urlsafe(48)
            env = common.server_env(database_url, workdir, port, secret_key)
            api_key = await common.prepare_shop(env, workdir)
            async with serving(env, workdir, port, 0, args.log_level) as server:
                order = await seed_order(server.base, api_key)
                owner, public = await status_pages(server.base, order, secret_key)
            common.progress(backend, f"order set up: {order.path}, owner page {owner.size} bytes")
            async with serving(env, workdir, port, owner.size, args.log_level) as server:
                owner, public = await status_pages(server.base, order, secret_key)
                static = await static_page(server.base, owner.size)
                common.progress(backend, f"server pid {server.pid} on {server.base}")
                results = []
                async with client_session(args.clients) as session:
                    for page in (owner, public, static):
                        common.progress(
                            backend,
                            f"{page.name}: {args.warmup:g} s warm-up, {args.seconds:g} s measured",
                        )
                        results.append(await measure(session, page, server.pid, args))
                return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- report ------------------------------------------------------------------------------

MIN_RATE = 1500.0
MIN_SHARE = 0.25
MAX_P99_MS = 50.0

COLUMNS = (
    "page",
    "bytes",
    "requests/s",
    "p50 ms",
    "p99 ms",
    "% of static",
    "errors",
    "server cpu s",
    "server ms/req",
    "client cpu s",
    "other cpu s",
)


def errors_text(tally: common.Tally) -> str:
    if not tally.errors:
        return "0"
    return ", ".join(f"{kind}: {count}" for kind, count in tally.errors.most_common())


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def verdicts(results: Sequence[Measurement]) -> list[str]:
    static = next(m for m in results if m.page.name == "static")
    lines = []
    for m in results:
        if m.page.name == "static":
            continue
        share = m.rate / static.rate if static.rate else 0.0
        p99 = m.percentile_ms(99)
        checks = (
            (f"≥ {MIN_RATE:,.0f} requests/s", f"{m.rate:,.0f}", m.rate >= MIN_RATE),
            (f"≥ {MIN_SHARE:.0%} of static", f"{share:.0%}", share >= MIN_SHARE),
            (f"p99 < {MAX_P99_MS:g} ms", f"{p99:.1f} ms", p99 < MAX_P99_MS),
        )
        lines.append(
            f"  {m.page.name:7}"
            + "; ".join(f"{goal}: {got} {'met' if ok else 'NOT MET'}" for goal, got, ok in checks)
        )
    return lines


def report(backend: str, results: Sequence[Measurement], args: argparse.Namespace) -> str:
    static = next(m for m in results if m.page.name == "static")
    rows = [COLUMNS]
    for m in results:
        rows.append(
            (
                m.page.name,
                f"{m.page.size:,}",
                f"{m.rate:,.0f}",
                f"{m.percentile_ms(50):.1f}",
                f"{m.percentile_ms(99):.1f}",
                f"{m.rate / static.rate:.0%}" if static.rate else "-",
                errors_text(m.tally),
                f"{m.server_cpu:.1f}",
                f"{m.server_cpu * 1000 / ok:.2f}" if (ok := len(m.tally.latencies)) else "-",
                f"{m.client_cpu:.1f}",
                f"{m.other_cpu:.1f}",
            )
        )
    lines = [
        f"{backend}: GET /orders/{{token}} vs a static page, {args.clients} clients, "
        f"one server process, {args.seconds:g} s per page",
        table(rows),
        "cpu s: CPU seconds in the measured time of the server process (all its threads), "
        "this client process, and the rest of the machine (the database, the kernel, anything "
        f"else running) on {os.cpu_count()} cores; server ms/req: server CPU per answered page",
    ]
    for m in results:
        for kind, count in m.tally.errors.most_common():
            lines.append(f"{m.page.name} {kind}: {count}, e.g. {m.tally.samples[kind]}")
    heading = "targets" if backend == "sqlite" else "targets (set for SQLite; for reference)"
    lines.append(f"{heading}:")
    lines.extend(verdicts(results))
    return "\n".join(lines)


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = common.arguments(__doc__, seconds=15.0, per=" per page")
    parser.add_argument(
        "--log-level",
        choices=("warning", "info"),
        default="warning",
        help="the server's log level; info logs every request, as `orderstatus serve` does",
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        results = await bench_backend(backend, args)
        print(report(backend, results, args), end="\n\n", flush=True)


if __name__ == "__main__":
    common.run(main(parse_args()))

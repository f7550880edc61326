"""Tracking-event ingest benchmark: events accepted per second and latency, over real HTTP.

Starts one ``orderstatus serve`` process per backend on a fresh database, creates orders
with one fulfilment each (not measured), then lets concurrent clients post tracking events
to ``POST /api/v1/fulfillments/{id}/events`` for a fixed time after a short warm-up, and
prints a table: events accepted, events/s, p50/p99 latency and non-2xx answers by status.
It also prints the CPU time the server process, this client process and the rest of the
machine (the database, the kernel and anything else running) used during the measured
phase, to show which one is the bottleneck.

Each client picks fulfilments at random, so concurrent events mostly hit different orders.
Every fulfilment follows a carrier's journey (label, pick-up, a run of in-transit scans, out
for delivery, delivered) with increasing carrier times and unique external ids, starting at
a random point of it; a fulfilment that reaches the end starts the journey again.

Run it from the project folder (it is not part of the test suite)::

    .venv/bin/python bench/ingest.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/ingest.py --backend postgresql --seconds 30 --clients 64

PostgreSQL and clean-up: as every benchmark here (see ``_common``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from yarl import URL

import _common as common

REQUEST_TIMEOUT = 60.0
SETUP_CONCURRENCY = 16

CARRIER_STEP = timedelta(minutes=7)
"""Carrier time between two events of one fulfilment; the first is ~30 days ago."""
CARRIER_START = timedelta(days=30)

JOURNEY: tuple[str, ...] = (
    "label_purchased",
    "carrier_picked_up",
    *("in_transit",) * 11,
    "out_for_delivery",
    "delivered",
)
MESSAGES: dict[str, str] = {
    "label_purchased": "Shipping label created",
    "carrier_picked_up": "Picked up by the carrier",
    "in_transit": "Arrived at sorting facility",
    "out_for_delivery": "Out for delivery",
    "delivered": "Delivered to the recipient",
}

# --- CPU accounting ----------------------------------------------------------------------


# --- load --------------------------------------------------------------------------------


@dataclass(slots=True)
class Shipment:
    """One fulfilment as the clients see it: where it is on its journey."""

    url: URL
    step: int
    sent: int = 0


@dataclass(slots=True)
class Tally(common.Tally):
    accepted: int = 0
    repeats: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    clients: int
    seconds: float
    tally: Tally
    cpu_start: common.CpuSample
    cpu_end: common.CpuSample


def event_maker(run_id: str) -> Callable[[Shipment], bytes]:
    """A function that makes the next event body of a shipment (a carrier's scan)."""
    start = datetime.now(UTC).replace(microsecond=0) - CARRIER_START
    templates = {
        status: json.dumps(
            {
                "status": status,
                "occurred_at": "@AT@",
                "message": message,
                "location": {"city": "@CITY@", "country_code": "@CC@"},
                "external_id": "@ID@",
            }
        )
        .replace("%", "%%")
        .replace('"@AT@"', '"%s"')
        .replace('"@CITY@"', '"%s"')
        .replace('"@CC@"', '"%s"')
        .replace('"@ID@"', '"%s"')
        for status, message in MESSAGES.items()
    }
    counter = 0

    def make(shipment: Shipment) -> bytes:
        nonlocal counter
        counter += 1
        status = JOURNEY[shipment.step % len(JOURNEY)]
        shipment.step += 1
        at = (start + CARRIER_STEP * shipment.sent).isoformat()
        shipment.sent += 1
        city, country = common.TOWNS[counter % len(common.TOWNS)]
        return (templates[status] % (at, city, country, f"{run_id}-{counter}")).encode()

    return make


async def client(
    session: aiohttp.ClientSession,
    shipments: list[Shipment],
    make_event: Callable[[Shipment], bytes],
    headers: dict[str, str],
    measure_from: float,
    stop_at: float,
    tally: Tally,
) -> None:
    """Post events until ``stop_at``; count those started after ``measure_from``."""
    clock = time.perf_counter
    choose = random.Random(secrets.randbits(64)).choice
    while (started := clock()) < stop_at:
        shipment = choose(shipments)
        body = make_event(shipment)
        status = 0
        text = ""
        try:
            async with session.post(shipment.url, data=body, headers=headers) as resp:
                status = resp.status
                payload = await resp.read()
                if status >= 300:
                    text = payload.decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            if started >= measure_from:
                tally.error(type(exc).__name__, str(exc))
            continue
        if started < measure_from:
            continue
        if 200 <= status < 300:
            tally.accepted += 1
            tally.repeats += status == 200
            tally.latencies.append(clock() - started)
        else:
            tally.error(str(status), text)


async def create_shipments(base: str, api_key: str, count: int) -> list[Shipment]:
    """``count`` orders with one fulfilment each, each at a random point of its journey."""
    rng = random.Random(secrets.randbits(64))
    seeded = await common.seed_orders(
        base, api_key, count, lambda n: f"1Z999AA1{n:010d}", concurrency=SETUP_CONCURRENCY
    )
    return [
        Shipment(
            URL(f"{base}/api/v1/fulfillments/{order.fulfillment_id}/events"),
            step=rng.randrange(len(JOURNEY)),
        )
        for order in seeded
    ]


async def drive(
    backend: str, base: str, api_key: str, server_pid: int, args: argparse.Namespace
) -> Result:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    started = time.perf_counter()
    shipments = await create_shipments(base, api_key, args.orders)
    common.progress(
        backend,
        f"set up {len(shipments)} orders with a fulfilment each "
        f"in {time.perf_counter() - started:.1f} s; warming up for {args.warmup:g} s",
    )
    connector = aiohttp.TCPConnector(limit=args.clients, limit_per_host=args.clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        make_event = event_maker(secrets.token_hex(4))
        tally = Tally()
        measure_from = time.perf_counter() + args.warmup
        stop_at = measure_from + args.seconds
        tasks = [
            asyncio.create_task(
                client(session, shipments, make_event, headers, measure_from, stop_at, tally)
            )
            for _ in range(args.clients)
        ]
        cpu_start, cpu_end = await common.measure_tasks(tasks, server_pid, measure_from, stop_at)
    return Result(backend, args.clients, cpu_end.wall - cpu_start.wall, tally, cpu_start, cpu_end)


# --- backends ----------------------------------------------------------------------------


async def bench_backend(backend: str, args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"orderstatus-bench-{backend}-"))
    try:
        async with common.database_for(backend, workdir, args.pg_url) as database_url:
            port = common.free_port()
            env = common.server_env(database_url, workdir, port)
            api_key = await common.prepare_shop(env, workdir)
            async with common.running_server(env, workdir, port) as server:
                return await drive(backend, server.base, api_key, server.pid, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- report ------------------------------------------------------------------------------

COLUMNS = ("backend", "clients", "seconds", "accepted", "events/s", "p50 ms", "p99 ms", "errors")
WIDTHS = (10, 7, 7, 9, 9, 7, 7, 6)


def row(values: Sequence[str]) -> str:
    return "  ".join(
        v.ljust(w) if i == 0 else v.rjust(w)
        for i, (v, w) in enumerate(zip(values, WIDTHS, strict=True))
    )


def percentile_ms(values: list[float], pct: int) -> str:
    return f"{common.percentile(values, pct) * 1000:.1f}" if len(values) >= 2 else "-"


def report(result: Result) -> str:
    t = result.tally
    lines = [
        row(COLUMNS),
        row(
            (
                result.backend,
                str(result.clients),
                f"{result.seconds:.1f}",
                str(t.accepted),
                f"{t.accepted / result.seconds:.0f}",
                percentile_ms(t.latencies, 50),
                percentile_ms(t.latencies, 99),
                str(sum(t.errors.values())),
            )
        ),
    ]
    start, end = result.cpu_start, result.cpu_end
    server = end.server - start.server
    client_cpu = end.client - start.client
    busy = end.host_busy - start.host_busy
    cores = os.cpu_count() or 1
    lines.append(
        f"CPU in the measured phase: server {server:.1f} s ({server / result.seconds:.0%} of a "
        f"core), client {client_cpu:.1f} s ({client_cpu / result.seconds:.0%}), rest of host "
        f"{busy - server - client_cpu:.1f} s; host busy {busy / (result.seconds * cores):.0%} "
        f"of {cores:.0f} cores"
    )
    if t.repeats:
        lines.append(f"repeats answered 200 (counted as accepted): {t.repeats}")
    for kind, count in t.errors.most_common():
        lines.append(f"errors {kind}: {count}  e.g. {t.samples[kind]}")
    return "\n".join(lines)


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = common.arguments(__doc__)
    parser.add_argument("--orders", type=common.positive(int), default=500, help="orders to set up")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        result = await bench_backend(backend, args)
        print(report(result), end="\n\n", flush=True)


if __name__ == "__main__":
    common.run(main(parse_args()))

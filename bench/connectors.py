"""WooCommerce ``order.updated`` webhooks: deliveries/s and latency through
``POST /connect/woocommerce/{shop handle}`` against ONE ``orderstatus serve`` process.

Starts one ``orderstatus serve`` process on a fresh database (PostgreSQL by default), adds a
shop and its WooCommerce connection (``orderstatus create-connection``, which prints the
URL and the secret), and places ``--orders`` orders with one ``order.created`` delivery
each (the REST API v3 order of ``tests/connectors/fixtures/woocommerce_order.json`` with
its own id). None of that is measured.

Then ``--clients`` concurrent clients send ``order.updated`` deliveries for
``--warmup`` + ``--seconds``: each picks an order no other client is sending for and sends
its next version, as WooCommerce does when the order is saved: the whole order with a
later ``date_modified_gmt``, the billing phone changed every other time (so every
delivery is applied and half change what the customer's page shows), signed with
``X-WC-Webhook-Signature`` (base64 HMAC-SHA256 of the body) and a new
``X-WC-Webhook-Delivery-ID``.

Prints deliveries/s, p50/p99 latency, the results (``applied``, ``unchanged``, ...),
errors by status code, the CPU seconds of the server process, this client and the rest
of the machine, and whether the target (at least 500 deliveries/s on PostgreSQL) is met.

    .venv/bin/python bench/connectors.py                    # PostgreSQL, 32 clients, 20 s
    .venv/bin/python bench/connectors.py --backend sqlite --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

import _common as common

TAG = "connectors"
HANDLE = "bench"
PLATFORM = "woocommerce"
TARGET_RATE = 500.0
REQUEST_TIMEOUT = 60.0
SETUP_CONCURRENCY = 16
FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "connectors"
    / "fixtures"
    / "woocommerce_order.json"
)
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class ShopOrder:
    id: int
    version: int = 0


class Signer:
    def __init__(self, secret: str) -> None:
        self.key = secret.encode()
        self.template: dict[str, Any] = json.loads(FIXTURE.read_text())

    def request(self, topic: str, order: ShopOrder) -> tuple[bytes, dict[str, str]]:
        data = copy.deepcopy(self.template)
        data["id"] = order.id
        data["number"] = str(order.id)
        modified = START + timedelta(seconds=order.version)
        data["date_modified_gmt"] = modified.strftime("%Y-%m-%dT%H:%M:%S")
        data["billing"]["phone"] = "+47 912 34 567" if order.version % 2 else "+47 913 00 000"
        body = json.dumps(data).encode()
        signature = base64.b64encode(hmac.new(self.key, body, hashlib.sha256).digest()).decode()
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/8.4.0 Hookshot (WordPress/6.4)",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": "1",
            "X-WC-Webhook-Delivery-ID": secrets.token_hex(8),
        }


@dataclass(slots=True)
class Tally(common.Tally):
    answered: int = 0
    results: Counter[str] = field(default_factory=Counter)


async def send(
    session: aiohttp.ClientSession, url: str, signer: Signer, topic: str, order: ShopOrder
) -> tuple[int, bytes]:
    body, headers = signer.request(topic, order)
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.read()


async def client(
    session: aiohttp.ClientSession,
    url: str,
    signer: Signer,
    free: list[ShopOrder],
    rng: random.Random,
    measure_from: float,
    stop_at: float,
    tally: Tally,
) -> None:
    clock = time.perf_counter
    while (started := clock()) < stop_at:
        if not free:
            await asyncio.sleep(0.001)
            continue
        i = rng.randrange(len(free))
        free[i], free[-1] = free[-1], free[i]
        order = free.pop()
        order.version += 1
        measured = started >= measure_from
        try:
            status, payload = await send(session, url, signer, "order.updated", order)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if measured:
                tally.error(type(exc).__name__, str(exc))
            continue
        finally:
            free.append(order)
        if not measured:
            continue
        if status != 200:
            tally.error(str(status), payload.decode(errors="replace"))
            continue
        tally.answered += 1
        tally.results[json.loads(payload)["result"]] += 1
        tally.latencies.append(clock() - started)


async def place(
    session: aiohttp.ClientSession, url: str, signer: Signer, orders: Sequence[ShopOrder]
) -> None:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(order: ShopOrder) -> None:
        async with gate:
            status, payload = await send(session, url, signer, "order.created", order)
        if status != 200 or json.loads(payload)["result"] != "applied":
            raise common.BenchError(f"placing {order.id}: {status} {payload[:300]!r}")

    await asyncio.gather(*(one(o) for o in orders))


@dataclass(frozen=True, slots=True)
class Result:
    seconds: float
    tally: Tally
    start: common.CpuSample
    end: common.CpuSample


async def drive(base: str, url: str, secret: str, pid: int, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    orders = [ShopOrder(10_000 + n) for n in range(args.orders)]
    signer = Signer(secret)
    connector = aiohttp.TCPConnector(limit=max(args.clients, SETUP_CONCURRENCY))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await place(session, url, signer, orders)
        common.progress(
            TAG,
            f"{len(orders)} orders placed in {time.perf_counter() - started:.1f} s; "
            "waiting for the server to settle",
        )
        await common.wait_settled(pid)
        common.progress(
            TAG, f"{args.clients} clients: {args.warmup:g} s warm-up, {args.seconds:g} s"
        )
        tally = Tally()
        rng = random.Random(secrets.randbits(64))
        free = list(orders)
        measure_from = time.perf_counter() + args.warmup
        stop_at = measure_from + args.seconds
        tasks = [
            asyncio.create_task(
                client(session, url, signer, free, rng, measure_from, stop_at, tally)
            )
            for _ in range(args.clients)
        ]
        start, end = await common.measure_tasks(tasks, pid, measure_from, stop_at)
    return Result(end.wall - start.wall, tally, start, end)


def report(result: Result, args: argparse.Namespace) -> str:
    t, seconds = result.tally, result.seconds
    latencies_ms = [x * 1000 for x in t.latencies]
    rate = t.answered / seconds if seconds else 0.0
    errors = ", ".join(f"{kind}: {n}" for kind, n in t.errors.most_common()) or "none"
    results = ", ".join(f"{kind} {n:,}" for kind, n in t.results.most_common()) or "none"
    server_cpu = result.end.server - result.start.server
    client_cpu = result.end.client - result.start.client
    host_cpu = result.end.host_busy - result.start.host_busy
    lines = [
        f"WooCommerce order.updated (POST /connect/{PLATFORM}/{{handle}}) on one "
        f"`orderstatus serve` process ({args.backend}), {args.clients} clients, "
        f"{args.orders:,} orders, {seconds:.1f} s measured, {os.cpu_count()} cores",
        f"  deliveries/s       {rate:,.1f} ({t.answered:,} answered 200)",
        f"  latency            p50 {common.percentile(latencies_ms, 50):.1f} ms, "
        f"p99 {common.percentile(latencies_ms, 99):.1f} ms",
        f"  results            {results}",
        f"  errors             {sum(t.errors.values())} ({errors})",
        f"  CPU s              server {server_cpu:.1f} ({server_cpu / seconds:.0%} of a core), "
        f"this client {client_cpu:.1f}, rest of host {host_cpu - server_cpu - client_cpu:.1f}",
    ]
    for kind, count in t.errors.most_common():
        lines.append(f"  error {kind}: {count}, e.g. {t.samples[kind]}")
    heading = "target" if args.backend == "postgresql" else "target (set for PostgreSQL)"
    lines.append(
        f"{heading}: ≥ {TARGET_RATE:g} deliveries/s: {rate:,.1f}: "
        + ("met" if rate >= TARGET_RATE and not t.errors else "NOT MET")
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = common.arguments(__doc__, backend="postgresql")
    parser.add_argument(
        "--orders", type=common.positive(int), default=2_000, help="orders to place first"
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="orderstatus-bench-connectors-"))
    try:
        async with common.database_for(args.backend, workdir, args.pg_url) as database_url:
            port = common.free_port()
            env = common.server_env(database_url, workdir, port)
            await common.prepare_shop(env, workdir, HANDLE)
            made = await common.run_cli(
                ["create-connection", "--shop", HANDLE, "--platform", PLATFORM], env, workdir
            )
            printed = dict(line.split(": ", 1) for line in made.splitlines())
            async with common.running_server(env, workdir, port) as server:
                common.progress(TAG, f"server pid {server.pid} on {server.base}")
                result = await drive(
                    server.base, printed["url"], printed["secret"], server.pid, args
                )
        print(report(result, args), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    common.run(main(parse_args()))

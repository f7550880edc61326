"""EasyPost tracking webhooks: webhooks/s and latency through
``POST /webhooks/easypost/{shop handle}`` against ONE ``orderstatus serve`` process.

Starts one ``orderstatus serve`` process on a fresh database (PostgreSQL by default), adds a
shop and its ``easypost`` webhook secret (``services.webhooks.set_webhook_secret`` in this
process, before the server starts), creates ``--orders`` orders with one fulfilment each and
a unique tracking number through the REST API, then primes every tracker with one webhook
carrying its history up to a random point among the first six steps of a 12-step journey
(label, pick-up, scans, a delay, out for delivery, a failed attempt, delivered). None of
that is measured.

Then ``--clients`` concurrent clients send webhooks for ``--warmup`` + ``--seconds``: each
picks a tracker no other client is sending for, moves it one step on and sends the
``tracker.updated`` Event as EasyPost does — the tracker with its WHOLE history so far
(``tests/carriers/samples.py``'s ``easypost()`` builds the body), signed with
``X-Hmac-Signature: hmac-sha256-hex=<HMAC-SHA256(secret, raw body)>``. So every webhook
carries one new tracking detail and repeats the ones before it. A tracker that reaches the
end of the journey is not sent again.

Prints webhooks/s, p50/p99 latency (measured by the client), the tracking details per
webhook, the new events accepted, duplicates and unmatched numbers (summed from the JSON
answers ``{"accepted", "duplicates", "unmatched"}``), errors by status code, the CPU seconds
of the server process, this client and the rest of the machine (the database, the kernel)
in the measured time, and whether the target (at least 800 webhooks/s on PostgreSQL) is met.

Run it from the project folder (it is not part of the test suite)::

    .venv/bin/python bench/webhooks.py                    # PostgreSQL, 32 clients, 20 s
    .venv/bin/python bench/webhooks.py --backend sqlite --seconds 30 --clients 64

PostgreSQL and clean-up: as every benchmark here (see ``_common``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib.util
import json
import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import aiohttp

import _common as common

TAG = "webhooks"
HANDLE = "bench"
SOURCE = "easypost"
SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="
REQUEST_TIMEOUT = 60.0
SETUP_CONCURRENCY = 16
TARGET_RATE = 800.0
PRIMED_UP_TO = 6
"""A tracker starts the measured common.run with 1 to this many details already sent."""
SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "carriers" / "samples.py"

Step = tuple[str, float, str | None, str | None]
"""(our status, hours after the samples' start, city, country), as samples.py takes it."""

JOURNEY: tuple[Step, ...] = (
    ("label_purchased", 0, None, None),
    ("carrier_picked_up", 6, "Oslo", "NO"),
    ("in_transit", 9, "Oslo", "NO"),
    ("in_transit", 14, "Gardermoen", "NO"),
    ("in_transit", 22, "Trondheim", "NO"),
    ("delayed", 30, "Trondheim", "NO"),
    ("in_transit", 38, "Trondheim", "NO"),
    ("in_transit", 47, "Bergen", "NO"),
    ("out_for_delivery", 52, "Bergen", "NO"),
    ("attempted_delivery", 57, "Bergen", "NO"),
    ("out_for_delivery", 76, "Bergen", "NO"),
    ("delivered", 80, "Bergen", "NO"),
)


def load_samples() -> ModuleType:
    """tests/carriers/samples.py on its own (it needs nothing but the standard library)."""
    spec = importlib.util.spec_from_file_location("orderstatus_bench_samples", SAMPLES)
    if spec is None or spec.loader is None:
        raise common.BenchError(f"cannot load {SAMPLES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(slots=True)
class Tracker:
    number: str
    sent: int
    """Tracking details the server has been sent so far."""


class Pool:
    """Trackers free to be sent for: taken while a webhook for one is in flight."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.free = trackers
        self.rng = random.Random(secrets.randbits(64))

    def take(self) -> Tracker | None:
        if not self.free:
            return None
        i = self.rng.randrange(len(self.free))
        self.free[i], self.free[-1] = self.free[-1], self.free[i]
        return self.free.pop()

    def give_back(self, tracker: Tracker) -> None:
        if tracker.sent < len(JOURNEY):
            self.free.append(tracker)


class Signer:
    """Bodies as EasyPost sends them, signed with the shop's secret."""

    def __init__(self, secret: str) -> None:
        self.key = secret.encode()
        builder: Callable[[str, list[Step]], bytes] = load_samples().easypost
        self.build = builder

    def request(self, tracker: Tracker) -> tuple[bytes, dict[str, str]]:
        body = self.build(tracker.number, list(JOURNEY[: tracker.sent]))
        digest = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        return body, {
            SIGNATURE_HEADER: SIGNATURE_PREFIX + digest,
            "Content-Type": "application/json",
            "User-Agent": "EasyPost WebHook Agent 1.0",
        }


@dataclass(slots=True)
class Tally(common.Tally):
    answered: int = 0
    accepted: int = 0
    duplicates: int = 0
    unmatched: int = 0
    details: int = 0


async def send(
    session: aiohttp.ClientSession, url: str, signer: Signer, tracker: Tracker
) -> tuple[int, bytes]:
    body, headers = signer.request(tracker)
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.read()


async def client(
    session: aiohttp.ClientSession,
    url: str,
    signer: Signer,
    pool: Pool,
    measure_from: float,
    stop_at: float,
    tally: Tally,
) -> None:
    """Send webhooks until ``stop_at``; count those started after ``measure_from``."""
    clock = time.perf_counter
    while (started := clock()) < stop_at:
        tracker = pool.take()
        if tracker is None:
            return  # every tracker has reached the end of its journey
        tracker.sent += 1
        measured = started >= measure_from
        try:
            status, payload = await send(session, url, signer, tracker)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if measured:
                tally.error(type(exc).__name__, str(exc))
            continue
        finally:
            pool.give_back(tracker)
        if not measured:
            continue
        if status != 200:
            tally.error(str(status), payload.decode(errors="replace"))
            continue
        answer = json.loads(payload)
        tally.answered += 1
        tally.details += tracker.sent
        tally.accepted += int(answer["accepted"])
        tally.duplicates += int(answer["duplicates"])
        tally.unmatched += len(answer["unmatched"])
        tally.latencies.append(clock() - started)


async def set_secret(env: dict[str, str], secret: str) -> None:
    """The shop's ``easypost`` webhook secret, written straight to the database."""
    from orderstatus.config import Settings
    from orderstatus.db.engine import Database
    from orderstatus.services.orders import get_shop
    from orderstatus.services.webhooks import set_webhook_secret

    database = Database(Settings.from_env(env).database_url)
    try:
        async with database.write() as session:
            shop = await get_shop(session, HANDLE)
            await set_webhook_secret(session, shop_id=shop.id, source=SOURCE, secret=secret)
    finally:
        await database.dispose()


async def prime(
    session: aiohttp.ClientSession, url: str, signer: Signer, trackers: Sequence[Tracker]
) -> None:
    """One webhook per tracker with its history up to where it starts."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(tracker: Tracker) -> None:
        async with gate:
            status, payload = await send(session, url, signer, tracker)
        answer = json.loads(payload) if status == 200 else {}
        if answer.get("accepted") != tracker.sent:
            raise common.BenchError(
                f"priming {tracker.number}: {status} {payload.decode(errors='replace')[:300]}"
            )

    await asyncio.gather(*(one(t) for t in trackers))


@dataclass(frozen=True, slots=True)
class Result:
    seconds: float
    tally: Tally
    dry: bool
    server_cpu: float
    client_cpu: float
    database_cpu: float
    """All "postgres" processes on the machine (other databases' too); 0 on SQLite."""
    host_cpu: float


async def drive(base: str, api_key: str, secret: str, pid: int, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    orders = await common.seed_orders(
        base, api_key, args.orders, lambda n: f"1Z999AA1{n:010d}", concurrency=SETUP_CONCURRENCY
    )
    rng = random.Random(secrets.randbits(64))
    trackers = [Tracker(o.tracking_number, rng.randint(1, PRIMED_UP_TO)) for o in orders]
    signer = Signer(secret)
    url = f"{base}/webhooks/{SOURCE}/{HANDLE}"
    connector = aiohttp.TCPConnector(limit=max(args.clients, SETUP_CONCURRENCY))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await prime(session, url, signer, trackers)
        common.progress(
            TAG,
            f"{len(orders)} orders with a fulfilment and a primed tracker in "
            f"{time.perf_counter() - started:.1f} s; waiting for the server to settle",
        )
        await common.wait_settled(pid)
        common.progress(
            TAG, f"{args.clients} clients: {args.warmup:g} s warm-up, {args.seconds:g} s"
        )
        pool = Pool(trackers)
        tally = Tally()
        measure_from = time.perf_counter() + args.warmup
        stop_at = measure_from + args.seconds
        tasks = [
            asyncio.create_task(client(session, url, signer, pool, measure_from, stop_at, tally))
            for _ in range(args.clients)
        ]
        try:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu = (common.process_cpu_seconds(pid), time.process_time(), common.host_busy_seconds())
            database_cpu = common.command_cpu_seconds("postgres")
            wall = time.perf_counter()
            done, _ = await asyncio.wait(tasks, timeout=max(0.0, stop_at - wall))
            end = time.perf_counter()
            server_cpu = common.process_cpu_seconds(pid) - cpu[0]
            client_cpu = time.process_time() - cpu[1]
            host_cpu = common.host_busy_seconds() - cpu[2]
            database = common.cpu_growth(database_cpu, common.command_cpu_seconds("postgres"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    dry = len(done) == len(tasks) and end < stop_at - 0.1
    return Result(end - wall, tally, dry, server_cpu, client_cpu, database, host_cpu)


def report(result: Result, args: argparse.Namespace) -> str:
    t, seconds = result.tally, result.seconds
    latencies_ms = [x * 1000 for x in t.latencies]
    rate = t.answered / seconds if seconds else 0.0
    errors = ", ".join(f"{kind}: {n}" for kind, n in t.errors.most_common()) or "none"
    lines = [
        f"EasyPost webhooks (POST /webhooks/{SOURCE}/{{handle}}) on one `orderstatus serve` "
        f"process ({args.backend}), {args.clients} clients, {seconds:.1f} s measured, "
        f"{os.cpu_count()} cores",
        f"  webhooks/s         {rate:,.1f} ({t.answered:,} answered 200)",
        f"  latency            p50 {common.percentile(latencies_ms, 50):.1f} ms, "
        f"p99 {common.percentile(latencies_ms, 99):.1f} ms",
        f"  details a webhook  {t.details / max(1, t.answered):.1f} on average "
        f"(the whole history; one of them new)",
        f"  new events         accepted {t.accepted:,} (expected {t.answered:,}: one a webhook), "
        f"duplicates {t.duplicates:,}, unmatched {t.unmatched:,}",
        f"  errors             {sum(t.errors.values())} ({errors})",
        f"  CPU s              server {result.server_cpu:.1f} ({result.server_cpu / seconds:.0%} "
        f"of a core), this client {result.client_cpu:.1f}, PostgreSQL processes "
        f"{result.database_cpu:.1f}, rest of host (kernel, anything else running) "
        f"{result.host_cpu - result.server_cpu - result.client_cpu - result.database_cpu:.1f}",
    ]
    if result.dry:
        lines.append("  every tracker reached the end of its journey early: use more --orders")
    for kind, count in t.errors.most_common():
        lines.append(f"  error {kind}: {count}, e.g. {t.samples[kind]}")
    heading = "target" if args.backend == "postgresql" else "target (set for PostgreSQL)"
    lines.append(
        f"{heading}: ≥ {TARGET_RATE:g} webhooks/s: {rate:,.1f}: "
        + ("met" if rate >= TARGET_RATE and not t.errors else "NOT MET")
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = common.arguments(__doc__, backend="postgresql")
    parser.add_argument(
        "--orders",
        type=common.positive(int),
        default=6_000,
        help="orders (trackers) to set up; each takes 6 to 11 webhooks before it is delivered",
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="orderstatus-bench-webhooks-"))
    try:
        async with common.database_for(args.backend, workdir, args.pg_url) as database_url:
            port = common.free_port()
            env = common.server_env(database_url, workdir, port)
            api_key = await common.prepare_shop(env, workdir, HANDLE)
            secret = secrets.token_urlsafe(32)
            await set_secret(env, secret)
            async with common.running_server(env, workdir, port) as server:
                common.progress(TAG, f"server pid {server.pid} on {server.base}")
                result = await drive(server.base, api_key, secret, server.pid, args)
        print(report(result, args), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    common.run(main(parse_args()))

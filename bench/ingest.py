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

PostgreSQL: a database ``orderstatus_bench_<random>`` is created through ``--pg-url`` and
dropped at the end. The server, the temporary folder and the database are cleaned up on
errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from yarl import URL

ORDERSTATUS = Path(sys.executable).with_name("orderstatus")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1/test"
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0
SETUP_CONCURRENCY = 16
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

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
TOWNS: tuple[tuple[str, str], ...] = (
    ("Oslo", "NO"),
    ("Drammen", "NO"),
    ("Gardermoen", "NO"),
    ("Trondheim", "NO"),
    ("Bergen", "NO"),
    ("Malmo", "SE"),
    ("Copenhagen", "DK"),
)
MESSAGES: dict[str, str] = {
    "label_purchased": "Shipping label created",
    "carrier_picked_up": "Picked up by the carrier",
    "in_transit": "Arrived at sorting facility",
    "out_for_delivery": "Out for delivery",
    "delivered": "Delivered to the recipient",
}

ORDER_BODY: dict[str, Any] = {
    "email": "bench@example.com",
    "currency": "NOK",
    "customer": {"first_name": "Bench", "last_name": "Mark"},
    "shipping_address": {
        "name": "Bench Mark",
        "address1": "Street 1",
        "city": "Oslo",
        "zip": "0150",
        "country_code": "NO",
    },
    "payment": {"method": "card"},
    "line_items": [{"title": "Mug", "quantity": 1, "price": "10.00"}],
}


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --- processes ---------------------------------------------------------------------------


def server_env(database_url: str, workdir: Path, port: int) -> dict[str, str]:
    """This environment without other ORDERSTATUS_* settings, plus the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    env |= {
        "ORDERSTATUS_DATABASE_URL": database_url,
        "ORDERSTATUS_SECRET_KEY": secrets.token_urlsafe(48),
        "ORDERSTATUS_BASE_URL": f"http://127.0.0.1:{port}",
        "ORDERSTATUS_VAR_DIR": str(workdir / "var"),
    }
    return env


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it lingers."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), SERVER_STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run an ``orderstatus`` command to the end; its stdout, or BenchError with stderr."""
    proc = await asyncio.create_subprocess_exec(
        ORDERSTATUS,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await proc.communicate()
    finally:
        await stop_process(proc)
    if proc.returncode != 0:
        raise BenchError(f"orderstatus {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def running_server(
    env: dict[str, str], cwd: Path, port: int, log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One ``orderstatus serve`` process, answering /healthz, stopped on the way out."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            ORDERSTATUS,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await wait_healthy(proc, port, log_path)
            yield proc
        except BenchError as exc:
            raise BenchError(f"{exc}\nthe end of the server's log:\n{tail(log_path)}") from None
        finally:
            await stop_process(proc)


async def wait_healthy(proc: asyncio.subprocess.Process, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BenchError(f"the server did not become healthy on port {port}")


def tail(path: Path, size: int = 2000) -> str:
    return path.read_text(errors="replace")[-size:]


# --- CPU accounting ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpuSample:
    wall: float
    server: float
    client: float
    host_busy: float
    host_total: float


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def host_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(ticks[:8])
    idle = ticks[3] + ticks[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def sample_cpu(server_pid: int) -> CpuSample:
    busy, total = host_cpu_seconds()
    return CpuSample(
        time.perf_counter(), process_cpu_seconds(server_pid), time.process_time(), busy, total
    )


# --- load --------------------------------------------------------------------------------


@dataclass(slots=True)
class Shipment:
    """One fulfilment as the clients see it: where it is on its journey."""

    url: URL
    step: int
    sent: int = 0


@dataclass(slots=True)
class Tally:
    accepted: int = 0
    repeats: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, detail[:300])


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    clients: int
    seconds: float
    tally: Tally
    cpu_start: CpuSample
    cpu_end: CpuSample


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
        city, country = TOWNS[counter % len(TOWNS)]
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


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    async with session.post(url, json=body, headers=headers) as resp:
        payload = await resp.read()
        if resp.status != 201:
            raise BenchError(f"POST {url}: {resp.status} {payload.decode(errors='replace')}")
        answer: dict[str, Any] = json.loads(payload)
        return answer


async def create_shipments(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], count: int
) -> list[Shipment]:
    """``count`` orders with one fulfilment each, each at a random point of its journey."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    rng = random.Random(secrets.randbits(64))

    async def one(n: int) -> Shipment:
        async with gate:
            order = await post_json(
                session, f"{base}/api/v1/orders", ORDER_BODY | {"number": f"B{n:06d}"}, headers
            )
            fulfillment = await post_json(
                session,
                f"{base}/api/v1/orders/{order['id']}/fulfillments",
                {"carrier": "ups", "tracking_number": f"1Z999AA1{n:010d}"},
                headers,
            )
        return Shipment(
            URL(f"{base}/api/v1/fulfillments/{fulfillment['id']}/events"),
            step=rng.randrange(len(JOURNEY)),
        )

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def drive(
    backend: str, base: str, api_key: str, server_pid: int, args: argparse.Namespace
) -> Result:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=args.clients, limit_per_host=args.clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        shipments = await create_shipments(session, base, headers, args.orders)
        print(
            f"[{backend}] set up {len(shipments)} orders with a fulfilment each "
            f"in {time.perf_counter() - started:.1f} s; warming up for {args.warmup:g} s",
            file=sys.stderr,
        )
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
        try:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu_start = sample_cpu(server_pid)
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
            cpu_end = sample_cpu(server_pid)
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return Result(backend, args.clients, cpu_end.wall - cpu_start.wall, tally, cpu_start, cpu_end)


# --- backends ----------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for this run (its URL), dropped on the way out."""
    name = f"orderstatus_bench_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(admin_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot connect to {admin_url}: {exc}") from exc
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def database_for(backend: str, workdir: Path, pg_url: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
    else:
        async with postgres_database(pg_url) as url:
            yield url


async def bench_backend(backend: str, args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"orderstatus-bench-{backend}-"))
    try:
        async with database_for(backend, workdir, args.pg_url) as database_url:
            port = free_port()
            env = server_env(database_url, workdir, port)
            await run_cli(["migrate"], env, workdir)
            await run_cli(["create-shop", "--handle", "bench", "--currency", "NOK"], env, workdir)
            api_key = (await run_cli(["create-api-key", "--shop", "bench"], env, workdir)).strip()
            async with running_server(env, workdir, port, workdir / "server.log") as server:
                return await drive(backend, f"http://127.0.0.1:{port}", api_key, server.pid, args)
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
    if len(values) < 2:
        return "-"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[pct - 1] * 1000:.1f}"


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
    cores = (end.host_total - start.host_total) / result.seconds
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


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be more than 0")
        return value

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=positive(float), default=20.0, help="measured time")
    parser.add_argument("--clients", type=positive(int), default=32, help="concurrent clients")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server and a database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    parser.add_argument("--orders", type=positive(int), default=500, help="orders to set up")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    if not ORDERSTATUS.exists():
        raise BenchError(f"no {ORDERSTATUS}: run this with the project's .venv/bin/python")
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        result = await bench_backend(backend, args)
        print(report(result), end="\n\n", flush=True)


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed, as the server does, to keep client overhead low."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)


if __name__ == "__main__":
    try:
        run(main(parse_args()))
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:
        sys.exit(143)

"""Live status pages: many open event streams on ONE server process — its memory, and how
soon a tracking event reaches the open pages.

Starts one ``orderstatus serve`` process on a fresh database (PostgreSQL by default: ten
thousand open pages is a production load, and production runs on PostgreSQL), creates
``--orders`` orders with one fulfilment each through the REST API and gives each fulfilment
a first in-transit scan (not measured), then opens ``--streams`` Server-Sent Event streams
(``GET /orders/{token}/events?v=<version>``, as a rendered page does) spread evenly over the
orders; the first stream of each order carries the owner's cookie (the customer's own
page), the others are the public view. Streams are opened gradually (``--open-rate`` a
second, at most 512 being opened at once so that a server slower to accept than that slows
the opening down instead of overflowing its listen backlog) by ``--receivers`` client
processes, each holding its share of the connections on plain asyncio sockets (a small
HTTP/1.1 + chunked + SSE reader, far lighter than a full HTTP client per connection), so
that the client does not become the bottleneck.

With every stream open, the main process posts tracking events
(``POST /api/v1/fulfillments/{id}/events``) to random fulfilments at a steady rate
(``--rate`` a second) for ``--warmup`` + ``--seconds``. Every created event moves its
order's page version on by one, and only one event per order is in flight at a time, so
the poster knows the version each event produces. For each event posted in the measured
time and each stream of its order, the delay is the time from just before the POST was
sent to the moment that stream received an ``update`` whose ``id`` (version) is at least
the one the event produced (a burst of changes may arrive as one update). Times are
``time.time()``, shared by all processes on the machine.

Prints: streams, orders, how long opening took, the server's RSS (VmRSS from
/proc/<pid>/status) before opening, with all streams open and at its peak under load,
events/s offered and achieved, p50/p99/max delay, stream receipts received vs expected,
errors, CPU seconds of the server, the poster, the receivers and the rest of the machine
in the measured time, and whether the targets (10,000 streams with RSS < 1 GiB, p99 delay
< 100 ms) are met.

This process raises its soft RLIMIT_NOFILE to the hard limit; the server and the receiver
processes inherit it (the bench checks the server's limit in /proc/<pid>/limits).

Run it from the project folder (it is not part of the test suite)::

    .venv/bin/python bench/live.py                       # 10,000 streams, 1,000 orders
    .venv/bin/python bench/live.py --backend sqlite --streams 2000 --orders 200 --rate 100

PostgreSQL: a database ``orderstatus_bench_<random>`` is created through ``--pg-url`` and
dropped at the end. The server, the client processes, the temporary folder and the database
are cleaned up on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import aiohttp

from _common import (
    DEFAULT_PG_URL,
    MIB,
    TOWNS,
    BenchError,
    SeededOrder,
    Server,
    cancel_on_sigterm,
    database_for,
    free_port,
    host_busy_seconds,
    log_problems,
    open_files_limit,
    percentile,
    positive,
    prepare_shop,
    process_cpu_seconds,
    progress,
    raise_open_files_limit,
    rss_bytes,
    run,
    running_server,
    seed_orders,
    server_env,
    wait_settled,
)

TAG = "live"
OPEN_TIMEOUT = 30.0
MAX_PENDING_OPENS = 512
"""Streams being opened at once, over all receivers; well under uvicorn's listen backlog
(2048), so that a server slower to accept than ``--open-rate`` slows the opening down
instead of overflowing its accept queue (resets, time-outs)."""
POST_TIMEOUT = 30.0
MAX_POSTS_IN_FLIGHT = 256
RECEIVER_START_TIMEOUT = 60.0
SPARE_FILES = 512
"""Open files a process needs besides its stream sockets."""

TARGET_STREAMS = 10_000
TARGET_RSS = 1024 * MIB
TARGET_P99_MS = 100.0

ACCEPT_LANGUAGE = "en-GB,en;q=0.9"
CARRIER_START = timedelta(days=20)
"""Carrier time of the measured scans: from 20 days ago, a second apart (the set-up scan
is a day before); always in the past."""


# --- the receiving side (runs in the receiver processes) ---------------------------------


@dataclass(frozen=True, slots=True)
class StreamPlan:
    stream_id: int
    order: int
    """Index of the order (not its id)."""
    request: bytes
    """The whole HTTP request."""


@dataclass(slots=True)
class ReceiverTally:
    open_errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    lost: int = 0
    """Streams the server closed (or that failed) while we were listening."""
    pings: int = 0
    updates: int = 0
    backwards: int = 0
    """Updates whose version was not above the previous one on that stream."""

    def open_error(self, kind: str, detail: str) -> None:
        self.open_errors[kind] += 1
        self.samples.setdefault(kind, detail[:300])


class Stream(asyncio.Protocol):
    """One SSE stream: sends the request, reads the status line, decodes chunked transfer
    encoding and notes (version, time.time()) of every ``update`` message."""

    def __init__(self, plan: StreamPlan, tally: ReceiverTally) -> None:
        self.plan = plan
        self.tally = tally
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.records: list[tuple[int, float]] = []
        self.transport: asyncio.BaseTransport | None = None
        self.closing = False
        self._head = True
        self._chunked = False
        self._raw = bytearray()
        self._body = bytearray()
        self._chunk_left = 0
        self._crlf = 0
        self._last = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        cast(asyncio.WriteTransport, transport).write(self.plan.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        raw = self._raw
        raw += data
        if self._head:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(raw[:end]).lower()
            del raw[: end + 4]
            self._head = False
            self._chunked = b"\r\ntransfer-encoding: chunked" in head
            try:
                status = int(head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                status = 0
            if not self.ready.done():
                self.ready.set_result(status)
            if status != 200:
                self.close()
                return
        if self._chunked:
            self._dechunk()
        else:
            self._body += raw
            raw.clear()
        self._parse(now)

    def _dechunk(self) -> None:
        raw, body = self._raw, self._body
        while raw:
            if self._crlf:
                n = min(self._crlf, len(raw))
                del raw[:n]
                self._crlf -= n
                continue
            if self._chunk_left == 0:
                eol = raw.find(b"\r\n")
                if eol < 0:
                    return
                size = int(bytes(raw[:eol]).split(b";", 1)[0], 16)
                del raw[: eol + 2]
                if size == 0:
                    return  # the end of the response: connection_lost follows
                self._chunk_left = size
            n = min(self._chunk_left, len(raw))
            body += raw[:n]
            del raw[:n]
            self._chunk_left -= n
            if self._chunk_left == 0:
                self._crlf = 2

    def _parse(self, now: float) -> None:
        body = self._body
        while (end := body.find(b"\n\n")) >= 0:
            first = bytes(body[: min(end, 64)])
            del body[: end + 2]
            if first.startswith(b":"):
                self.tally.pings += 1
                continue
            lines = first.split(b"\n", 2)
            if len(lines) < 2 or not lines[0].startswith(b"id:"):
                continue  # retry: …
            if lines[1].strip() != b"event: update":
                continue
            version = int(lines[0][3:].strip())
            self.tally.updates += 1
            if version <= self._last:
                self.tally.backwards += 1
            self._last = max(self._last, version)
            self.records.append((version, now))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionResetError("closed before the headers"))
        elif not self.closing:
            self.tally.lost += 1

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def recv(conn: Connection) -> Any:
    """The next message on a pipe, without blocking the event loop; EOFError when the other
    end is gone."""
    loop = asyncio.get_running_loop()
    while not conn.poll():
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(conn.fileno())
            # The loop made the socket non-blocking; Connection.recv/send expect blocking.
            os.set_blocking(conn.fileno(), True)
    return conn.recv()


async def open_stream(
    plan: StreamPlan,
    port: int,
    due: float,
    pending: asyncio.Semaphore,
    tally: ReceiverTally,
    streams: list[Stream],
) -> None:
    await asyncio.sleep(max(0.0, due - time.time()))
    loop = asyncio.get_running_loop()
    stream = Stream(plan, tally)
    try:
        async with pending, asyncio.timeout(OPEN_TIMEOUT):
            await loop.create_connection(lambda: stream, "127.0.0.1", port)
            status = await stream.ready
    except (OSError, TimeoutError) as exc:
        stream.close()
        tally.open_error(type(exc).__name__, str(exc))
        return
    if status != 200:
        tally.open_error(str(status), "")
        return
    streams.append(stream)


async def receive(
    conn: Connection, port: int, plans: Sequence[StreamPlan], rate: float, pending: int
) -> None:
    """The receiver's life: ready → open (at ``rate``/s, at most ``pending`` at once) →
    opened → mark → stop → result."""
    gate = asyncio.Semaphore(pending)
    tally = ReceiverTally()
    streams: list[Stream] = []
    conn.send(("ready",))
    command, start_at = await recv(conn)
    assert command == "open"
    tasks = [
        asyncio.create_task(open_stream(plan, port, start_at + i / rate, gate, tally, streams))
        for i, plan in enumerate(plans)
    ]
    await asyncio.gather(*tasks)
    conn.send(("opened", len(streams), time.time(), tally.open_errors, tally.samples))
    (command,) = await recv(conn)
    assert command == "mark"
    cpu_start, wall_start = time.process_time(), time.time()
    (command,) = await recv(conn)
    assert command == "stop"
    cpu, wall = time.process_time() - cpu_start, time.time() - wall_start
    lost = tally.lost
    for stream in streams:
        stream.close()
    conn.send(
        (
            "result",
            {s.plan.stream_id: s.records for s in streams if s.records},
            [s.plan.stream_id for s in streams],
            {
                "lost": lost,
                "pings": tally.pings,
                "updates": tally.updates,
                "backwards": tally.backwards,
                "cpu": cpu,
                "wall": wall,
            },
        )
    )


def receiver_main(
    conn: Connection, port: int, plans: list[StreamPlan], rate: float, pending: int
) -> None:
    """A receiver process. Ctrl-C is left to the main process, which stops this one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner, contextlib.suppress(EOFError, BrokenPipeError):
        runner.run(receive(conn, port, plans, rate, pending))


# --- the main process --------------------------------------------------------------------


@dataclass(slots=True)
class Receivers:
    processes: list[BaseProcess]
    conns: list[Connection]

    async def each(self) -> list[Any]:
        return list(await asyncio.gather(*(recv(c) for c in self.conns)))

    def send(self, *message: Any) -> None:
        for conn in self.conns:
            conn.send(message)


@contextlib.contextmanager
def receiver_processes(
    count: int, port: int, plans: Sequence[StreamPlan], open_rate: float
) -> Iterator[Receivers]:
    """``count`` receiver processes, each with every ``count``-th stream; stopped on exit."""
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    conns: list[Connection] = []
    try:
        for k in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=receiver_main,
                args=(
                    child,
                    port,
                    list(plans[k::count]),
                    open_rate / count,
                    max(1, MAX_PENDING_OPENS // count),
                ),
                name=f"live-receiver-{k}",
                daemon=True,
            )
            process.start()
            child.close()
            processes.append(process)
            conns.append(parent)
        yield Receivers(processes, conns)
    finally:
        for conn in conns:
            conn.close()
        for proc in processes:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()


@dataclass(slots=True)
class Post:
    order: int
    version: int
    """The page version this event produces."""
    sent: float


@dataclass(slots=True)
class PostTally:
    created: list[Post] = field(default_factory=list)
    """Events answered 201 sent in the measured time."""
    latencies: list[float] = field(default_factory=list)
    slots: int = 0
    """Measured-time slots of the schedule."""
    skipped: int = 0
    """Slots with no event sent (too many in flight, or no free order)."""
    repeats: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, detail[:300])


class Poster:
    """Posts in-transit scans at a steady rate, one in flight per order, and notes which
    page version each created event produced."""

    def __init__(
        self, base: str, api_key: str, orders: Sequence[SeededOrder], versions: list[int]
    ) -> None:
        self.urls = [f"{base}/api/v1/fulfillments/{o.fulfillment_id}/events" for o in orders]
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.versions = versions
        self.in_flight: set[int] = set()
        self.excluded: set[int] = set()
        self.rng = random.Random(secrets.randbits(64))
        self.run_id = secrets.token_hex(4)
        self.start = datetime.now(UTC).replace(microsecond=0) - CARRIER_START
        self.counter = 0

    def body(self) -> bytes:
        """The next scan: a second after the previous one, carrier time."""
        self.counter += 1
        city, country = TOWNS[self.counter % len(TOWNS)]
        return json.dumps(
            {
                "status": "in_transit",
                "occurred_at": (self.start + timedelta(seconds=self.counter)).isoformat(),
                "message": f"Arrived at the {city} terminal",
                "location": {"city": city, "country_code": country},
                "external_id": f"{self.run_id}-{self.counter}",
            }
        ).encode()

    def choose(self) -> int | None:
        for _ in range(32):
            order = self.rng.randrange(len(self.urls))
            if order not in self.in_flight and order not in self.excluded:
                return order
        return None

    async def post(
        self, session: aiohttp.ClientSession, order: int, measured: bool, tally: PostTally
    ) -> None:
        self.in_flight.add(order)
        body = self.body()
        version = self.versions[order] + 1
        status, text = 0, ""
        sent = time.time()
        try:
            async with session.post(self.urls[order], data=body, headers=self.headers) as resp:
                status = resp.status
                payload = await resp.read()
                if status >= 300:
                    text = payload.decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # It may have been written or not: leave this order alone from now on.
            self.excluded.add(order)
            if measured:
                tally.error(type(exc).__name__, str(exc))
            return
        finally:
            self.in_flight.discard(order)
        if status == 201:
            self.versions[order] = version
            if measured:
                tally.created.append(Post(order, version, sent))
                tally.latencies.append(time.time() - sent)
        elif status == 200:
            if measured:
                tally.repeats += 1
        else:
            self.excluded.add(order)
            if measured:
                tally.error(str(status), text)

    async def run(self, rate: float, measure_from: float, end: float) -> PostTally:
        tally = PostTally()
        connector = aiohttp.TCPConnector(limit=MAX_POSTS_IN_FLIGHT)
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = time.time()
            n = 0
            try:
                while (due := start + n / rate) < end:
                    n += 1
                    if (wait := due - time.time()) > 0:
                        await asyncio.sleep(wait)
                    measured = due >= measure_from
                    tally.slots += measured
                    order = self.choose() if len(tasks) < MAX_POSTS_IN_FLIGHT else None
                    if order is None:
                        tally.skipped += measured
                        continue
                    task = asyncio.create_task(self.post(session, order, measured, tally))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return tally


async def first_scans(base: str, api_key: str, orders: Sequence[SeededOrder]) -> None:
    """One in-transit scan per fulfilment, so that measured scans do not change a status."""
    headers = {"Authorization": f"Bearer {api_key}"}
    when = (datetime.now(UTC) - CARRIER_START - timedelta(days=1)).isoformat()
    gate = asyncio.Semaphore(16)

    async def one(session: aiohttp.ClientSession, order: SeededOrder) -> None:
        body = {
            "status": "in_transit",
            "occurred_at": when,
            "message": "Picked up by the carrier",
            "location": {"city": "Oslo", "country_code": "NO"},
            "external_id": f"first-{order.fulfillment_id}",
        }
        async with gate:
            url = f"{base}/api/v1/fulfillments/{order.fulfillment_id}/events"
            async with session.post(url, json=body, headers=headers) as resp:
                if resp.status != 201:
                    raise BenchError(f"POST {url}: {resp.status} {await resp.text()}")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        await asyncio.gather(*(one(session, o) for o in orders))


async def page_versions(base: str, orders: Sequence[SeededOrder]) -> list[int]:
    """Each order's current page version: the id of the first update its stream sends
    when opened without ``?v``."""
    gate = asyncio.Semaphore(16)

    async def one(session: aiohttp.ClientSession, order: SeededOrder) -> int:
        url = f"{base}{order.status_path}/events"
        async with gate, session.get(url, headers={"Accept-Language": ACCEPT_LANGUAGE}) as resp:
            if resp.status != 200:
                raise BenchError(f"GET {url}: {resp.status}")
            async for line in resp.content:
                if line.startswith(b"id:"):
                    return int(line[3:].strip())
        raise BenchError(f"GET {url}: the stream ended without an update")

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=16), timeout=timeout
    ) as session:
        return list(await asyncio.gather(*(one(session, o) for o in orders)))


def stream_plans(
    orders: Sequence[SeededOrder], versions: Sequence[int], streams: int, port: int, secret: str
) -> list[StreamPlan]:
    """Stream ``s`` watches order ``s % len(orders)``; an order's first stream is its
    owner's (with the signed cookie), the others public."""
    from orderstatus.web.security import OWNER_COOKIE, Signer

    signer = Signer(secret)
    plans = []
    for s in range(streams):
        order = orders[s % len(orders)]
        cookie = (
            f"Cookie: {OWNER_COOKIE}={signer.owner_value(order.order_id)}\r\n"
            if s < len(orders)
            else ""
        )
        request = (
            f"GET {order.status_path}/events?v={versions[order.index]} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n"
            f"Accept-Language: {ACCEPT_LANGUAGE}\r\n"
            f"{cookie}\r\n"
        )
        plans.append(StreamPlan(s, order.index, request.encode()))
    return plans


@dataclass(slots=True)
class Figures:
    streams: int = 0
    orders: int = 0
    opened: int = 0
    open_seconds: float = 0.0
    open_errors: Counter[str] = field(default_factory=Counter)
    open_samples: dict[str, str] = field(default_factory=dict)
    server_limit: int = 0
    log_problems: tuple[int, list[str]] = (0, [])
    rss_before: int = 0
    rss_open: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    seconds: float = 0.0
    posts: PostTally = field(default_factory=PostTally)
    delays: list[float] = field(default_factory=list)
    expected: int = 0
    early: int = 0
    """Receipts that came before their POST was sent: the version bookkeeping is off."""
    receiver_stats: list[dict[str, float]] = field(default_factory=list)
    cpu_wall: float = 0.0
    """Seconds from the start of the measured time to the last CPU sample: the measured
    time, the answers still outstanding at its end and the grace time."""
    server_cpu: float = 0.0
    poster_cpu: float = 0.0
    host_cpu: float = 0.0


def match_receipts(
    posts: Sequence[Post],
    plans: Sequence[StreamPlan],
    open_ids: set[int],
    records: dict[int, list[tuple[int, float]]],
    figures: Figures,
) -> None:
    """For each created event and each open stream of its order: the delay to the first
    update with a version at least the event's."""
    by_order: dict[int, list[int]] = {}
    for plan in plans:
        if plan.stream_id in open_ids:
            by_order.setdefault(plan.order, []).append(plan.stream_id)
    indexed = {sid: ([v for v, _ in recs], [t for _, t in recs]) for sid, recs in records.items()}
    for post in posts:
        for sid in by_order.get(post.order, ()):
            figures.expected += 1
            versions, times = indexed.get(sid, ((), ()))
            i = bisect.bisect_left(versions, post.version)
            if i == len(versions):
                continue
            delay = times[i] - post.sent
            if delay < 0:
                figures.early += 1
            else:
                figures.delays.append(delay)


async def sample_rss(pid: int, figures: Figures) -> None:
    while True:
        figures.rss_peak = max(figures.rss_peak, rss_bytes(pid))
        await asyncio.sleep(0.25)


async def drive(server: Server, api_key: str, secret: str, args: argparse.Namespace) -> Figures:
    figures = Figures(streams=args.streams, orders=args.orders)
    figures.server_limit = open_files_limit(server.pid)
    if figures.server_limit < args.streams + SPARE_FILES:
        raise BenchError(
            f"the server may open only {figures.server_limit} files, too few for "
            f"{args.streams} streams"
        )
    started = time.time()
    orders = await seed_orders(
        server.base, api_key, args.orders, lambda n: f"1Z999AA1{n:010d}", concurrency=16
    )
    await first_scans(server.base, api_key, orders)
    versions = await page_versions(server.base, orders)
    progress(TAG, f"{len(orders)} orders set up in {time.time() - started:.1f} s")
    await wait_settled(server.pid)
    figures.rss_before = rss_bytes(server.pid)

    plans = stream_plans(orders, versions, args.streams, server.port, secret)
    with receiver_processes(args.receivers, server.port, plans, args.open_rate) as receivers:
        async with asyncio.timeout(RECEIVER_START_TIMEOUT):
            await receivers.each()
        open_from = time.time() + 0.2
        receivers.send("open", open_from)
        progress(
            TAG,
            f"opening {args.streams} streams at {args.open_rate:g}/s "
            f"from {args.receivers} receiver processes",
        )
        opened_at = open_from
        for _, count, last, errors, samples in await receivers.each():
            figures.opened += count
            opened_at = max(opened_at, last)
            figures.open_errors.update(errors)
            for kind, text in samples.items():
                figures.open_samples.setdefault(kind, text)
        figures.open_seconds = opened_at - open_from
        await asyncio.sleep(1.0)
        figures.rss_open = rss_bytes(server.pid)
        progress(
            TAG,
            f"{figures.opened} streams open in {figures.open_seconds:.1f} s; posting "
            f"{args.rate:g} events/s for {args.warmup:g} s warm-up + {args.seconds:g} s",
        )

        poster = Poster(server.base, api_key, orders, versions)
        start = time.time()
        measure_from = start + args.warmup
        end = measure_from + args.seconds
        sampler = asyncio.create_task(sample_rss(server.pid, figures))
        posting = asyncio.create_task(poster.run(args.rate, measure_from, end))
        try:
            await asyncio.sleep(max(0.0, measure_from - time.time()))
            receivers.send("mark")
            cpu = (process_cpu_seconds(server.pid), time.process_time(), host_busy_seconds())
            cpu_from = time.time()
            figures.posts = await posting
            figures.seconds = end - measure_from
            await asyncio.sleep(args.grace)
            figures.server_cpu = process_cpu_seconds(server.pid) - cpu[0]
            figures.poster_cpu = time.process_time() - cpu[1]
            figures.host_cpu = host_busy_seconds() - cpu[2]
            figures.cpu_wall = time.time() - cpu_from
            figures.rss_end = rss_bytes(server.pid)
        finally:
            sampler.cancel()
            posting.cancel()
            await asyncio.gather(sampler, posting, return_exceptions=True)
        receivers.send("stop")
        records: dict[int, list[tuple[int, float]]] = {}
        open_ids: set[int] = set()
        for _, recs, ids, stats in await receivers.each():
            records |= recs
            open_ids.update(ids)
            figures.receiver_stats.append(stats)
    match_receipts(figures.posts.created, plans, open_ids, records, figures)
    figures.log_problems = log_problems(server.log_path)
    return figures


# --- report ------------------------------------------------------------------------------


def mib(value: int) -> str:
    return f"{value / MIB:,.1f} MiB"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def report(figures: Figures, args: argparse.Namespace) -> str:
    f, p = figures, figures.posts
    stats = f.receiver_stats
    achieved = len(p.created) / f.seconds if f.seconds else 0.0
    delays_ms = [d * 1000 for d in f.delays]
    received = len(f.delays)
    per_stream = (f.rss_open - f.rss_before) / max(1, f.opened)
    rss_max = max(f.rss_open, f.rss_peak, f.rss_end)
    p99 = percentile(delays_ms, 99)
    receiver_cpu = sum(s["cpu"] for s in stats)
    receiver_wall = max((s["wall"] for s in stats), default=1.0)
    span = f.cpu_wall or 1.0
    lines = [
        f"live streams on one `orderstatus serve` process ({args.backend}), {os.cpu_count()} cores",
        f"  streams            {f.streams:,} over {f.orders:,} orders "
        f"({f.streams / f.orders:g} per order; the first with the owner's cookie)",
        f"  opened             {f.opened:,} of {f.streams:,} in {f.open_seconds:.1f} s "
        f"(asked {args.open_rate:g}/s by {args.receivers} receiver processes), "
        f"errors {sum(f.open_errors.values())}",
        f"  server RSS         before {mib(f.rss_before)}, all streams open {mib(f.rss_open)} "
        f"({per_stream / 1024:.1f} KiB per stream), peak under load {mib(f.rss_peak)}, "
        f"at the end {mib(f.rss_end)}",
        f"  events/s           offered {args.rate:g}, achieved {achieved:.1f} "
        f"({len(p.created):,} created in {f.seconds:g} s; {p.skipped} of {p.slots} slots "
        f"skipped); POST p50 {percentile([x * 1000 for x in p.latencies], 50):.1f} ms, "
        f"p99 {percentile([x * 1000 for x in p.latencies], 99):.1f} ms",
        f"  delay POST → update on each stream of the order: p50 "
        f"{percentile(delays_ms, 50):.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(delays_ms, default=float('nan')):.1f} ms",
        f"  receipts           {received:,} of {f.expected:,} expected "
        f"(stream x event; {sum(int(s['updates']) for s in stats):,} update messages, "
        f"{sum(int(s['pings']) for s in stats):,} pings)",
        f"  errors             POST {sum(p.errors.values())}, streams lost while "
        f"listening {sum(int(s['lost']) for s in stats)}, opening "
        f"{sum(f.open_errors.values())}, versions going backwards "
        f"{sum(int(s['backwards']) for s in stats)}, receipts before the POST {f.early}",
        f"  CPU s in {span:.1f} s (measured time, answers still due, {args.grace:g} s grace): "
        f"server "
        f"{f.server_cpu:.1f} ({f.server_cpu / span:.0%} of a core), poster {f.poster_cpu:.1f}, "
        f"receivers {receiver_cpu:.1f} ({receiver_cpu / receiver_wall:.0%} of a core in all), "
        f"rest of host {f.host_cpu - f.server_cpu - f.poster_cpu - receiver_cpu:.1f}",
        f"  server open-file limit {f.server_limit:,}",
    ]
    problems, shown = f.log_problems
    lines.append(f"  server log         {problems} warning, error or traceback lines")
    lines.extend(f"    {line}" for line in shown)
    for kind, count in p.errors.most_common():
        lines.append(f"  POST error {kind}: {count}, e.g. {p.samples[kind]}")
    for kind, count in f.open_errors.most_common():
        lines.append(f"  opening error {kind}: {count}, e.g. {f.open_samples.get(kind, '')}")
    lines.append("targets:")
    lines.append(
        f"  {TARGET_STREAMS:,} streams with RSS < {TARGET_RSS // MIB:,} MiB: "
        + (
            f"{f.opened:,} open, max RSS {mib(rss_max)}: "
            f"{verdict(f.opened >= TARGET_STREAMS and rss_max < TARGET_RSS)}"
        )
    )
    complete = received == f.expected and f.expected > 0
    lines.append(
        f"  p99 delay < {TARGET_P99_MS:g} ms: {p99:.1f} ms: "
        f"{verdict(p99 < TARGET_P99_MS and complete)}"
        + ("" if complete else " (not every receipt arrived)")
    )
    return "\n".join(lines)


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server and a database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument("--streams", type=positive(int), default=10_000, help="open streams")
    parser.add_argument(
        "--orders", type=positive(int), default=1_000, help="orders the streams watch"
    )
    parser.add_argument("--rate", type=positive(float), default=200.0, help="events a second")
    parser.add_argument("--seconds", type=positive(float), default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of events not counted")
    parser.add_argument(
        "--grace", type=float, default=3.0, help="seconds to wait for updates after the last POST"
    )
    parser.add_argument(
        "--open-rate", type=positive(float), default=500.0, help="streams opened a second"
    )
    parser.add_argument(
        "--receivers", type=positive(int), default=2, help="client processes holding the streams"
    )
    args = parser.parse_args(argv)
    if args.orders > args.streams:
        parser.error("--orders must not be more than --streams")
    return args


async def main(args: argparse.Namespace) -> None:
    cancel_on_sigterm()
    limit = raise_open_files_limit()
    if limit < args.streams // args.receivers + SPARE_FILES:
        raise BenchError(f"this process may open only {limit} files")
    workdir = Path(tempfile.mkdtemp(prefix="orderstatus-bench-live-"))
    try:
        async with database_for(args.backend, workdir, args.pg_url) as database_url:
            port = free_port()
            secret = secrets.token_urlsafe(48)
            env = server_env(database_url, workdir, port, secret)
            api_key = await prepare_shop(env, workdir)
            async with running_server(env, workdir, port) as server:
                progress(TAG, f"server pid {server.pid} on {server.base}")
                figures = await drive(server, api_key, secret, args)
        print(report(figures, args), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run(main(parse_args()))

"""Helpers the benchmarks in this folder share: a fresh database, the ``orderstatus`` command,
one ``orderstatus serve`` process, seeding orders through the REST API, and reading a
process's CPU time, memory and open-file limit from /proc.

Not a benchmark itself. A bench imports it as ``_common`` (Python puts the folder of the
script it runs first on ``sys.path``), e.g. ``from _common import running_server``.

With the PostgreSQL backend a bench creates a database ``orderstatus_bench_<random>``
through ``--pg-url`` and drops it at the end. The server, the temporary folder and the
database are cleaned up on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg  # type: ignore[import-untyped]

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1/test"
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 15.0
SETTLE_TIMEOUT = 60.0
SETTLE_WINDOW = 0.5
SETTLE_CPU = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024

ORDER_BODY: dict[str, Any] = {
    "email": "bench@example.com",
    "currency": "NOK",
    "locale": "en",
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


def progress(tag: str, message: str) -> None:
    """A progress line on stderr (the figures go to stdout)."""
    print(f"[{tag}] {message}", file=sys.stderr, flush=True)


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def server_env(
    database_url: str, workdir: Path, port: int, secret_key: str | None = None
) -> dict[str, str]:
    """This environment without other ORDERSTATUS_* settings, plus the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    env |= {
        "ORDERSTATUS_DATABASE_URL": database_url,
        "ORDERSTATUS_SECRET_KEY": secret_key or secrets.token_urlsafe(48),
        "ORDERSTATUS_BASE_URL": f"http://127.0.0.1:{port}",
        "ORDERSTATUS_VAR_DIR": str(workdir / "var"),
    }
    return env


async def stop_process(
    proc: asyncio.subprocess.Process, grace: float = SERVER_STOP_TIMEOUT
) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it lingers ``grace`` seconds."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run an ``orderstatus`` command to the end; its stdout, or BenchError with stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstatus",
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


async def prepare_shop(env: dict[str, str], workdir: Path, handle: str = "bench") -> str:
    """Migrate the database, add a shop and return a new API key for it."""
    await run_cli(["migrate"], env, workdir)
    await run_cli(["create-shop", "--handle", handle, "--currency", "NOK"], env, workdir)
    return (await run_cli(["create-api-key", "--shop", handle], env, workdir)).strip()


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    port: int
    pid: int
    log_path: Path


@contextlib.asynccontextmanager
async def running_server(
    env: dict[str, str],
    workdir: Path,
    port: int,
    stop_grace: float = SERVER_STOP_TIMEOUT,
    *,
    script: Path | None = None,
    settle: bool = False,
) -> AsyncIterator[Server]:
    """One ``orderstatus serve`` process, or ``script`` run by this Python (it inherits
    this process's resource limits), answering /healthz, stopped on the way out; with
    ``settle``, once its start-up work is done. Its output goes to ``server.log``."""
    log_path = workdir / "server.log"
    args = (
        [str(script)]
        if script is not None
        else ["-m", "orderstatus", "serve", "--host", "127.0.0.1", "--port", str(port)]
    )
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await wait_healthy(proc, port)
            if settle:
                await wait_settled(proc.pid, cpu=tree_cpu_seconds)
            yield Server(f"http://127.0.0.1:{port}", port, proc.pid, log_path)
        except BenchError as exc:
            raise BenchError(f"{exc}\nthe server's log ends:\n{tail(log_path)}") from None
        finally:
            await stop_process(proc, stop_grace)


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds so far of the server, of this client, and of the whole machine."""

    wall: float
    server: float
    client: float
    host_busy: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        return cls(
            time.perf_counter(),
            process_cpu_seconds(server_pid),
            time.process_time(),
            host_busy_seconds(),
        )


async def wait_healthy(proc: asyncio.subprocess.Process, port: int) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise BenchError(f"the server exited with status {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BenchError(f"the server did not become healthy on port {port}")


async def wait_settled(
    pid: int, windows: int = 3, cpu: Callable[[int], float] | None = None
) -> None:
    """Wait until a process is idle (``windows`` half-seconds with next to no CPU time, as
    ``cpu`` counts it: ``tree_cpu_seconds`` for a server whose children go on starting up)."""
    seconds = cpu or process_cpu_seconds
    quiet = 0
    deadline = time.monotonic() + SETTLE_TIMEOUT
    before = seconds(pid)
    while quiet < windows and time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_WINDOW)
        now = seconds(pid)
        quiet = quiet + 1 if abs(now - before) < SETTLE_CPU else 0
        before = now
    if quiet < windows:
        print(f"bench: process {pid} was still busy after {SETTLE_TIMEOUT:g} s", file=sys.stderr)


def log_problems(path: Path, limit: int = 5) -> tuple[int, list[str]]:
    """How many lines of a server log are warnings, errors or tracebacks, and the first
    ``limit`` different ones (with request paths and numbers blurred to tell them apart)."""
    count = 0
    seen: set[str] = set()
    shown: list[str] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    for line in lines:
        if not any(word in line for word in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
            continue
        count += 1
        shape = "".join("#" if c.isdigit() else c for c in line)[:120]
        if shape not in seen and len(shown) < limit:
            seen.add(shape)
            shown.append(line[:300])
    return count, shown


def tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


# --- /proc -------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its running descendants (a child may just have gone)."""
    total = 0.0
    with contextlib.suppress(OSError, ValueError):
        total += process_cpu_seconds(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_cpu_seconds(int(child))
    return total


def command_cpu_seconds(command: str) -> dict[int, float]:
    """CPU seconds of every process whose command name is ``command`` (e.g. "postgres":
    the PostgreSQL server's processes), by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if stat[stat.find("(") + 1 : stat.rfind(")")] == command:
                found[int(entry.name)] = process_cpu_seconds(int(entry.name))
    return found


def cpu_growth(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two ``command_cpu_seconds`` samples by the processes alive
    at the second (a process that ended in between is not counted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def host_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy, all cores, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """The resident set size of a process (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def open_files_limit(pid: int) -> int:
    """The soft limit on open files of a process, from /proc/<pid>/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return sys.maxsize if value == "unlimited" else int(value)
    raise BenchError(f"no open-file limit for process {pid}")


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it);
    returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- databases ---------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str, tag: str = "postgresql") -> AsyncIterator[str]:
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
    progress(tag, f"created database {name}")
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
    """A SQLite file in ``workdir`` or a fresh PostgreSQL database, by ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
    else:
        async with postgres_database(pg_url, backend) as url:
            yield url


# --- seeding through the REST API --------------------------------------------------------


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """POST JSON that must be answered 201; the answer."""
    async with session.post(url, json=body, headers=headers) as resp:
        payload = await resp.read()
        if resp.status != 201:
            raise BenchError(f"POST {url}: {resp.status} {payload.decode(errors='replace')}")
        answer: dict[str, Any] = json.loads(payload)
        return answer


@dataclass(frozen=True, slots=True)
class SeededOrder:
    """An order with one fulfilment, as the API answered."""

    index: int
    order_id: int
    status_path: str
    """``/orders/{token}``."""
    fulfillment_id: int
    tracking_number: str


async def seed_orders(
    base: str,
    api_key: str,
    count: int,
    tracking_number: Callable[[int], str],
    *,
    carrier: str = "ups",
    concurrency: int = 16,
) -> list[SeededOrder]:
    """``count`` orders with one fulfilment each (all items), through the REST API."""
    headers = {"Authorization": f"Bearer {api_key}"}
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def one(session: aiohttp.ClientSession, n: int) -> SeededOrder:
        async with gate:
            order = await post_json(
                session, f"{base}/api/v1/orders", ORDER_BODY | {"number": f"B{n:06d}"}, headers
            )
            number = tracking_number(n)
            fulfillment = await post_json(
                session,
                f"{base}/api/v1/orders/{order['id']}/fulfillments",
                {"carrier": carrier, "tracking_number": number, "notify_customer": False},
                headers,
            )
        return SeededOrder(
            index=n,
            order_id=int(order["id"]),
            status_path=urlsplit(order["status_page_url"]).path,
            fulfillment_id=int(fulfillment["id"]),
            tracking_number=number,
        )

    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(one(session, n)) for n in range(count)]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# --- wrk ---------------------------------------------------------------------------------

_WRK_LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_WRK_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
_WRK_TIMEOUTS = re.compile(r"timeout (\d+)")
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class WrkRun:
    """What ``wrk`` measured, and the CPU the server and the rest of the machine used."""

    name: str
    rate: float
    latency_ms: dict[str, float]
    errors: str
    timeouts: int
    seconds: float
    server_cpu: float
    other_cpu: float

    @property
    def capacity(self) -> float:
        """Answers per CPU second of the server: what one process does with a core of its
        own, however busy the machine was."""
        return self.rate * self.seconds / self.server_cpu if self.server_cpu else 0.0


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark drives wrk: apt-get install wrk")


async def wrk(
    url: str,
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    server_pid: int,
    name: str,
) -> WrkRun:
    """``wrk`` with one thread and ``clients`` keep-alive connections on one URL. Its
    latency percentiles (50, 75, 90, 99) leave out the requests it gave up on after its
    2-s timeout; ``timeouts`` counts those."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", url]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    start = CpuSample.take(server_pid)
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    end = CpuSample.take(server_pid)
    text = out.decode()
    rate = _WRK_RATE.search(text)
    if proc.returncode != 0 or rate is None:
        raise BenchError(f"wrk failed:\n{text}")
    latency = {p: float(v) * _WRK_UNITS[u] for p, v, u in _WRK_LATENCY.findall(text)}
    errors = "; ".join(m.group(0) for m in _WRK_ERRORS.finditer(text)) or "none"
    timeouts = sum(int(t) for t in _WRK_TIMEOUTS.findall(text))
    server = end.server - start.server
    other = (end.host_busy - start.host_busy) - server
    return WrkRun(name, float(rate.group(1)), latency, errors, timeouts, seconds, server, other)


# --- figures and the command line --------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (inclusive method); NaN without at least two values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[round(pct * 10) - 1]


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: ``kind`` of the text, more than 0."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be more than 0")
        return value

    return parse


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed, to keep the client's overhead low;
    exit with a one-line message on BenchError, 130 on Ctrl-C and 143 on SIGTERM."""
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(coroutine)
            return
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coroutine)
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:
        sys.exit(143)


def cancel_on_sigterm() -> None:
    """Let SIGTERM cancel the running main task, so that clean-up runs as on Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


TOWNS: tuple[tuple[str, str], ...] = (
    ("Oslo", "NO"),
    ("Drammen", "NO"),
    ("Gardermoen", "NO"),
    ("Trondheim", "NO"),
    ("Bergen", "NO"),
    ("Malmo", "SE"),
    ("Copenhagen", "DK"),
)
"""Where the made-up tracking events happen, in turn."""


@dataclass(slots=True)
class Tally:
    """Latencies of the answers, and the failures by kind with an example of each."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, detail[:300])


def arguments(
    doc: str | None, *, backend: str = "both", seconds: float = 20.0, per: str = ""
) -> argparse.ArgumentParser:
    """The options every load benchmark takes: the backend, the PostgreSQL server,
    the measured time, the warm-up and the concurrent clients."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    choices = ("sqlite", "postgresql", "both") if backend == "both" else ("sqlite", "postgresql")
    parser.add_argument("--backend", choices=choices, default=backend)
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server and a database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument(
        "--seconds", type=positive(float), default=seconds, help=f"measured time{per}"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help=f"seconds{per} not counted")
    parser.add_argument("--clients", type=positive(int), default=32, help="concurrent clients")
    return parser


async def measure_tasks(
    tasks: Sequence[asyncio.Task[Any]], server_pid: int, measure_from: float, stop_at: float
) -> tuple[CpuSample, CpuSample]:
    """Let the clients run, take CPU samples at the start and the end of the measured
    window (``time.perf_counter()`` times), and wait for them; cancelled on any error."""
    try:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        start = CpuSample.take(server_pid)
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        end = CpuSample.take(server_pid)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return start, end

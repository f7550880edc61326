"""The numbers `/metrics` exports (Prometheus), counted where things happen.

Every layer counts through the small functions here, so none of them imports the web
layer. The numbers of all processes of one deployment on one host (`serve` workers,
`worker`) add up: each process writes its own files in one shared folder
(ORDERSTATUS_METRICS_DIR, prometheus-client's multiprocess mode) and `/metrics` reads
them all. The folder is never emptied as a whole, since processes of other systemd units
may be using it: a starting `serve` removes the files of processes that have ended, every
scrape drops the gauges of ended processes, and a process drops its own gauges on exit.

A process that never calls :func:`configure` (tests that build the app in-process)
counts in memory and exports its own numbers only.

The outbox's depth and age are not counted here: the web layer reads them from the
database at scrape time (:func:`render`'s ``extra``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"
"""The route label of a request no route took (so a scanner's paths do not become series)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LIVE_GAUGES = ("gauge_livesum_", "gauge_liveall_", "gauge_livemin_", "gauge_livemax_")


class _Metrics:
    """The collectors of this process (made after :func:`configure`, which decides where
    their values are kept)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "orderstatus_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "orderstatus_http_request_duration_seconds",
            "Time from a request's arrival to the start of its response, by route template",
            ["route", "method"],
            registry=r,
        )
        self.webhooks = Counter(
            "orderstatus_webhooks",
            "Carrier webhooks received, by source and result",
            ["source", "result"],
            registry=r,
        )
        self.events = Counter(
            "orderstatus_tracking_events_recorded",
            "New tracking events stored (repeats not counted), by source",
            ["source"],
            registry=r,
        )
        self.deliveries = Counter(
            "orderstatus_notification_deliveries",
            "Notification outcomes the worker recorded, by channel and result",
            ["channel", "result"],
            registry=r,
        )
        self.outbound = Counter(
            "orderstatus_outbound_webhook_deliveries",
            "Outbound webhook tries the worker recorded, by topic and result",
            ["topic", "result"],
            registry=r,
        )
        self.streams = Gauge(
            "orderstatus_live_streams_open",
            "Live status-page streams open",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.broker = Gauge(
            "orderstatus_broker_connected",
            "1 when every running web process hears changes through its broker (redis or"
            " local), else 0",
            ["broker"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.pool = Gauge(
            "orderstatus_db_connections_in_use",
            "Database connections checked out of the pools",
            registry=r,
            multiprocess_mode="livesum",
        )


_metrics: _Metrics | None = None
_directory: Path | None = None
_follower: threading.Thread | None = None


def _get() -> _Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()
    return _metrics


def configure(directory: Path, *, clean: bool = False) -> None:
    """Keep this process's numbers in ``directory``, shared with the deployment's other
    processes; call before anything is counted. ``clean``: first remove the files of
    processes that have ended (a starting `serve` does)."""
    global _metrics, _directory, _follower
    directory.mkdir(parents=True, exist_ok=True)
    if clean:
        remove_ended(directory, live_only=False)
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus-client chooses its value store when first imported: choose again now.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    pid = os.getpid()
    # Gauges left by an ended process that had our pid would be added to ours.
    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    atexit.register(multiprocess.mark_process_dead, pid, str(directory))
    _directory = directory
    _metrics = None
    _get()
    if _follower is None:
        _follower = threading.Thread(target=_follow_pool, name="metrics-pool", daemon=True)
        _follower.start()


def remove_ended(directory: Path, *, live_only: bool = True) -> None:
    """Remove the files of processes that are no longer running: only their gauges
    (``live_only``), or everything they counted."""
    for path in directory.glob("*.db"):
        pid = _pid_of(path.name)
        if pid is None or _running(pid):
            continue
        if live_only and not path.name.startswith(_LIVE_GAUGES):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _pid_of(name: str) -> int | None:
    tail = name.removesuffix(".db").rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of every process's numbers (or this process's, unconfigured),
    with ``extra`` collectors (numbers read at scrape time)."""
    _get().pool.set(_connections_in_use)
    registry = CollectorRegistry()
    if _directory is not None:
        remove_ended(_directory)
        multiprocess.MultiProcessCollector(registry, str(_directory))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Registered(_get().registry))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Registered(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


@dataclass(frozen=True, slots=True)
class Backlog:
    """Undelivered notifications of one kind on one channel."""

    kind: str
    channel: str
    count: int
    oldest_age_seconds: float


class BacklogCollector(Collector):
    """The outbox as the database showed it at this scrape."""

    def __init__(self, backlog: Iterable[Backlog]) -> None:
        self.backlog = list(backlog)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "orderstatus_outbox_pending",
            "Notifications waiting to be sent (pending or being sent), by kind and channel",
            labels=["kind", "channel"],
        )
        age = GaugeMetricFamily(
            "orderstatus_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be sent, by kind and channel",
            labels=["kind", "channel"],
        )
        for item in self.backlog:
            depth.add_metric([item.kind, item.channel], item.count)
            age.add_metric([item.kind, item.channel], item.oldest_age_seconds)
        yield depth
        yield age


# What the layers count.


def request_answered(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    m = _get()
    m.requests.labels(route, method, str(status)).inc()
    m.latency.labels(route, method).observe(seconds)


def webhook_received(source: str, result: str) -> None:
    _get().webhooks.labels(source, result).inc()


def events_recorded(source: str, count: int = 1) -> None:
    _get().events.labels(source).inc(count)


def notification_recorded(channel: str, result: str) -> None:
    _get().deliveries.labels(channel, result).inc()


def outbound_webhook_recorded(topic: str, result: str) -> None:
    _get().outbound.labels(topic, result).inc()


def stream_opened() -> None:
    _get().streams.inc()


def stream_closed() -> None:
    _get().streams.dec()


def broker_connected(broker: str, connected: bool) -> None:
    _get().broker.labels(broker).set(1 if connected else 0)


_connections_in_use = 0
POOL_SAMPLE_SECONDS = 1.0


def connection_checked_out() -> None:
    """Told by the pool, possibly from within the garbage collector (a connection dropped
    without being returned): so only a number changes here, as a metric's lock may be held
    by the very code the collector interrupted. The gauge follows the number every second
    and at each scrape."""
    global _connections_in_use
    _connections_in_use += 1


def connection_checked_in() -> None:
    global _connections_in_use
    _connections_in_use -= 1


def _follow_pool() -> None:
    while True:
        time.sleep(POOL_SAMPLE_SECONDS)
        _get().pool.set(_connections_in_use)

"""Scale: the system test's mixed load, without faults, through nginx in front of ONE and
then TWO ``orderstatus serve`` processes on PostgreSQL.

Each run sets up the deployment of ``tests/system/cluster.py`` (nginx configured from
``deploy/nginx``, the web processes, a Redis of their own, a fresh PostgreSQL database; no
worker, so messages wait in the outbox) and drives the load of ``tests/system/load.py``
through nginx: ``--clients`` order flows at a time back to back (create an order, ship it,
four tracking events, by the API for even orders and as EasyPost webhooks for odd ones),
``--readers`` status-page readers, and ``--live-pages`` live pages held open. After
``--warmup`` seconds it measures ``--seconds``.

Prints, for each run, throughput and p50/p99 latency of status pages, API events, webhooks
(and orders and fulfilments), and the CPU seconds of the web processes, nginx, PostgreSQL,
this load generator and the rest of the machine, then the ratio of two processes to one.
Two processes should do ≥ 1.6x one where the machine has room for it; where they do not,
the CPU figures show what ran out (this load generator, PostgreSQL or the machine's cores).

Run it from the project folder (it is not part of the test suite; it needs nginx)::

    .venv/bin/python bench/scale.py                       # 20 s a run, 16 clients
    .venv/bin/python bench/scale.py --seconds 30 --clients 32 --readers 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _common as common

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.system.cluster import Cluster, nginx_available, running_cluster
from tests.system.load import Load, Tally

TAG = "scale"
KINDS = (("page", "status pages"), ("event", "API events"), ("webhook", "webhooks"))
EXTRA_KINDS = (("order", "orders"), ("fulfil", "fulfilments"))
TARGET_RATIO = 1.6


@dataclass(frozen=True, slots=True)
class Run:
    serves: int
    seconds: float
    tally: Tally
    serve_cpu: float
    nginx_cpu: float
    database_cpu: float
    client_cpu: float
    host_cpu: float

    def rate(self, kind: str) -> float:
        return len(self.tally.latencies.get(kind, [])) / self.seconds

    def total_rate(self) -> float:
        return sum(len(v) for v in self.tally.latencies.values()) / self.seconds


def cpu(cluster: Cluster) -> tuple[float, float, dict[int, float], float, float]:
    assert cluster.nginx is not None
    return (
        sum(common.tree_cpu_seconds(p.pid) for p in cluster.serve_procs),
        common.tree_cpu_seconds(cluster.nginx.pid),
        common.command_cpu_seconds("postgres"),
        time.process_time(),
        common.host_busy_seconds(),
    )


async def one_run(serves: int, args: argparse.Namespace) -> Run:
    async with running_cluster(args.pg_url, serves=serves, workers=0) as cluster:
        common.progress(TAG, f"{serves} serve process(es) behind nginx on {cluster.base}")
        tally = Tally(measuring=False)
        async with Load(
            cluster.base,
            cluster.api_key,
            cluster.webhook_secret,
            "system",
            live_pages=args.live_pages,
            tally=tally,
        ) as load:
            until = time.monotonic() + args.warmup + args.seconds
            driving = asyncio.ensure_future(load.closed(args.clients, args.readers, until))
            try:
                await asyncio.sleep(args.warmup)
                tally.measuring = True
                before = cpu(cluster)
                wall = time.perf_counter()
                await asyncio.sleep(args.seconds)
                tally.measuring = False
                after = cpu(cluster)
                seconds = time.perf_counter() - wall
                await driving
            finally:
                driving.cancel()
        if tally.errors:
            common.progress(TAG, f"unexpected answers: {dict(tally.errors)} {tally.samples}")
        return Run(
            serves,
            seconds,
            tally,
            after[0] - before[0],
            after[1] - before[1],
            common.cpu_growth(before[2], after[2]),
            after[3] - before[3],
            after[4] - before[4],
        )


def report(run: Run, args: argparse.Namespace) -> str:
    s = run.seconds
    lines = [
        f"{run.serves} `orderstatus serve` process(es) behind nginx, PostgreSQL, "
        f"{args.clients} order flows, {args.readers} page readers, {args.live_pages} live "
        f"pages, {s:.1f} s measured, {os.cpu_count()} cores",
    ]
    for kind, label in KINDS + EXTRA_KINDS:
        ms = [x * 1000 for x in run.tally.latencies.get(kind, [])]
        lines.append(
            f"  {label:13} {len(ms) / s:8,.1f}/s  p50 {common.percentile(ms, 50):7.1f} ms  "
            f"p99 {common.percentile(ms, 99):7.1f} ms"
        )
    other = run.host_cpu - run.serve_cpu - run.nginx_cpu - run.database_cpu - run.client_cpu
    lines += [
        f"  all requests  {run.total_rate():8,.1f}/s",
        f"  errors        {sum(run.tally.errors.values())}, tried again "
        f"{sum(run.tally.retries.values())}",
        f"  CPU (cores)   web processes {run.serve_cpu / s:.2f}, nginx {run.nginx_cpu / s:.2f}, "
        f"PostgreSQL {run.database_cpu / s:.2f}, this load generator {run.client_cpu / s:.2f}, "
        f"rest of the machine {other / s:.2f}; busy {run.host_cpu / s:.2f} of {os.cpu_count()}",
    ]
    return "\n".join(lines)


def verdict(one: Run, two: Run) -> str:
    cores = os.cpu_count() or 1
    ratios = {label: two.rate(kind) / max(one.rate(kind), 1e-9) for kind, label in KINDS}
    total = two.total_rate() / max(one.total_rate(), 1e-9)
    lines = [
        "two processes / one: "
        + ", ".join(f"{label} {r:.2f}x" for label, r in ratios.items())
        + f", all requests {total:.2f}x"
    ]
    busy = two.host_cpu / two.seconds
    if total >= TARGET_RATIO:
        lines.append(f"target ≥ {TARGET_RATIO}x: met")
    elif busy >= cores * 0.9:
        lines.append(
            f"target ≥ {TARGET_RATIO}x: NOT MET, and out of reach here: with two processes "
            f"the machine was busy {busy:.2f} of {cores} cores (the load generator alone "
            f"{two.client_cpu / two.seconds:.2f}, PostgreSQL {two.database_cpu / two.seconds:.2f}, "
            f"nginx {two.nginx_cpu / two.seconds:.2f}); the web processes got "
            f"{two.serve_cpu / two.seconds:.2f} cores against {one.serve_cpu / one.seconds:.2f} "
            "with one"
        )
    else:
        lines.append(
            f"target ≥ {TARGET_RATIO}x: NOT MET with {cores - busy:.2f} cores idle: the web "
            "processes wait on something they share (PostgreSQL, Redis, nginx)"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = common.arguments(__doc__, backend="postgresql", seconds=20.0)
    parser.set_defaults(clients=16, warmup=5.0)
    parser.add_argument("--readers", type=common.positive(int), default=8)
    parser.add_argument("--live-pages", type=int, default=200)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    if not nginx_available():
        raise common.BenchError("nginx is not installed (apt-get install nginx)")
    common.raise_open_files_limit()
    runs = []
    for serves in (1, 2):
        run = await one_run(serves, args)
        print(report(run, args), flush=True)
        runs.append(run)
    print(verdict(*runs), flush=True)


if __name__ == "__main__":
    common.run(main(parse_args()))

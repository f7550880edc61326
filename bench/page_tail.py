"""Status page under saturation: how long the slowest answers take when one process is
asked for more pages than it can answer.

Starts the real ``orderstatus serve`` (one process) on a fresh database, makes one order with
a shipment through the REST API, then drives its public status page with ``wrk`` (one
thread, 64 keep-alive connections by default, each asking again as soon as it is answered)
and prints requests/s, p50/p75/p90/p99, the requests wrk gave up on after 2 s, and the CPU
the server and the rest of the machine used. The target: p99 under 10 times p50 (a request
wrk gave up on counts as a miss, since its latency is not in wrk's percentiles).

Every answer comes from the page cache here; what this measures is how evenly one event
loop shares itself among many clients while the entries behind that cache are refreshed,
and how soon a busy process takes in new connections: wrk opens its 64 at the start of each
run, as browsers open new ones (the first request on each counts like any other).

    .venv/bin/python bench/page_tail.py                         # SQLite, then PostgreSQL
    .venv/bin/python bench/page_tail.py --backend sqlite --seconds 30 --clients 64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import aiohttp

import _common as common

RATIO = 10.0
TAG = "page-tail"


async def measure(backend: str, args: argparse.Namespace) -> common.WrkRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"orderstatus-bench-tail-{backend}-"))
    try:
        async with common.database_for(backend, workdir, args.pg_url) as url:
            port = common.free_port()
            env = common.server_env(url, workdir, port)
            key = await common.prepare_shop(env, workdir)
            async with common.running_server(env, workdir, port, settle=True) as server:
                (order,) = await common.seed_orders(
                    server.base, key, 1, lambda n: f"1Z999AA1012345678{n}"
                )
                page = f"{server.base}{order.status_path}"
                headers = {"Accept": "text/html", "Accept-Language": "en"}
                async with aiohttp.ClientSession() as http, http.get(page) as resp:
                    if resp.status != 200:
                        raise common.BenchError(f"GET {order.status_path}: {resp.status}")
                common.progress(TAG, f"{backend}: warming up")
                await common.wrk(
                    page, headers, clients=args.clients, seconds=2, server_pid=server.pid, name=""
                )
                common.progress(TAG, f"{backend}: {args.seconds:g} s with {args.clients} clients")
                return await common.wrk(
                    page,
                    headers,
                    clients=args.clients,
                    seconds=args.seconds,
                    server_pid=server.pid,
                    name=backend,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def main(args: argparse.Namespace) -> None:
    common.need_wrk()
    common.cancel_on_sigterm()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = [await measure(backend, args) for backend in backends]
    print(
        f"GET /orders/{{token}} (public view) from one `orderstatus serve` process, "
        f"wrk -t1 -c{args.clients}, {args.seconds:g} s, 2 cores"
    )
    print(
        f"{'backend':<11}{'requests/s':>11}{'p50 ms':>9}{'p75 ms':>9}{'p90 ms':>9}"
        f"{'p99 ms':>9}{'p99/p50':>9}{'gave up':>9}{'server cpu s':>14}{'other cpu s':>13}"
    )
    for run in runs:
        lat = run.latency_ms
        ratio = lat.get("99", 0) / lat["50"] if lat.get("50") else float("inf")
        print(
            f"{run.name:<11}{run.rate:>11,.0f}{lat.get('50', 0):>9.1f}{lat.get('75', 0):>9.1f}"
            f"{lat.get('90', 0):>9.1f}{lat.get('99', 0):>9.1f}{ratio:>9.1f}{run.timeouts:>9}"
            f"{run.server_cpu:>14.1f}{run.other_cpu:>13.1f}"
        )
    for run in runs:
        lat = run.latency_ms
        ratio = lat.get("99", 0) / lat["50"] if lat.get("50") else float("inf")
        met = ratio < RATIO and run.timeouts == 0
        print(
            f"target p99 < {RATIO:g} x p50 and no request given up ({run.name}): "
            f"{ratio:.1f} x, {run.timeouts} given up, {'met' if met else 'NOT MET'}"
        )


def parse_args() -> argparse.Namespace:
    parser = common.arguments(__doc__, seconds=15.0)
    parser.set_defaults(clients=64)
    return parser.parse_args()


if __name__ == "__main__":
    common.run(main(parse_args()))

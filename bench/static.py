"""Static file benchmark: one ``orderstatus serve`` process answering a static asset.

Starts the real command on a fresh SQLite database and measures, with ``wrk`` (one thread,
keep-alive connections; Debian: ``apt-get install wrk``), the app's stylesheet under its
hashed name as a browser asks for it (Brotli), then the same without compression, then a
revalidation (``If-None-Match``, answered 304). It prints requests/s and latency
percentiles, and the CPU seconds the server and the rest of the machine used, against the
target of at least 5,000 requests/s per process.

    .venv/bin/python bench/static.py
    .venv/bin/python bench/static.py --seconds 20 --clients 64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import aiohttp

import _common as common

TARGET = 5_000
TAG = "static"


async def main(args: argparse.Namespace) -> None:
    common.need_wrk()
    common.cancel_on_sigterm()
    from orderstatus.web.assets import app_assets

    path = app_assets().url("app.css")
    workdir = Path(tempfile.mkdtemp(prefix="orderstatus-bench-static-"))
    try:
        async with common.database_for("sqlite", workdir, common.DEFAULT_PG_URL) as url:
            port = common.free_port()
            env = common.server_env(url, workdir, port)
            await common.prepare_shop(env, workdir)
            async with common.running_server(env, workdir, port, settle=True) as server:
                full = f"{server.base}{path}"
                async with aiohttp.ClientSession(auto_decompress=False) as http:
                    first = await http.get(full, headers={"Accept-Encoding": "br"})
                    etag = first.headers["ETag"]
                    assert first.headers["Content-Encoding"] == "br"
                how = {"clients": args.clients, "seconds": args.seconds, "server_pid": server.pid}
                brotli = {"Accept-Encoding": "gzip, br"}
                runs = [
                    await common.wrk(full, brotli, **how, name="br"),
                    await common.wrk(full, {}, **how, name="identity"),
                    await common.wrk(full, brotli | {"If-None-Match": etag}, **how, name="304"),
                ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"GET {path} from one `orderstatus serve` process, wrk -t1 -c{args.clients}, "
        f"{args.seconds:g} s each, 2 cores"
    )
    print(
        f"{'answer':<9}{'requests/s':>11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'server cpu s':>14}{'per server cpu s':>18}{'other cpu s':>13}  errors"
    )
    for run in runs:
        lat = run.latency_ms
        print(
            f"{run.name:<9}{run.rate:>11,.0f}{lat.get('50', 0):>9.2f}{lat.get('90', 0):>9.2f}"
            f"{lat.get('99', 0):>9.2f}{run.server_cpu:>14.1f}{run.capacity:>18,.0f}"
            f"{run.other_cpu:>13.1f}  {run.errors}"
        )
    for run in runs:
        verdict = "met" if run.rate >= TARGET else "NOT MET"
        print(
            f"target ≥ {TARGET:,} requests/s ({run.name}): {run.rate:,.0f} {verdict}"
            f" ({run.capacity:,.0f} per server CPU second)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=common.positive(int), default=10)
    parser.add_argument("--clients", type=common.positive(int), default=32)
    return parser.parse_args()


if __name__ == "__main__":
    common.run(main(parse_args()))

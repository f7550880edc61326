"""How fast one notification worker delivers, and how long a customer waits for the mail.

Prints e-mails/s delivered by one worker to a local SMTP server (aiosmtpd, in a process
of its own), then the delay from the triggering event (the order's commit) to the SMTP
server accepting the message, while orders keep coming at a steady rate.

    .venv/bin/python bench/notify.py                      # SQLite in a temporary folder
    .venv/bin/python bench/notify.py --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orderstatus.config import Settings
from orderstatus.db import migrate
from orderstatus.db.engine import Database
from orderstatus.domain.inputs import OrderInput
from orderstatus.notify.worker import Worker
from orderstatus.services.accounts import create_shop
from orderstatus.services.orders import create_order

ORDER_ID = re.compile(r"<o(\d+)\.")


def sink(port: int, results: Connection) -> None:
    """An SMTP server that notes when each message arrived; answers the parent's
    "count" and "times" requests over the pipe."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    arrived: dict[str, float] = {}

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            content = envelope.original_content or b""
            found = re.search(rb"^Message-ID:\s*(<[^>]+>)", content, re.M | re.I)
            if found:
                arrived[found.group(1).decode()] = time.time()
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", port)
        results.send("ready")
        while True:
            if results.poll():
                request = results.recv()
                if request == "count":
                    results.send(len(arrived))
                elif request == "times":
                    results.send(dict(arrived))
                else:
                    break
            await asyncio.sleep(0.01)
        server.close()

    asyncio.run(main())


def order(i: int) -> OrderInput:
    return OrderInput.model_validate(
        {
            "email": f"customer{i}@example.com",
            "locale": "nb-NO" if i % 2 else "en",
            "currency": "NOK",
            "customer": {"first_name": "Kari", "last_name": "Nordmann"},
            "shipping_address": {
                "name": "Kari Nordmann",
                "address1": "Storgata 1",
                "city": "Oslo",
                "zip": "0155",
                "country_code": "NO",
            },
            "payment": {"method": "card"},
            "line_items": [
                {"title": "Mug", "variant": "Blue", "quantity": 2, "price": "249.00"},
                {"title": "Scarf", "quantity": 1, "price": "599.00"},
            ],
        }
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Sink:
    def __init__(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=sink, args=(self.port, child), daemon=True)
        self.process.start()
        assert self.pipe.recv() == "ready"

    def ask(self, request: str) -> Any:
        self.pipe.send(request)
        return self.pipe.recv()

    async def reaches(self, count: int) -> None:
        """Return once the server has accepted ``count`` messages."""
        while True:
            if await asyncio.to_thread(self.ask, "count") >= count:
                return
            await asyncio.sleep(0.01)

    def close(self) -> None:
        if self.process.is_alive():
            self.pipe.send("stop")
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


async def run(args: argparse.Namespace, folder: Path) -> None:
    sink_server = Sink()
    try:
        await measure(args, folder, sink_server)
    finally:
        sink_server.close()


async def measure(args: argparse.Namespace, folder: Path, sink_server: Sink) -> None:
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    settings = Settings.from_env(
        {},
        database_url=url,
        smtp_url=f"smtp://127.0.0.1:{sink_server.port}",
        base_url="https://status.example.com",
        secret_key="b" * 40,
    )
    database = Database(settings.database_url)
    await migrate.upgrade(database)
    async with database.write() as session:
        shop = await create_shop(
            session=session, handle=f"bench{int(time.time())}", name="Bench", currency="NOK"
        )

    # Throughput: a backlog of confirmations, one worker, time until the last arrives.
    for start in range(0, args.count, 250):
        async with database.write() as session:
            for i in range(start, min(args.count, start + 250)):
                await create_order(session=session, shop=shop, data=order(i), actor="bench")
    worker = Worker(database, settings)
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    await sink_server.reaches(args.count)
    elapsed = time.perf_counter() - began
    print(f"throughput: {args.count} e-mails in {elapsed:.2f} s = {args.count / elapsed:.0f}/s")

    # Delay: orders committed one by one at a steady rate while the worker runs.
    committed: dict[int, float] = {}
    total = int(args.rate * args.seconds)
    began = time.perf_counter()
    for i in range(total):
        async with database.write() as session:
            placed = await create_order(
                session=session, shop=shop, data=order(args.count + i), actor="bench"
            )
        committed[placed.id] = time.time()
        pause = began + (i + 1) / args.rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
    await sink_server.reaches(args.count + total)
    stop.set()
    await task
    arrived = sink_server.ask("times")
    delays = []
    for message_id, at in arrived.items():
        found = ORDER_ID.match(message_id)
        if found and int(found.group(1)) in committed:
            delays.append(at - committed[int(found.group(1))])
    print(
        f"event -> SMTP delay over {len(delays)} orders at {args.rate:g}/s: "
        f"p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {percentile(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )
    print(f"worker: {worker.summary()}")
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--count", type=int, default=2000, help="backlog for the throughput run")
    parser.add_argument("--rate", type=float, default=50, help="orders per second for the delay")
    parser.add_argument("--seconds", type=float, default=10, help="how long orders keep coming")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()

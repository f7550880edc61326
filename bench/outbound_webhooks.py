"""Outbound webhooks: what queueing them costs the change that causes them, and how fast one
worker delivers them.

After a warm-up, creates ``--orders`` orders (one transaction each) in a shop without
webhooks, then as many
in a shop with one webhook subscribed to every topic, and prints the time per order of
each (the difference is the outbox row and its look-ups). Then one worker delivers the
queued ``order.created`` events, signed, to a local receiver (aiohttp, in a process of its
own, answering 200), and prints deliveries/s.

    .venv/bin/python bench/outbound_webhooks.py                 # SQLite in a temporary folder
    .venv/bin/python bench/outbound_webhooks.py --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from orderstatus.config import Settings
from orderstatus.db import migrate
from orderstatus.db.engine import Database
from orderstatus.db.models import Shop
from orderstatus.domain.inputs import OrderInput
from orderstatus.notify.worker import Worker
from orderstatus.services import outbound_webhooks
from orderstatus.services.accounts import create_shop
from orderstatus.services.orders import create_order


def receiver(port: int, results: Connection) -> None:
    """Answers every POST with 200 and counts them; answers "count" over the pipe."""
    from aiohttp import web

    received = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hooks", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        results.send("ready")
        loop = asyncio.get_running_loop()
        while True:
            if await loop.run_in_executor(None, results.poll, 0.2):
                if results.recv() == "count":
                    results.send(received)
                else:
                    return

    asyncio.run(main())


def order(i: int) -> OrderInput:
    return OrderInput.model_validate(
        {
            "email": "bench@example.com",
            "currency": "NOK",
            "customer": {"first_name": "Bench"},
            "shipping_address": {
                "name": "Bench",
                "address1": "Storgata 1",
                "city": "Oslo",
                "zip": "0155",
                "country_code": "NO",
            },
            "payment": {"method": "card"},
            "line_items": [{"title": f"Item {i}", "quantity": 1, "price": "100.00"}],
        }
    )


async def orders_per_second(database: Database, shop_id: int, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        async with database.write() as session:
            shop = await session.get_one(Shop, shop_id)
            await create_order(session=session, shop=shop, data=order(i), actor="bench")
    return (time.perf_counter() - started) / count


async def run(args: argparse.Namespace, folder: Path) -> None:
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    settings = Settings.from_env(
        {},
        database_url=url,
        secret_key="b" * 40,
        var_dir=str(folder),
        webhooks_allow_private=True,
    )
    database = Database(settings.database_url)
    await migrate.upgrade(database)
    port = 47000 + (int(time.time()) % 1000)
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=receiver, args=(port, child), daemon=True)
    process.start()
    assert parent.recv() == "ready"
    try:
        async with database.write() as session:
            plain = await create_shop(session=session, handle="plain", name="P", currency="NOK")
            hooked = await create_shop(session=session, handle="hooked", name="H", currency="NOK")
            await outbound_webhooks.add_endpoint(
                session=session,
                shop_id=hooked.id,
                url=f"http://127.0.0.1:{port}/hooks",
                topics=["order.created", "order.updated"],
                actor="bench",
            )
            plain_id, hooked_id = plain.id, hooked.id
        await orders_per_second(database, plain_id, 50)  # warm-up, not counted
        without = await orders_per_second(database, plain_id, args.orders)
        with_hook = await orders_per_second(database, hooked_id, args.orders)
        print(f"order created, no webhook:      {without * 1000:.2f} ms each")
        print(f"order created, with a webhook:  {with_hook * 1000:.2f} ms each")

        worker = Worker(database, settings)
        worker.webhooks.concurrency = args.concurrency
        started = time.perf_counter()
        while await worker.webhooks.run_once():
            pass
        elapsed = time.perf_counter() - started
        await worker.close()
        parent.send("count")
        arrived = parent.recv()
        print(
            f"delivered {arrived} of {args.orders} in {elapsed:.2f} s: "
            f"{arrived / elapsed:.0f} deliveries/s (concurrency {args.concurrency})"
        )
    finally:
        parent.send("stop")
        process.join(5)
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()

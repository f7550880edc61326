"""What a web push costs: the CPU of encrypting one message and signing its VAPID token,
and how many pushes one notification worker delivers per second to a push service on
127.0.0.1 (aiohttp, in a process of its own, answering 201 like a real one).

    .venv/bin/python bench/push.py                      # SQLite in a temporary folder
    .venv/bin/python bench/push.py --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete

from orderstatus.config import Settings
from orderstatus.db import migrate
from orderstatus.db.engine import Database
from orderstatus.db.models import Notification, PushSubscription
from orderstatus.domain.inputs import OrderInput
from orderstatus.domain.notifications import Channel, Kind, Planned
from orderstatus.notify import outbox
from orderstatus.notify.webpush import Subscription, Vapid, encrypt
from orderstatus.notify.worker import Worker
from orderstatus.services.accounts import create_shop
from orderstatus.services.orders import create_order


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def device_keys() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point), b64url(os.urandom(16))


def push_service(port: int, results: Connection) -> None:
    """Takes every push with 201 and counts them; answers "count" over the pipe."""
    from aiohttp import web

    count = 0

    async def take(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(status=201)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/push/{device}", take)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        results.send("ready")
        while True:
            if results.poll():
                if results.recv() != "count":
                    break
                results.send(count)
            await asyncio.sleep(0.01)
        await runner.cleanup()

    asyncio.run(main())


def cpu_per_push(messages: int) -> None:
    p256dh, auth = device_keys()
    subscription = Subscription("https://fcm.googleapis.com/fcm/send/x", p256dh, auth)
    vapid = Vapid(b64url(os.urandom(32)), "mailto:ops@example.com")
    payload = b'{"title":"Your order #1001 is out for delivery","body":"Bring will deliver it today (Oslo).","url":"https://status.example/orders/abcdefghijklmnopqrstuvwxyzABCDEF?key=g2d.N1_ieVRnV2EoMv64","tag":"order-1001-7","lang":"en"}'
    started = time.process_time()
    for _ in range(messages):
        encrypt(payload, subscription)
        vapid.authorization(subscription.endpoint)
    spent = time.process_time() - started
    print(
        f"encrypt + VAPID header: {spent / messages * 1e6:.0f} µs CPU per push ({messages} pushes)"
    )


async def throughput(args: argparse.Namespace, folder: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    pipe, child = context.Pipe()
    service = context.Process(target=push_service, args=(port, child), daemon=True)
    service.start()
    assert pipe.recv() == "ready"
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    settings = Settings.from_env(
        {}, database_url=url, var_dir=str(folder / "var"), push_allow_private=True
    )
    database = Database(settings.database_url)
    try:
        await migrate.upgrade(database)
        async with database.write() as session:
            shop = await create_shop(session=session, handle="bench", name="Bench", currency="NOK")
            data = OrderInput.model_validate(
                {
                    "email": "kari@example.com",
                    "currency": "NOK",
                    "locale": "en",
                    "customer": {"first_name": "Kari"},
                    "shipping_address": {
                        "name": "Kari",
                        "address1": "Storgata 1",
                        "city": "Oslo",
                        "zip": "0155",
                        "country_code": "NO",
                    },
                    "payment": {"method": "card"},
                    "line_items": [{"title": "Mug", "quantity": 1, "price": "249"}],
                }
            )
            orders = [
                await create_order(session=session, shop=shop, data=data, actor="bench")
                for _ in range(args.count)
            ]
            await session.flush()
            devices = []
            for order in orders:
                p256dh, auth = device_keys()
                device = PushSubscription(
                    shop_id=shop.id,
                    order_id=order.id,
                    endpoint=f"http://127.0.0.1:{port}/push/{order.id}",
                    p256dh=p256dh,
                    auth=auth,
                )
                session.add(device)
                devices.append((order, device))
            await session.flush()
            for order, device in devices:
                await outbox.enqueue(
                    session,
                    shop_id=shop.id,
                    order_id=order.id,
                    fulfillment_id=None,
                    messages=[Planned(Kind.ORDER_CONFIRMATION, Channel.PUSH, str(device.id))],
                )
            # Only the pushes: the orders' e-mail confirmations are another bench's.
            await session.execute(delete(Notification).where(Notification.channel != "push"))
        worker = Worker(database, settings)
        started = time.perf_counter()
        done = await worker.drain(limit=600)
        spent = time.perf_counter() - started
        await worker.close()
        pipe.send("count")
        arrived = pipe.recv()
        print(
            f"one worker: {args.count} pushes in {spent:.2f} s = {args.count / spent:.0f} pushes/s"
            f" ({dict(done)}; the push service counted {arrived})"
        )
    finally:
        await database.dispose()
        pipe.send("stop")
        service.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--count", type=int, default=2000, help="pushes in the backlog")
    args = parser.parse_args()
    cpu_per_push(2000)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(throughput(args, Path(folder)))


if __name__ == "__main__":
    main()

"""Notifications when things go wrong: the SMTP server away for a while, a worker killed
in the middle of a batch, two workers on one PostgreSQL outbox. Every test counts at
the SMTP server: each message arrives exactly once.

Workers here are the real `orderstatus worker` program in processes of their own, so a
kill is a real SIGKILL.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Notification, Shop
from orderstatus.domain.inputs import OrderInput
from orderstatus.notify.worker import Worker, WorkerConfig
from orderstatus.services.orders import create_order as create_order_service
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.helpers import create_order
from tests.live import env_for, run, server
from tests.messaging import MailServer, wait_for

FAST = WorkerConfig(backoff_base=0.02, backoff_cap=0.1, lease=10, send_timeout=2)


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    box = await MailServer().start()
    yield box
    box.gate.set()
    await box.stop()


async def states(database: Database) -> Counter[str]:
    async with database.read() as session:
        rows = await session.execute(
            select(Notification.state, func.count()).group_by(Notification.state)
        )
        return Counter({state: int(count) for state, count in rows})


async def orders(database: Database, shop_id: int, count: int) -> None:
    """Many orders at once, each with its confirmation in the outbox."""
    async with database.write() as session:
        shop = await session.get_one(Shop, shop_id)
        for i in range(count):
            data = OrderInput.model_validate(order_payload(email=f"c{i}@example.com"))
            await create_order_service(session=session, shop=shop, data=data, actor="test")


class WorkerProcess:
    """`orderstatus worker` in a process of its own, logging to a file."""

    def __init__(self, database_url: str, mail: MailServer, log: Path, *args: str) -> None:
        self.env = env_for(
            database_url,
            ORDERSTATUS_SMTP_URL=mail.url,
            ORDERSTATUS_SMTP_FROM="orders@status.example.test",
        )
        self.args = args
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> WorkerProcess:
        with self.log.open("w") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "orderstatus",
                "worker",
                "--poll",
                "0.05",
                *self.args,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        return self

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, as an operator would; the number of messages it says it sent."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        output = self.log.read_text()
        assert code == 0, output
        found = re.search(r"worker stopped: (\d+) sent", output)
        assert found, output
        return int(found.group(1))


async def test_messages_wait_while_smtp_is_down_and_all_arrive_once_it_is_back(
    api: ShopClient, database: Database, settings: Settings, mail: MailServer
) -> None:
    for number in ("D1", "D2", "D3"):
        await create_order(api.http, number=number, email=f"{number.lower()}@example.com")
    await mail.stop()
    worker = Worker(database, settings.model_copy(update={"smtp_url": mail.url}), FAST)
    try:
        assert await worker.run_once() == 3
        async with database.read() as session:
            waiting = (await session.scalars(select(Notification))).all()
        assert {(n.state, n.attempts) for n in waiting} == {("pending", 1)}
        assert all(n.last_error and "SMTP" in n.last_error for n in waiting)
        await asyncio.sleep(0.2)  # the back-off (at most 0.1 s here) has passed
        assert await worker.run_once() == 3  # still down: tried again, still waiting
        await mail.start()
        done = await worker.drain(retries=True)
    finally:
        await worker.close()
    assert done == Counter({"sent": 3})
    assert sorted(r.recipients[0] for r in mail.received) == [
        "d1@example.com",
        "d2@example.com",
        "d3@example.com",
    ]
    assert set(mail.ids().values()) == {1}
    async with database.read() as session:
        tries = (await session.scalars(select(Notification.attempts))).all()
    assert sorted(tries) == [3, 3, 3]


async def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    api: ShopClient, database: Database, database_url: str, mail: MailServer, tmp_path: Path
) -> None:
    total = 30
    await orders(database, api.shop_id, total)
    # The server accepts a few, then keeps every later recipient waiting: the worker is
    # stuck in the middle of its batch with messages claimed, some sent, some not.
    mail.hold_rcpt = lambda box: len(box.received) >= 5
    first = await WorkerProcess(
        database_url, mail, tmp_path / "first.log", "--lease", "5", "--concurrency", "2"
    ).start()
    await wait_for(lambda: mail.waiting == 2, what="both connections held")
    accepted = len(mail.received)
    assert accepted >= 5
    await wait_for_sent(database, accepted)
    await first.kill()
    before = await states(database)
    assert before["sent"] == accepted and before["sending"] > 2
    assert sum(before.values()) == total

    mail.hold_rcpt = None
    mail.gate.set()
    second = WorkerProcess(database_url, mail, tmp_path / "second.log", "--lease", "5")
    await second.start()
    await wait_for_sent(database, total)
    sent_by_second = await second.stop()

    assert sent_by_second == total - accepted
    assert len(mail.received) == total
    assert set(mail.ids().values()) == {1}
    assert len({r.recipients[0] for r in mail.received}) == total
    async with database.read() as session:
        tries = Counter((await session.scalars(select(Notification.attempts))).all())
    # The rows the dead worker held count one try whose end nobody saw, then the real one.
    assert tries == {1: accepted, 2: total - accepted}


async def wait_for_sent(database: Database, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (await states(database))["sent"] < count:
        assert loop.time() < deadline, f"not {count} sent: {await states(database)}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_on_postgresql_never_send_the_same_row(
    api: ShopClient, database: Database, database_url: str, mail: MailServer, tmp_path: Path
) -> None:
    total = 200
    await orders(database, api.shop_id, total)
    # Nothing is accepted until both workers are connected, so they work side by side.
    mail.hold_rcpt = lambda box: box.sessions < 3
    workers = [
        await WorkerProcess(
            database_url,
            mail,
            tmp_path / f"worker{i}.log",
            "--lease",
            "30",
            "--concurrency",
            "2",
            "--batch",
            "20",
        ).start()
        for i in range(2)
    ]
    await wait_for(lambda: mail.sessions >= 3, what="both workers connected")
    mail.gate.set()
    await wait_for_sent(database, total)
    counts = [await w.stop() for w in workers]

    assert sum(counts) == total and min(counts) > 0
    assert len(mail.received) == total
    assert set(mail.ids().values()) == {1}
    assert (await states(database)) == Counter({"sent": total})


async def test_serve_on_sqlite_delivers_in_process(mail: MailServer, tmp_path: Path) -> None:
    """One command on SQLite: the web process also runs the worker."""
    env = env_for(f"sqlite:///{tmp_path}/shop.db", ORDERSTATUS_SMTP_URL=mail.url)
    assert run("migrate", env=env).returncode == 0
    assert run("create-shop", "--handle", "shop", "--currency", "NOK", env=env).returncode == 0
    key = run("create-api-key", "--shop", "shop", env=env).stdout.strip()
    with server("serve", env=env, cwd=tmp_path) as (base, _log):
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/api/v1/orders",
                json=order_payload(email="serve@example.com"),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 201, response.text
        await wait_for(lambda: len(mail.received) == 1, what="the confirmation")
    assert mail.received[0].recipients == ["serve@example.com"]

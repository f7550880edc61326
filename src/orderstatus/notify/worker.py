"""The worker: claims due outbox rows, renders them, sends them, records the outcome.

Delivery is at-least-once with a lease, made as close to exactly-once as SMTP allows:

1. **Claim** (one short transaction): due rows (``pending`` whose time has come, or
   ``sending`` whose lease ran out because their worker died) are taken with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already
   serialises writers), marked ``sending`` with a fresh ``claim_token`` and a lease in
   ``locked_until``, and committed. Two workers never hold the same row.
2. **Send** outside any transaction. A send only starts while the lease has more than
   twice the send timeout left, so a row is never sent by a worker whose lease could
   lapse during the send or before its outcome is recorded.
3. **Record** each outcome as soon as it is known, in small transactions, only where
   the row still carries this claim's token: ``sent``; ``pending`` again with an
   exponential, jittered back-off; ``failed`` after a permanent error or too many
   tries; ``held`` when no transport is configured for the channel (the mailbox).

A worker killed before step 3 leaves its rows ``sending``; when their lease runs out
another worker takes them. Messages whose SMTP transaction had not completed are sent
once, by that next worker. The one gap is a crash in the milliseconds between the SMTP
server's acceptance and the commit of ``sent``: that message goes again, with the same
Message-ID, which receiving systems use to drop the copy.

This module runs the loop; its parts are :mod:`~orderstatus.notify.leases` (claim and
record), :mod:`~orderstatus.notify.rendering` (a row made into its message) and
:mod:`~orderstatus.notify.transports` (SMTP and the SMS API); :mod:`~orderstatus.notify.jobs`
holds what they hand each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter

from sqlalchemy.exc import DBAPIError, OperationalError

from orderstatus.config import Settings, load_wallet_keys
from orderstatus.db.engine import Database
from orderstatus.domain.notifications import State
from orderstatus.notify import leases
from orderstatus.notify.email import sender_address
from orderstatus.notify.jobs import Job, Outcome, WorkerConfig
from orderstatus.notify.rendering import Composer, load
from orderstatus.notify.transports import Transports
from orderstatus.notify.wallet import WalletPusher

__all__ = ["BackgroundWorker", "Worker", "WorkerConfig", "start_in_background"]

log = logging.getLogger("orderstatus.notify")


class Worker:
    """Delivers the outbox. One per process; several processes on PostgreSQL."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        config: WorkerConfig | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.config = config or WorkerConfig()
        sender = sender_address(settings.smtp_from, settings.base_url)
        self.composer = Composer(settings, sender)
        self.transports = Transports(settings, self.config, sender, tls_context=tls_context)
        self.stats: Counter[str] = Counter()
        keys = load_wallet_keys(settings)
        self.wallet = (
            WalletPusher(database, keys, verify=tls_context or True) if keys is not None else None
        )
        """Apple Wallet pushes, their own outbox, delivered alongside (when set up).
        ``tls_context``: whom outgoing TLS connections trust (SMTP's and APNs')."""

    # -- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then hand back what was claimed but not
        started, finish the sends under way and record every outcome."""
        jobs: asyncio.Queue[Job | None] = asyncio.Queue()
        outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()
        room = asyncio.Event()
        half = max(1, self.config.batch_size // 2)

        async def sender() -> None:
            while True:
                job = await jobs.get()
                if job is None:
                    return
                if jobs.qsize() <= half:
                    room.set()
                outcomes.put_nowait(await self.transports.deliver(job))

        recorder = asyncio.create_task(self._recorder(outcomes))
        pushes = asyncio.create_task(self.wallet.run(stop)) if self.wallet else None
        senders = [asyncio.create_task(sender()) for _ in range(self.config.concurrency)]
        log.info("notification worker started (%s)", self.transports.describe())
        try:
            while not stop.is_set():
                room.clear()
                want = self.config.batch_size - jobs.qsize()
                if want >= half:
                    try:
                        ready, done = await self._claim_and_prepare(want)
                    except (OperationalError, DBAPIError, OSError) as exc:
                        log.warning("cannot claim notifications: %s", exc)
                        ready, done = [], []
                    except Exception:
                        log.exception("cannot claim notifications")
                        ready, done = [], []
                    for outcome in done:
                        outcomes.put_nowait(outcome)
                    for job in ready:
                        jobs.put_nowait(job)
                    if ready or done:
                        continue
                    await _wait(stop, None, self.config.poll_interval)
                else:
                    await _wait(stop, room, self.config.poll_interval)
        finally:
            while not jobs.empty():
                unsent = jobs.get_nowait()
                if unsent is not None:
                    outcomes.put_nowait(Outcome(unsent, State.PENDING, tried=False))
            for _ in senders:
                jobs.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
            outcomes.put_nowait(None)
            await recorder
            if pushes is not None:
                await pushes
            await self.close()
            log.info("notification worker stopped: %s", self.summary())

    async def drain(self, *, retries: bool = False, limit: float = 60.0) -> Counter[str]:
        """Deliver everything that is due, then return what happened. With ``retries``
        also wait for rows that are waiting to be tried again. For tests and scripts;
        a long-running worker uses :meth:`run`."""
        deadline = time.monotonic() + limit
        before = Counter(self.stats)
        while time.monotonic() < deadline:
            if await self.run_once():
                continue
            if not retries:
                break
            wait = await leases.next_due(self.database)
            if wait is None:
                break
            await asyncio.sleep(min(max(wait, 0.01), 1.0))
        done = Counter(self.stats)
        done.subtract(before)
        if self.wallet is not None:
            done.update({f"wallet_{k}": v for k, v in (await self.wallet.drain()).items()})
        return +done

    async def run_once(self) -> int:
        """Claim one batch, deliver it and record it; the number of rows handled."""
        ready, done = await self._claim_and_prepare(self.config.batch_size)
        results = list(done)
        results += await asyncio.gather(*(self.transports.deliver(job) for job in ready))
        if results:
            await self._record(results)
        return len(results)

    async def close(self) -> None:
        """Close the connections; they open again if the worker is used again."""
        await self.transports.close()
        if self.wallet is not None:
            await self.wallet.apns.close()

    def summary(self) -> str:
        states = ("sent", "held", "failed", "retry", "skipped", "released")
        return ", ".join(f"{self.stats[s]} {s}" for s in states)

    # -- claim and prepare ------------------------------------------------------------

    async def _claim_and_prepare(self, limit: int) -> tuple[list[Job], list[Outcome]]:
        """Claimed jobs ready to send, and outcomes already known (held, skipped, or a
        template that does not render)."""
        jobs = await leases.claim(self.database, limit, lease=self.config.lease)
        if not jobs:
            return [], []
        loaded = await load(self.database, jobs)
        ready: list[Job] = []
        done: list[Outcome] = []
        for index, job in enumerate(jobs):
            if index % 8 == 7:
                await asyncio.sleep(0)  # let the senders run between renders
            outcome = await self.composer.prepare(job, loaded)
            if outcome is not None:
                done.append(outcome)
            elif self.transports.configured(job.channel):
                ready.append(job)
            else:
                done.append(
                    Outcome(job, State.HELD, payload={**job.cause, **job.mailbox}, tried=False)
                )
        return ready, done

    # -- record -----------------------------------------------------------------------

    async def _recorder(self, outcomes: asyncio.Queue[Outcome | None]) -> None:
        """Write outcomes as they come, each batch what has queued up meanwhile, so the
        time between a server's acceptance and our record of it stays a few ms."""
        finished = False
        while not finished:
            batch: list[Outcome] = []
            item = await outcomes.get()
            while True:
                if item is None:
                    finished = True
                else:
                    batch.append(item)
                if outcomes.empty():
                    break
                item = outcomes.get_nowait()
            if batch:
                await self._record_until_done(batch, give_up=finished)

    async def _record_until_done(self, batch: list[Outcome], *, give_up: bool) -> None:
        """A database that is away for a moment must not lose outcomes: keep trying
        (rows stay claimed meanwhile, so nobody else sends them)."""
        delay = 0.1
        for _ in range(5 if give_up else 1_000_000):
            try:
                await self._record(batch)
                return
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("cannot record %d notification outcomes: %s", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        log.error("gave up recording %d outcomes; their leases will expire", len(batch))

    async def _record(self, outcomes: list[Outcome]) -> None:
        await leases.record(self.database, outcomes, self.stats)


async def _wait(stop: asyncio.Event, other: asyncio.Event | None, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait())]
    if other is not None:
        waiters.append(asyncio.create_task(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


class BackgroundWorker:
    """A worker run as a task of another process's event loop (``serve`` and ``demo``
    on SQLite, where the one writer process also delivers the outbox)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(worker.run(self._stop), name="notification-worker")

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def start_in_background(database: Database, settings: Settings) -> BackgroundWorker:
    return BackgroundWorker(Worker(database, settings))

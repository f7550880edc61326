"""The worker: claims due outbox rows, renders them, sends them, records the outcome.

Delivery is at-least-once with a lease, made as close to exactly-once as SMTP allows:

1. **Claim** (one short transaction): due rows (``pending`` whose time has come, or
   ``sending`` whose lease ran out because their worker died) are taken with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already
   serialises writers), marked ``sending`` with a fresh ``claim_token`` and a lease in
   ``locked_until``, and committed. Two workers never hold the same row.
2. **Send** outside any transaction. A send only starts while the lease has more than
   the send timeout left, so a row is never sent by a worker whose lease could lapse
   during the send.
3. **Record** each outcome as soon as it is known, in small transactions, only where
   the row still carries this claim's token: ``sent``; ``pending`` again with an
   exponential, jittered back-off; ``failed`` after a permanent error or too many
   tries; ``held`` when no transport is configured for the channel (the mailbox).

A worker killed before step 3 leaves its rows ``sending``; when their lease runs out
another worker takes them. Messages whose SMTP transaction had not completed are sent
once, by that next worker. The one gap is a crash in the milliseconds between the SMTP
server's acceptance and the commit of ``sent``: that message goes again, with the same
Message-ID, which receiving systems use to drop the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import aliased, selectinload

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import (
    Activity,
    Fulfillment,
    Notification,
    NotificationTemplate,
    Order,
    Shop,
    TrackingEvent,
)
from orderstatus.domain.inputs import display_phone
from orderstatus.domain.notifications import KIND_LABELS, Channel, Kind, State
from orderstatus.notify import context as ctx
from orderstatus.notify.email import (
    DeliveryError,
    SmtpConfig,
    SmtpConnection,
    build_message,
    message_bytes,
    message_id,
    sender_address,
)
from orderstatus.notify.sandbox import sandbox
from orderstatus.notify.sms import SmsConfig, SmsSender
from orderstatus.notify.templates import (
    RenderedSms,
    Renderer,
    TemplateError,
    TemplateSource,
    default_source,
    language_of,
)

log = logging.getLogger("orderstatus.notify")

CHANNEL_WORDS = {Channel.EMAIL: "e-mail", Channel.SMS: "SMS"}
CAUSE_KEYS = frozenset({"status", "event_id"})
"""What the outbox keeps in a row's payload before it is sent (outbox.enqueue)."""


_CONFIRMATION = aliased(Notification)
_NOT_BEFORE_CONFIRMATION = or_(
    Notification.kind == Kind.ORDER_CONFIRMATION.value,
    ~exists().where(
        _CONFIRMATION.order_id == Notification.order_id,
        _CONFIRMATION.channel == Notification.channel,
        _CONFIRMATION.kind == Kind.ORDER_CONFIRMATION.value,
        _CONFIRMATION.state.in_([State.PENDING.value, State.SENDING.value]),
    ),
)
"""An order's other messages wait while its confirmation on the same channel is still
to be sent (or retried): the customer hears of the order before of its shipments."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How hard one worker works. The defaults suit a production SMTP relay."""

    batch_size: int = 50
    """Rows claimed at a time (refilled when half are taken)."""
    concurrency: int = 8
    """Messages in flight at once: SMTP connections kept open, SMS requests."""
    lease: float = 120.0
    """Seconds a claim lasts; after that another worker may take the row."""
    send_timeout: float = 30.0
    """Longest one send may take; a send starts only with this much lease left."""
    poll_interval: float = 0.25
    """Seconds between looks for due rows when there is nothing to do."""
    max_attempts: int = 10
    backoff_base: float = 30.0
    """First retry after about this many seconds, doubling each time…"""
    backoff_cap: float = 3600.0
    """…up to this: ten tries span about four hours."""

    def __post_init__(self) -> None:
        if min(self.lease, self.send_timeout, self.poll_interval) <= 0:
            raise ValueError("the lease and the timeouts must be positive")
        if self.send_timeout * 2 > self.lease:
            raise ValueError("the lease must be at least twice the send timeout")
        if self.batch_size < 1 or self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("batch size, concurrency and attempts must be positive")


def backoff(attempt: int, *, base: float, cap: float, rand: float | None = None) -> float:
    """Seconds to wait after failed try number ``attempt`` (1, 2, …): exponential with
    "equal jitter", so retries after an outage do not all arrive at once."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + (random.random() if rand is None else rand) * delay / 2  # noqa: S311


@dataclass(slots=True)
class Job:
    """One claimed row, rendered and ready to go."""

    id: int
    token: str
    attempts: int
    kind: Kind
    channel: Channel
    recipient: str
    key: str
    shop_id: int
    order_id: int
    fulfillment_id: int | None
    created_at: datetime
    deadline: float
    """time.monotonic() at which our lease ends."""
    payload: dict[str, Any] | None = None
    last_error: str | None = None
    cause: dict[str, Any] = field(default_factory=dict)
    """What made the message (the shipment's status then, and the event), kept by the outbox."""
    email: bytes | None = None
    sms: RenderedSms | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    """What the row keeps after sending (subject, Message-ID)."""
    mailbox: dict[str, Any] = field(default_factory=dict)
    """The whole rendered message, kept when it is held instead of sent."""


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    state: State
    error: str | None = None
    payload: dict[str, Any] | None = None
    retry_at: datetime | None = None
    tried: bool = True
    """False when the row goes back untouched (released at shutdown, lease too short)."""


@dataclass(slots=True)
class _Loaded:
    orders: dict[int, ctx.OrderFacts]
    shops: dict[int, ctx.ShopFacts]
    shipments: dict[int, ctx.ShipmentFacts]
    events: dict[int, ctx.EventFacts]
    templates: dict[tuple[int, str, str], TemplateSource]


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
        self.sender = sender_address(settings.smtp_from, settings.base_url)
        self.smtp = SmtpConfig.from_url(settings.smtp_url) if settings.smtp_url else None
        self.sms = (
            SmsSender(
                SmsConfig.from_url(settings.sms_url, settings.sms_from),
                timeout=self.config.send_timeout,
            )
            if settings.sms_url and settings.sms_from
            else None
        )
        self._secret_key = settings.resolved_secret_key() if settings.link_days else None
        self.renderer = Renderer()
        """The package's own templates, rendered in place."""
        self.sandbox = sandbox
        """The shop's own templates, rendered apart with a time budget."""
        self.stats: Counter[str] = Counter()
        self._connections: asyncio.Queue[SmtpConnection] = asyncio.Queue()
        if self.smtp is not None:
            for _ in range(self.config.concurrency):
                self._connections.put_nowait(
                    SmtpConnection(
                        self.smtp, timeout=self.config.send_timeout, tls_context=tls_context
                    )
                )

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
                outcomes.put_nowait(await self._deliver(job))

        recorder = asyncio.create_task(self._recorder(outcomes))
        senders = [asyncio.create_task(sender()) for _ in range(self.config.concurrency)]
        log.info("notification worker started (%s)", self._transports())
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
            wait = await self._next_due()
            if wait is None:
                break
            await asyncio.sleep(min(max(wait, 0.01), 1.0))
        done = Counter(self.stats)
        done.subtract(before)
        return +done

    async def run_once(self) -> int:
        """Claim one batch, deliver it and record it; the number of rows handled."""
        ready, done = await self._claim_and_prepare(self.config.batch_size)
        results = list(done)
        results += await asyncio.gather(*(self._deliver(job) for job in ready))
        if results:
            await self._record(results)
        return len(results)

    async def close(self) -> None:
        """Close the connections; they open again if the worker is used again."""
        idle = [self._connections.get_nowait() for _ in range(self._connections.qsize())]
        for connection in idle:
            await connection.close()
            self._connections.put_nowait(connection)
        if self.sms is not None:
            await self.sms.close()

    def summary(self) -> str:
        states = ("sent", "held", "failed", "retry", "skipped", "released")
        return ", ".join(f"{self.stats[s]} {s}" for s in states)

    def _transports(self) -> str:
        email = f"SMTP {self.smtp.host}:{self.smtp.port}" if self.smtp else "no SMTP: kept"
        sms = "SMS API" if self.sms else "no SMS API: kept"
        return f"{email}; {sms}"

    # -- claim ------------------------------------------------------------------------

    def _due(self, now: datetime) -> Any:
        return (
            Notification.state.in_([State.PENDING.value, State.SENDING.value]),
            Notification.next_attempt_at <= now,
            _NOT_BEFORE_CONFIRMATION,
        )

    async def _next_due(self) -> float | None:
        async with self.database.read() as session:
            when = await session.scalar(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.state.in_([State.PENDING.value, State.SENDING.value])
                )
            )
        if when is None:
            return None
        return (when - datetime.now(UTC)).total_seconds()

    async def _claim(self, limit: int) -> list[Job]:
        now = datetime.now(UTC)
        async with self.database.read() as session:
            anything = await session.scalar(select(Notification.id).where(*self._due(now)).limit(1))
        if anything is None:
            return []
        started = time.monotonic()
        token = secrets.token_hex(16)
        until = now + timedelta(seconds=self.config.lease)
        async with self.database.write() as session:
            ids = (
                await session.scalars(
                    select(Notification.id)
                    .where(*self._due(now))
                    .order_by(Notification.next_attempt_at, Notification.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids))
                    .values(
                        state=State.SENDING.value,
                        claim_token=token,
                        locked_until=until,
                        next_attempt_at=until,
                        # A lease that ran out means a try whose end nobody saw.
                        attempts=case(
                            (Notification.state == State.SENDING.value, Notification.attempts + 1),
                            else_=Notification.attempts,
                        ),
                    )
                    .returning(
                        Notification.id,
                        Notification.attempts,
                        Notification.kind,
                        Notification.channel,
                        Notification.recipient,
                        Notification.idempotency_key,
                        Notification.shop_id,
                        Notification.order_id,
                        Notification.fulfillment_id,
                        Notification.created_at,
                        Notification.payload,
                        Notification.last_error,
                    )
                )
            ).all()
        deadline = started + self.config.lease
        return [
            Job(
                id=r.id,
                token=token,
                attempts=r.attempts,
                kind=Kind(r.kind),
                channel=Channel(r.channel),
                recipient=r.recipient,
                key=r.idempotency_key,
                shop_id=r.shop_id,
                order_id=r.order_id,
                fulfillment_id=r.fulfillment_id,
                created_at=r.created_at,
                deadline=deadline,
                cause={k: v for k, v in (r.payload or {}).items() if k in CAUSE_KEYS},
                payload=r.payload,
                last_error=r.last_error,
            )
            for r in sorted(rows, key=lambda r: r.id)
        ]

    async def _claim_and_prepare(self, limit: int) -> tuple[list[Job], list[Outcome]]:
        """Claimed jobs ready to send, and outcomes already known (held, skipped, or a
        template that does not render)."""
        jobs = await self._claim(limit)
        if not jobs:
            return [], []
        loaded = await self._load(jobs)
        ready: list[Job] = []
        done: list[Outcome] = []
        for index, job in enumerate(jobs):
            if index % 8 == 7:
                await asyncio.sleep(0)  # let the senders run between renders
            outcome = await self._prepare(job, loaded)
            if outcome is not None:
                done.append(outcome)
            elif self._transport_for(job.channel):
                ready.append(job)
            else:
                done.append(
                    Outcome(job, State.HELD, payload={**job.cause, **job.mailbox}, tried=False)
                )
        return ready, done

    def _transport_for(self, channel: Channel) -> bool:
        return (self.smtp if channel is Channel.EMAIL else self.sms) is not None

    # -- render -----------------------------------------------------------------------

    async def _load(self, jobs: Sequence[Job]) -> _Loaded:
        order_ids = {j.order_id for j in jobs}
        shop_ids = {j.shop_id for j in jobs}
        shipment_ids = {j.fulfillment_id for j in jobs if j.fulfillment_id is not None}
        async with self.database.read() as session:
            orders = (
                await session.scalars(
                    select(Order)
                    .where(Order.id.in_(order_ids))
                    .options(selectinload(Order.line_items))
                )
            ).all()
            shops = (await session.scalars(select(Shop).where(Shop.id.in_(shop_ids)))).all()
            fulfillments: Sequence[Fulfillment] = []
            latest: dict[int, TrackingEvent] = {}
            if shipment_ids:
                fulfillments = (
                    await session.scalars(
                        select(Fulfillment)
                        .where(Fulfillment.id.in_(shipment_ids))
                        .options(selectinload(Fulfillment.items))
                    )
                ).all()
                events = await session.scalars(
                    select(TrackingEvent)
                    .where(TrackingEvent.fulfillment_id.in_(shipment_ids))
                    .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())
                )
                for event in events:
                    latest.setdefault(event.fulfillment_id, event)
            event_ids = {j.cause["event_id"] for j in jobs if j.cause.get("event_id")}
            causes: Sequence[TrackingEvent] = []
            if event_ids:
                causes = (
                    await session.scalars(
                        select(TrackingEvent).where(TrackingEvent.id.in_(event_ids))
                    )
                ).all()
            templates = (
                await session.scalars(
                    select(NotificationTemplate).where(
                        NotificationTemplate.shop_id.in_(shop_ids),
                        NotificationTemplate.kind.in_({j.kind.value for j in jobs}),
                    )
                )
            ).all()
        return _Loaded(
            orders={o.id: order_facts(o) for o in orders},
            shops={s.id: shop_facts(s) for s in shops},
            shipments={f.id: shipment_facts(f, latest.get(f.id)) for f in fulfillments},
            events={e.id: event_facts(e) for e in causes},
            templates={
                (t.shop_id, t.kind, t.locale): TemplateSource(t.subject, t.text, t.html, t.sms)
                for t in templates
            },
        )

    def _rights(self) -> ctx.LinkRights:
        """Links in messages rendered now open the owner's view from now on for the
        configured days."""
        return ctx.LinkRights(self._secret_key, self.settings.link_days, datetime.now(UTC))

    async def _prepare(self, job: Job, loaded: _Loaded) -> Outcome | None:
        """Render the job in place; an outcome when it must not be sent."""
        order = loaded.orders.get(job.order_id)
        shop = loaded.shops.get(job.shop_id)
        shipment = loaded.shipments.get(job.fulfillment_id) if job.fulfillment_id else None
        if order is None or shop is None or (job.fulfillment_id and shipment is None):
            return Outcome(job, State.SKIPPED, error="the order or shipment no longer exists")
        if shipment is not None and shipment.cancelled:
            return Outcome(job, State.SKIPPED, error="the shipment was cancelled")
        if shipment is not None and job.kind is Kind.SHIPPING_CONFIRMATION:
            shipment = replace(shipment, latest_event=None)
        elif shipment is not None and job.cause.get("status"):
            event = loaded.events.get(job.cause.get("event_id") or 0)
            shipment = replace(
                shipment,
                status=str(job.cause["status"]),
                latest_event=event or shipment.latest_event,
            )
        language = language_of(order.locale, shop.default_locale)
        own = loaded.templates.get((job.shop_id, job.kind.value, language))
        source = own or default_source(job.kind, language)
        try:
            values = ctx.build(
                kind=job.kind,
                language=language,
                order=order,
                shop=shop,
                shipment=shipment,
                base_url=self.settings.base_url,
                rights=self._rights(),
            )
            if job.channel is Channel.SMS:
                job.sms = (
                    await self.sandbox.sms(source, values)
                    if own
                    else self.renderer.sms(source, values)
                )
                sms_from = self.settings.sms_from or ""
                job.summary = {"body": job.sms.body, "segments": job.sms.segments}
                job.mailbox = {
                    "from": sms_from,
                    "to": job.recipient,
                    "body": job.sms.body,
                    "encoding": job.sms.encoding,
                    "segments": job.sms.segments,
                }
                return None
            rendered = (
                await self.sandbox.email(source, values)
                if own
                else self.renderer.email(source, values)
            )
        except TemplateError as exc:
            return Outcome(job, State.FAILED, error=str(exc))
        except Exception as exc:
            log.exception("cannot render notification %d", job.id)
            return Outcome(job, State.FAILED, error=f"cannot render: {type(exc).__name__}: {exc}")
        mid = message_id(job.key, job.created_at, self.sender)
        message = build_message(
            rendered,
            sender=self.sender,
            sender_name=shop.name,
            recipient=job.recipient,
            reply_to=shop.contact_email,
            message_id=mid,
            language=language,
        )
        job.email = message_bytes(message)
        job.summary = {"subject": rendered.subject, "message_id": mid}
        job.mailbox = {
            "from": formataddr((shop.name, self.sender)),
            "to": job.recipient,
            "reply_to": shop.contact_email,
            "subject": rendered.subject,
            "text": rendered.text,
            "html": rendered.html,
            "message_id": mid,
            "date": str(message["Date"]),
        }
        return None

    # -- send -------------------------------------------------------------------------

    async def _deliver(self, job: Job) -> Outcome:
        if time.monotonic() + self.config.send_timeout >= job.deadline:
            # Too little of the lease is left to be sure nobody else sends it meanwhile.
            return Outcome(job, State.PENDING, tried=False)
        try:
            async with asyncio.timeout(self.config.send_timeout):
                if job.channel is Channel.SMS:
                    assert self.sms is not None and job.sms is not None
                    answer = await self.sms.send(
                        to=job.recipient, body=job.sms.body, idempotency_key=job.key
                    )
                    return Outcome(job, State.SENT, payload={**job.cause, **job.summary, **answer})
                assert job.email is not None
                connection = await self._connections.get()
                try:
                    await connection.send(job.email, sender=self.sender, recipient=job.recipient)
                finally:
                    self._connections.put_nowait(connection)
        except DeliveryError as exc:
            return self._failure(job, str(exc), permanent=exc.permanent)
        except TimeoutError:
            return self._failure(job, f"no answer within {self.config.send_timeout:g} s")
        except Exception as exc:
            log.exception("cannot send notification %d", job.id)
            return self._failure(job, f"{type(exc).__name__}: {exc}")
        return Outcome(job, State.SENT, payload={**job.cause, **job.summary})

    def _failure(self, job: Job, error: str, *, permanent: bool = False) -> Outcome:
        tries = job.attempts + 1
        if permanent:
            return Outcome(job, State.FAILED, error=error)
        if tries >= self.config.max_attempts:
            return Outcome(job, State.FAILED, error=f"gave up after {tries} tries: {error}")
        wait = backoff(tries, base=self.config.backoff_base, cap=self.config.backoff_cap)
        return Outcome(
            job, State.PENDING, error=error, retry_at=datetime.now(UTC) + timedelta(seconds=wait)
        )

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

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        """Two statements whatever the batch: lock the rows this worker still holds,
        then update them (and add their timeline lines) with executemany."""
        now = datetime.now(UTC)
        table = cast(Table, Notification.__table__)
        async with self.database.write() as session:
            rows = await session.execute(
                select(Notification.id, Notification.claim_token)
                .where(
                    Notification.id.in_([o.job.id for o in outcomes]),
                    Notification.state == State.SENDING.value,
                )
                .with_for_update()
            )
            holding = {row.id: row.claim_token for row in rows}
            changes: list[dict[str, Any]] = []
            activities: list[dict[str, Any]] = []
            for outcome in outcomes:
                job = outcome.job
                if holding.get(job.id) != job.token:
                    log.warning("notification %d was claimed again before we recorded it", job.id)
                    continue
                retry = outcome.state is State.PENDING
                changes.append(
                    {
                        "b_id": job.id,
                        "b_state": outcome.state.value,
                        "b_attempts": job.attempts + (1 if outcome.tried else 0),
                        "b_next": (outcome.retry_at or now) if retry else now,
                        "b_error": outcome.error or (job.last_error if retry else None),
                        "b_sent": now if outcome.state is State.SENT else None,
                        "b_payload": job.payload if outcome.payload is None else outcome.payload,
                    }
                )
                self.stats[outcome_name(outcome)] += 1
                note = activity_message(outcome)
                if note is not None:
                    activities.append(
                        {
                            "shop_id": job.shop_id,
                            "order_id": job.order_id,
                            "kind": f"notification_{outcome.state.value}",
                            "actor": "system",
                            "message": note,
                            "data": {"notification_id": job.id},
                            "created_at": now,
                        }
                    )
            if changes:
                await session.execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"))
                    .values(
                        state=bindparam("b_state"),
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        sent_at=bindparam("b_sent"),
                        payload=bindparam("b_payload"),
                        locked_until=None,
                        claim_token=None,
                    ),
                    changes,
                )
            if activities:
                await session.execute(insert(cast(Table, Activity.__table__)), activities)


def outcome_name(outcome: Outcome) -> str:
    if outcome.state is State.PENDING:
        return "retry" if outcome.tried else "released"
    return outcome.state.value


def activity_message(outcome: Outcome) -> str | None:
    """The line the order's timeline shows for an outcome staff should know about."""
    job = outcome.job
    what = f"{KIND_LABELS[job.kind]} {CHANNEL_WORDS[job.channel]}"
    to = display_phone(job.recipient) if job.channel is Channel.SMS else job.recipient
    if outcome.state is State.SENT:
        return f"{what} sent to {to}"
    if outcome.state is State.FAILED:
        return f"{what} to {to} failed: {outcome.error}"
    if outcome.state is State.HELD:
        missing = "SMTP server" if job.channel is Channel.EMAIL else "SMS provider"
        return f"{what} to {to} kept in the mailbox (no {missing} configured)"
    if outcome.state is State.SKIPPED:
        return f"{what} to {to} not sent: {outcome.error}"
    return None


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


# -- facts from rows (plain values the renderer can hold after the session closes) ----


def order_facts(order: Order) -> ctx.OrderFacts:
    address = order.shipping_address or {}
    return ctx.OrderFacts(
        id=order.id,
        number=order.number,
        status_token=order.status_token,
        locale=order.locale,
        currency=order.currency,
        first_name=order.customer_first_name,
        last_name=order.customer_last_name,
        phone=order.phone,
        created_at=order.created_at,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        taxes_included=order.taxes_included,
        total=order.total,
        fulfillment_status=order.fulfillment_status,
        shipping_zip=address.get("zip"),
        shipping_country=address.get("country_code"),
        items=[
            ctx.ItemFacts(i.id, i.title, i.variant, i.quantity, i.unit_price, i.image_url)
            for i in order.line_items
        ],
    )


def shop_facts(shop: Shop) -> ctx.ShopFacts:
    return ctx.ShopFacts(
        name=shop.name,
        handle=shop.handle,
        logo_path=shop.logo_path,
        accent_color=shop.accent_color,
        contact_email=shop.contact_email,
        website_url=shop.website_url,
        timezone=shop.timezone,
        default_locale=shop.default_locale,
    )


def event_facts(event: TrackingEvent) -> ctx.EventFacts:
    return ctx.EventFacts(
        event.status, event.occurred_at, event.message, event.city, event.country_code
    )


def shipment_facts(fulfillment: Fulfillment, latest: TrackingEvent | None) -> ctx.ShipmentFacts:
    return ctx.ShipmentFacts(
        id=fulfillment.id,
        status=fulfillment.status,
        carrier_code=fulfillment.carrier_code,
        tracking_number=fulfillment.tracking_number,
        tracking_url=fulfillment.tracking_url,
        estimated_delivery=fulfillment.estimated_delivery,
        items=[(i.line_item_id, i.quantity) for i in fulfillment.items],
        latest_event=event_facts(latest) if latest is not None else None,
        cancelled=fulfillment.cancelled_at is not None,
    )


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

"""The outbox rows a worker holds: the claim that takes due rows under a lease (step 1 of
:mod:`orderstatus.notify.worker`), and the record of their outcomes (step 3), written only
where a row still carries the claim's token."""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from orderstatus import metrics
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Notification, PushSubscription
from orderstatus.domain.inputs import display_phone
from orderstatus.domain.notifications import KIND_LABELS, Channel, Kind, State
from orderstatus.domain.webhooks import Topic
from orderstatus.notify.jobs import Job, Outcome
from orderstatus.notify.webhooks import WebhookEvent, publish

log = logging.getLogger("orderstatus.notify")

CHANNEL_WORDS = {Channel.EMAIL: "e-mail", Channel.SMS: "SMS", Channel.PUSH: "push"}
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


def _due(now: datetime) -> Any:
    return (
        Notification.state.in_([State.PENDING.value, State.SENDING.value]),
        Notification.next_attempt_at <= now,
        _NOT_BEFORE_CONFIRMATION,
    )


async def next_due(database: Database) -> float | None:
    """Seconds until the next row is due (or overdue: negative); None for none."""
    async with database.read() as session:
        when = await session.scalar(
            select(func.min(Notification.next_attempt_at)).where(
                Notification.state.in_([State.PENDING.value, State.SENDING.value])
            )
        )
    if when is None:
        return None
    return (when - datetime.now(UTC)).total_seconds()


async def claim(database: Database, limit: int, *, lease: float) -> list[Job]:
    """Up to ``limit`` due rows, held by this claim for ``lease`` seconds."""
    now = datetime.now(UTC)
    async with database.read() as session:
        anything = await session.scalar(select(Notification.id).where(*_due(now)).limit(1))
    if anything is None:
        return []
    started = time.monotonic()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=lease)
    async with database.write() as session:
        ids = (
            await session.scalars(
                select(Notification.id)
                .where(*_due(now))
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
    deadline = started + lease
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


async def record(database: Database, outcomes: Sequence[Outcome], stats: Counter[str]) -> None:
    """Two statements whatever the batch: lock the rows this worker still holds,
    then update them (and add their timeline lines) with executemany. ``stats``
    counts the outcomes recorded by :func:`outcome_name`."""
    now = datetime.now(UTC)
    table = cast(Table, Notification.__table__)
    async with database.write() as session:
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
        recorded: list[Outcome] = []
        gone: list[int] = []
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
            stats[outcome_name(outcome)] += 1
            recorded.append(outcome)
            if outcome.device_gone and job.recipient.isdigit():
                gone.append(int(job.recipient))
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
        await publish(
            session,
            [
                WebhookEvent(
                    Topic.NOTIFICATION_FAILED,
                    shop_id=o.job.shop_id,
                    order_id=o.job.order_id,
                    fulfillment_id=o.job.fulfillment_id,
                    extra={
                        "notification": {
                            "id": o.job.id,
                            "kind": o.job.kind.value,
                            "channel": o.job.channel.value,
                            "attempts": o.job.attempts + (1 if o.tried else 0),
                        }
                    },
                )
                for o in recorded
                if o.state is State.FAILED
            ],
        )
        if gone:
            await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    for outcome in recorded:
        log_delivery(outcome)


def outcome_name(outcome: Outcome) -> str:
    if outcome.state is State.PENDING:
        return "retry" if outcome.tried else "released"
    return outcome.state.value


def log_delivery(outcome: Outcome) -> None:
    """One line and one count per recorded outcome: the outbox id and the result, never
    the recipient or the error text (which may quote an address)."""
    job, result = outcome.job, outcome_name(outcome)
    metrics.notification_recorded(job.channel.value, result)
    fields = {"outbox_id": job.id, "kind": job.kind.value, "channel": job.channel.value}
    log.info(
        "notification %d (%s, %s): %s",
        job.id,
        job.kind.value,
        job.channel.value,
        result,
        extra={**fields, "result": result},
    )


def recipient_words(channel: Channel, recipient: str) -> str:
    """Who a message went to, as staff read it: an address, a phone number, a device."""
    if channel is Channel.SMS:
        return display_phone(recipient)
    if channel is Channel.PUSH:
        return f"device {recipient}"
    return recipient


def activity_message(outcome: Outcome) -> str | None:
    """The line the order's timeline shows for an outcome staff should know about."""
    job = outcome.job
    what = f"{KIND_LABELS[job.kind]} {CHANNEL_WORDS[job.channel]}"
    to = recipient_words(job.channel, job.recipient)
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

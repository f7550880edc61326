"""What the worker's parts hand each other: its settings, a claimed row (a job) and what
became of it (an outcome)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderstatus.domain.notifications import Channel, Kind, State
from orderstatus.notify.templates import RenderedSms
from orderstatus.notify.webpush import Subscription


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
    """Longest one send may take; a send starts only with twice this much lease left (the
    send, then recording its outcome)."""
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
        if self.send_timeout * 3 > self.lease:
            raise ValueError("the lease must be at least three times the send timeout")
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
    push: bytes | None = None
    """The push message before encryption (JSON)."""
    device: Subscription | None = None
    """Where the push goes."""
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
    device_gone: bool = False
    """The push service forgot the device: its subscription is deleted with the record."""

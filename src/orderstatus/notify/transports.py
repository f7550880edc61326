"""The e-mail and SMS senders a worker sends through (step 2 of
:mod:`orderstatus.notify.worker`), and what a send's result means for the row: sent, tried
again later with back-off, or failed for good."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import UTC, datetime, timedelta

from orderstatus.config import Settings
from orderstatus.domain.notifications import Channel, State
from orderstatus.notify.email import DeliveryError, SmtpConfig, SmtpConnection
from orderstatus.notify.jobs import Job, Outcome, WorkerConfig, backoff
from orderstatus.notify.sms import SmsConfig, SmsSender
from orderstatus.notify.webpush import PushSender, SubscriptionGone, Vapid, default_subject

RECORD_ROOM = 2
"""A send starts only with this many send timeouts of lease left: one for the send, one
for recording what became of it on a busy database."""
log = logging.getLogger("orderstatus.notify")


class Transports:
    """An SMTP connection per message in flight, the SMS API and the push services; the
    first two may be missing (their messages are then kept in the mailbox). Push needs
    nothing but our VAPID key, which is always there."""

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        sender: str,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.sender = sender
        self.smtp = SmtpConfig.from_url(settings.smtp_url) if settings.smtp_url else None
        self.sms = (
            SmsSender(
                SmsConfig.from_url(settings.sms_url, settings.sms_from),
                timeout=self.config.send_timeout,
            )
            if settings.sms_url and settings.sms_from
            else None
        )
        self.push = PushSender(
            Vapid(
                settings.resolved_vapid_key(),
                settings.vapid_subject or default_subject(settings.base_url, sender),
            ),
            timeout=self.config.send_timeout,
            allow_private=settings.push_allow_private,
            verify=tls_context or True,
        )
        self._connections: asyncio.Queue[SmtpConnection] = asyncio.Queue()
        if self.smtp is not None:
            for _ in range(self.config.concurrency):
                self._connections.put_nowait(
                    SmtpConnection(
                        self.smtp, timeout=self.config.send_timeout, tls_context=tls_context
                    )
                )

    def describe(self) -> str:
        email = f"SMTP {self.smtp.host}:{self.smtp.port}" if self.smtp else "no SMTP: kept"
        sms = "SMS API" if self.sms else "no SMS API: kept"
        return f"{email}; {sms}; web push"

    def configured(self, channel: Channel) -> bool:
        if channel is Channel.PUSH:
            return True
        return (self.smtp if channel is Channel.EMAIL else self.sms) is not None

    async def close(self) -> None:
        """Close the connections; they open again if used again."""
        idle = [self._connections.get_nowait() for _ in range(self._connections.qsize())]
        for connection in idle:
            await connection.close()
            self._connections.put_nowait(connection)
        if self.sms is not None:
            await self.sms.close()
        await self.push.close()

    async def deliver(self, job: Job) -> Outcome:
        """Send the job; what became of it."""
        if time.monotonic() + self.config.send_timeout * RECORD_ROOM >= job.deadline:
            # Too little of the lease is left for the send and for recording its outcome:
            # another worker could take the row and send it again meanwhile.
            return Outcome(job, State.PENDING, tried=False)
        try:
            async with asyncio.timeout(self.config.send_timeout):
                if job.channel is Channel.SMS:
                    assert self.sms is not None and job.sms is not None
                    answer = await self.sms.send(
                        to=job.recipient, body=job.sms.body, idempotency_key=job.key
                    )
                    return Outcome(job, State.SENT, payload={**job.cause, **job.summary, **answer})
                if job.channel is Channel.PUSH:
                    assert job.device is not None and job.push is not None
                    answer = await self.push.send(job.device, job.push)
                    return Outcome(job, State.SENT, payload={**job.cause, **job.summary, **answer})
                assert job.email is not None
                connection = await self._connections.get()
                try:
                    await connection.send(job.email, sender=self.sender, recipient=job.recipient)
                finally:
                    self._connections.put_nowait(connection)
        except SubscriptionGone as exc:
            return Outcome(job, State.FAILED, error=str(exc), device_gone=True)
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

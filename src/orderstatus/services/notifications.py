"""What staff do with notifications: see them, send a failed one again, read the mailbox
of messages kept while no SMTP server or SMS provider is configured, choose which
kinds go out, and edit the wording."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Notification, NotificationTemplate, Shop
from orderstatus.domain.errors import Conflict, Invalid, NotFound
from orderstatus.domain.notifications import (
    KIND_LABELS,
    OPT_IN,
    RESENDABLE,
    Channel,
    Kind,
    State,
    parse_kinds,
)
from orderstatus.metrics import Backlog
from orderstatus.notify import context as ctx
from orderstatus.notify import email
from orderstatus.notify.leases import recipient_words
from orderstatus.notify.outbox import preferences
from orderstatus.notify.rendering import shop_facts
from orderstatus.notify.sandbox import sandbox
from orderstatus.notify.templates import (
    LANGUAGES,
    RenderedEmail,
    RenderedSms,
    TemplateError,
    TemplateSource,
    default_source,
)
from orderstatus.services.admin_records import HeldRow, held_row
from orderstatus.services.push import ChannelCounts, channel_counts

MAILBOX_PAGE = 50
BACKLOG_TIMEOUT_MS = 2000


async def outbox_backlog(database: Database) -> list[Backlog]:
    """How many messages wait to be sent and how long the oldest has waited, by kind
    and channel: one grouped COUNT/MIN on the state index, given at most two seconds
    on PostgreSQL (the caller also bounds the wait)."""
    now = datetime.now(UTC)
    async with database.reading() as connection:
        if not database.is_sqlite:
            await connection.execute(text(f"SET LOCAL statement_timeout = {BACKLOG_TIMEOUT_MS}"))
        rows = await connection.execute(
            select(
                Notification.kind,
                Notification.channel,
                func.count(),
                func.min(Notification.created_at),
            )
            .where(Notification.state.in_([State.PENDING.value, State.SENDING.value]))
            .group_by(Notification.kind, Notification.channel)
        )
        backlog = []
        for kind, channel, count, oldest in rows:
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
            backlog.append(Backlog(kind, channel, int(count), age))
    return backlog


async def list_notifications(
    session: AsyncSession, *, shop_id: int, order_id: int
) -> Sequence[Notification]:
    """An order's messages, oldest first, in every state (for its timeline)."""
    return (
        await session.scalars(
            select(Notification)
            .where(Notification.shop_id == shop_id, Notification.order_id == order_id)
            .order_by(Notification.created_at, Notification.id)
        )
    ).all()


async def get_notification(
    session: AsyncSession, *, shop_id: int, notification_id: int
) -> Notification:
    row = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.shop_id == shop_id
        )
    )
    if row is None:
        raise NotFound("no such notification")
    return row


async def resend_notification(
    session: AsyncSession, *, shop_id: int, notification_id: int, actor: str
) -> Notification:
    """Send a failed (or kept) message again, now: the same row with the same
    Message-ID, since the customer never got it. Anything else is a 409."""
    row = await session.scalar(
        select(Notification)
        .where(Notification.id == notification_id, Notification.shop_id == shop_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such notification")
    if row.state not in RESENDABLE:
        raise Conflict(f"only a failed or kept message can be sent again (this one is {row.state})")
    was = row.state
    row.state = State.PENDING.value
    row.attempts = 0
    row.next_attempt_at = datetime.now(UTC)
    row.locked_until = None
    row.claim_token = None
    row.last_error = None
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=row.order_id,
            kind="notification_resent",
            actor=actor,
            message=f"{_label(row)} to {recipient_words(Channel(row.channel), row.recipient)}"
            f" queued to send again (was {was})",
            data={"notification_id": row.id},
        )
    )
    await session.flush()
    return row


async def mailbox(
    session: AsyncSession,
    *,
    shop_id: int,
    before_id: int | None = None,
    limit: int = MAILBOX_PAGE,
) -> Sequence[Notification]:
    """Messages kept instead of sent (no transport configured), newest first; each
    row's ``payload`` holds the whole message (e-mail: from, to, subject, text, html,
    message_id, date; SMS: from, to, body, encoding, segments). Page with ``before_id``."""
    query = select(Notification).where(
        Notification.shop_id == shop_id, Notification.state == State.HELD.value
    )
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    limit = max(1, min(limit, 200))
    return (await session.scalars(query.order_by(Notification.id.desc()).limit(limit))).all()


async def held_messages(
    session: AsyncSession, *, shop_id: int, before_id: int | None = None, limit: int = MAILBOX_PAGE
) -> list[HeldRow]:
    """The mailbox as the admin shows it."""
    rows = await mailbox(session, shop_id=shop_id, before_id=before_id, limit=limit)
    return [held_row(row) for row in rows]


async def held_message(session: AsyncSession, *, shop_id: int, notification_id: int) -> HeldRow:
    """One message of the mailbox; any other is NotFound."""
    row = await get_notification(session, shop_id=shop_id, notification_id=notification_id)
    if row.state != State.HELD.value:
        raise NotFound("no such message in the mailbox")
    return held_row(row)


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    kinds_off: frozenset[Kind]
    sms_confirmation_with_email: bool

    @property
    def kinds_on(self) -> list[Kind]:
        return [k for k in Kind if k not in self.kinds_off]


async def get_notification_settings(session: AsyncSession, *, shop_id: int) -> NotificationSettings:
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("no such shop")
    prefs = preferences(
        shop.notification_kinds_off, shop.sms_confirmation_with_email, shop.notification_kinds_on
    )
    return NotificationSettings(prefs.kinds_off, prefs.sms_confirmation_with_email)


async def update_notification_settings(
    session: AsyncSession,
    *,
    shop_id: int,
    kinds_off: Iterable[str],
    sms_confirmation_with_email: bool,
    actor: str,
) -> NotificationSettings:
    """Which kinds go out, and whether a customer who gave both e-mail and phone also
    gets the confirmation by SMS. Applies to messages caused from now on."""
    try:
        off = parse_kinds(kinds_off)
    except ValueError as exc:
        raise Invalid(str(exc), fields={"kinds_off": str(exc)}) from None
    shop = await session.get(Shop, shop_id, with_for_update=True)
    if shop is None:
        raise NotFound("no such shop")
    shop.notification_kinds_off = sorted(k.value for k in off - OPT_IN)
    shop.notification_kinds_on = sorted(k.value for k in OPT_IN - off)
    shop.sms_confirmation_with_email = sms_confirmation_with_email
    names = ", ".join(KIND_LABELS[k] for k in Kind if k in off) or "none"
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=None,
            kind="notification_settings",
            actor=actor,
            message=f"Notification settings changed: turned off {names}; SMS confirmation "
            f"with e-mail {'on' if sms_confirmation_with_email else 'off'}",
        )
    )
    await session.flush()
    return NotificationSettings(off, sms_confirmation_with_email)


# -- templates ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopTemplate:
    kind: Kind
    language: str
    source: TemplateSource
    is_default: bool


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise Invalid(
            f"language must be one of {', '.join(LANGUAGES)}", fields={"language": "unknown"}
        )
    return language


def _check_kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise Invalid(
            f"kind must be one of {', '.join(Kind)}", fields={"kind": "unknown"}
        ) from None


async def get_template(
    session: AsyncSession, *, shop_id: int, kind: str, language: str
) -> ShopTemplate:
    """The wording the shop uses for a kind in a language: its own, else the default."""
    which = _check_kind(kind)
    language = _check_language(language)
    own = await session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.shop_id == shop_id,
            NotificationTemplate.kind == which.value,
            NotificationTemplate.locale == language,
        )
    )
    if own is None:
        return ShopTemplate(which, language, default_source(which, language), True)
    return ShopTemplate(
        which, language, TemplateSource(own.subject, own.text, own.html, own.sms), False
    )


@dataclass(frozen=True, slots=True)
class Preview:
    email: RenderedEmail
    sms: RenderedSms | None


async def preview_template(
    session: AsyncSession,
    *,
    shop_id: int,
    kind: str,
    language: str,
    source: TemplateSource,
    base_url: str,
) -> Preview:
    """The message a template makes for a made-up order of this shop. Invalid (422)
    with the part and the reason when it does not render."""
    which = _check_kind(kind)
    language = _check_language(language)
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("no such shop")
    values = ctx.sample(which, language, shop=shop_facts(shop), base_url=base_url)
    try:
        email = await sandbox.email(source, values)
        sms = await sandbox.sms(source, values) if which is Kind.ORDER_CONFIRMATION else None
    except TemplateError as exc:
        raise Invalid(str(exc), fields={exc.part: exc.reason}) from None
    return Preview(email, sms)


async def send_test(
    session: AsyncSession,
    *,
    shop_id: int,
    kind: str,
    language: str,
    source: TemplateSource,
    to: str,
    base_url: str,
    smtp_url: str | None,
    smtp_from: str | None,
) -> None:
    """E-mail what a template makes for a made-up order to ``to`` now, past the outbox
    (a test belongs to no order). Conflict when no SMTP server is set or it refuses."""
    preview = await preview_template(
        session, shop_id=shop_id, kind=kind, language=language, source=source, base_url=base_url
    )
    if smtp_url is None:
        raise Conflict(
            "No SMTP server is set up (ORDERSTATUS_SMTP_URL), so nothing can be sent; "
            "the preview shows the message."
        )
    shop = await session.get_one(Shop, shop_id)
    sender = email.sender_address(smtp_from, base_url)
    message = email.build_message(
        preview.email,
        sender=sender,
        sender_name=shop.name,
        recipient=to,
        reply_to=shop.contact_email,
        message_id=make_msgid(domain=sender.rpartition("@")[2] or None),
        language=language,
    )
    connection = email.SmtpConnection(email.SmtpConfig.from_url(smtp_url))
    try:
        await connection.send(email.message_bytes(message), sender=sender, recipient=to)
    except email.DeliveryError as exc:
        raise Conflict(f"The SMTP server did not take the test message: {exc}") from None
    finally:
        await connection.close()


async def save_template(
    session: AsyncSession,
    *,
    shop_id: int,
    kind: str,
    language: str,
    source: TemplateSource,
    base_url: str,
    actor: str,
) -> ShopTemplate:
    """Keep the shop's own wording once it renders (a template that fails on a sample
    order is refused, so it cannot fail real messages later)."""
    await preview_template(
        session, shop_id=shop_id, kind=kind, language=language, source=source, base_url=base_url
    )
    which = Kind(kind)
    if which is not Kind.ORDER_CONFIRMATION:
        source = TemplateSource(source.subject, source.text, source.html, None)
    row = await session.scalar(
        select(NotificationTemplate)
        .where(
            NotificationTemplate.shop_id == shop_id,
            NotificationTemplate.kind == which.value,
            NotificationTemplate.locale == language,
        )
        .with_for_update()
    )
    if row is None:
        row = NotificationTemplate(shop_id=shop_id, kind=which.value, locale=language)
        session.add(row)
    row.subject, row.text, row.html, row.sms = source.subject, source.text, source.html, source.sms
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=None,
            kind="notification_template_saved",
            actor=actor,
            message=f"{KIND_LABELS[which]} template ({language}) changed",
        )
    )
    await session.flush()
    return ShopTemplate(which, language, source, False)


async def reset_template(
    session: AsyncSession, *, shop_id: int, kind: str, language: str, actor: str
) -> ShopTemplate:
    """Go back to the default wording."""
    which = _check_kind(kind)
    language = _check_language(language)
    row = await session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.shop_id == shop_id,
            NotificationTemplate.kind == which.value,
            NotificationTemplate.locale == language,
        )
    )
    if row is not None:
        await session.delete(row)
        session.add(
            Activity(
                shop_id=shop_id,
                order_id=None,
                kind="notification_template_reset",
                actor=actor,
                message=f"{KIND_LABELS[which]} template ({language}) back to the default",
            )
        )
    return ShopTemplate(which, language, default_source(which, language), True)


def _label(row: Notification) -> str:
    word = {Channel.EMAIL.value: "e-mail", Channel.SMS.value: "SMS"}.get(row.channel, "push")
    return f"{KIND_LABELS[Kind(row.kind)]} {word}"


# -- channels -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One way messages reach customers, as the admin's notification settings show it."""

    channel: str
    configured: bool
    """Messages go out (else they are kept in the mailbox)."""
    via: str | None
    """What it goes through: the SMTP host, the SMS sender, where the push key is from
    ("settings" or "var")."""
    counts: ChannelCounts


async def channel_overview(
    session: AsyncSession, *, shop_id: int, settings: Settings
) -> list[ChannelStatus]:
    """E-mail, SMS and push: whether each is set up, and how the shop's messages fared."""
    counts = await channel_counts(session, shop_id=shop_id)
    smtp = email.SmtpConfig.from_url(settings.smtp_url) if settings.smtp_url else None
    return [
        ChannelStatus(
            Channel.EMAIL.value,
            smtp is not None,
            f"{smtp.host}:{smtp.port}" if smtp else None,
            counts[Channel.EMAIL.value],
        ),
        ChannelStatus(
            Channel.SMS.value,
            bool(settings.sms_url and settings.sms_from),
            settings.sms_from,
            counts[Channel.SMS.value],
        ),
        ChannelStatus(
            Channel.PUSH.value,
            True,
            "settings" if settings.vapid_private_key else "var",
            counts[Channel.PUSH.value],
        ),
    ]

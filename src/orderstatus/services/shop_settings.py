"""A shop's settings as staff change them: branding and logo, the notes on its status
pages, API keys and webhook secrets. Each change is one transaction with an audit row
saying who made it; anything that shows on the pages moves the shop's version on, so
cached pages are rendered again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.sources import registry as webhook_sources
from orderstatus.db.models import Activity, ApiKey, PageMessage, Shop, WebhookSecret
from orderstatus.domain.branding import (
    IMAGE_TYPES,
    MAX_LOGO_BYTES,
    BrandingInput,
    PageMessageInput,
    normalize_color,
    sniff_image,
)
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.markdown import render_markdown
from orderstatus.domain.statuses import EventStatus, FulfillmentStatus
from orderstatus.domain.timeline import ActivityFact
from orderstatus.domain.view import (
    EventData,
    ItemData,
    MessageData,
    OrderData,
    ShipmentData,
    ShopData,
)
from orderstatus.i18n import check_zone
from orderstatus.services.accounts import create_api_key
from orderstatus.services.admin_records import (
    KeyRow,
    NoteRow,
    SecretRow,
    activity_fact,
    key_row,
    note_row,
    secret_row,
)
from orderstatus.services.status_pages import shop_data
from orderstatus.services.webhooks import set_webhook_secret

MEDIA_FOLDER = "media"
MIN_WEBHOOK_SECRET = 16


def _audit(session: AsyncSession, shop_id: int, actor: str, kind: str, message: str) -> None:
    session.add(Activity(shop_id=shop_id, order_id=None, kind=kind, actor=actor, message=message))


async def _bump_shop(session: AsyncSession, shop_id: int) -> None:
    await session.execute(update(Shop).where(Shop.id == shop_id).values(version=Shop.version + 1))


async def _set_shop_field(
    session: AsyncSession,
    shop_id: int,
    actor: str,
    field: str,
    value: object,
    kind: str,
    message: str,
    *,
    bump: bool = True,
) -> Shop:
    """One shop setting changed under the shop's lock, recorded once; ``bump`` when the
    status pages show it (their cached versions then move on)."""
    shop = await session.get(Shop, shop_id, with_for_update=True)
    if shop is None:
        raise NotFound("no such shop")
    if getattr(shop, field) == value:
        return shop
    setattr(shop, field, value)
    if bump:
        await session.flush()
        await _bump_shop(session, shop_id)
    _audit(session, shop_id, actor, kind, message)
    return shop


async def get_shop(session: AsyncSession, *, shop_id: int) -> Shop:
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("no such shop")
    return shop


@dataclass(frozen=True, slots=True)
class PageSettings:
    """What the admin's status-page and settings pages show of the shop."""

    shop: ShopData
    taxes_included: bool
    storefront_enabled: bool
    notes: tuple[NoteRow, ...]
    """The notes for every order, in the order pages show them."""

    @property
    def branding(self) -> dict[str, str]:
        """The branding form's saved values."""
        return {
            "name": self.shop.name,
            "accent_color": self.shop.accent_color,
            "contact_email": self.shop.contact_email or "",
            "website_url": self.shop.website_url or "",
        }


async def page_settings(session: AsyncSession, *, shop_id: int, base_url: str) -> PageSettings:
    shop = await get_shop(session, shop_id=shop_id)
    notes = await list_messages(session, shop_id=shop_id)
    return PageSettings(
        shop=shop_data(shop, base_url),
        taxes_included=shop.taxes_included,
        storefront_enabled=shop.storefront_enabled,
        notes=tuple(note_row(n) for n in notes),
    )


@dataclass(frozen=True, slots=True)
class SettingsOverview:
    """What the admin's settings page shows."""

    keys: tuple[KeyRow, ...]
    """Newest first, revoked ones too."""
    secrets: dict[str, SecretRow]
    """By tracking source, those set up."""
    changes: tuple[ActivityFact, ...]
    """The shop's own audit trail, newest first."""
    storefront_enabled: bool


async def settings_overview(session: AsyncSession, *, shop_id: int) -> SettingsOverview:
    shop = await get_shop(session, shop_id=shop_id)
    keys = await list_api_keys(session, shop_id=shop_id)
    secrets = await webhook_secrets(session, shop_id=shop_id)
    changes = await recent_changes(session, shop_id=shop_id)
    return SettingsOverview(
        keys=tuple(key_row(k) for k in keys),
        secrets={source: secret_row(row) for source, row in secrets.items()},
        changes=tuple(activity_fact(a) for a in changes),
        storefront_enabled=shop.storefront_enabled,
    )


async def recent_changes(
    session: AsyncSession, *, shop_id: int, limit: int = 20
) -> Sequence[Activity]:
    """The shop's own audit trail (changes not about one order), newest first."""
    return (
        await session.scalars(
            select(Activity)
            .where(Activity.shop_id == shop_id, Activity.order_id.is_(None))
            .order_by(Activity.id.desc())
            .limit(limit)
        )
    ).all()


# ---- branding ----


async def update_branding(
    *, session: AsyncSession, shop_id: int, data: BrandingInput, actor: str
) -> Shop:
    shop = await session.get(Shop, shop_id, with_for_update=True)
    if shop is None:
        raise NotFound("no such shop")
    changes = {
        name: value for name, value in data.model_dump().items() if getattr(shop, name) != value
    }
    if not changes:
        return shop
    for name, value in changes.items():
        setattr(shop, name, value)
    await session.flush()
    await _bump_shop(session, shop_id)
    _audit(
        session,
        shop_id,
        actor,
        "branding_changed",
        "Changed the status page's " + ", ".join(n.replace("_", " ") for n in changes),
    )
    return shop


async def set_taxes_included(
    *, session: AsyncSession, shop_id: int, taxes_included: bool, actor: str
) -> Shop:
    """Whether the shop's prices include tax: the default for orders that do not say.
    Orders already placed keep what they were placed with."""
    message = "Prices now include taxes" if taxes_included else "Prices now exclude taxes"
    return await _set_shop_field(
        session, shop_id, actor, "taxes_included", taxes_included, "prices_changed", message
    )


async def set_timezone(*, session: AsyncSession, shop_id: int, timezone: str, actor: str) -> Shop:
    """The shop's time zone: its pages, messages, admin and Insights days show its time.
    :class:`Invalid` for a name that is not a known IANA time zone."""
    try:
        name = check_zone(timezone)
    except ValueError as exc:
        raise Invalid(str(exc), fields={"timezone": "unknown"}) from None
    return await _set_shop_field(
        session, shop_id, actor, "timezone", name, "timezone_changed", f"Time zone set to {name}"
    )


def store_logo(var_dir: Path, handle: str, data: bytes) -> str:
    """Keep an uploaded logo under the media folder; returns its file name.

    The name is made from the content, so a new logo gets a new address (browsers and
    e-mails that cached the old one are not confused) and an old address keeps working
    for e-mails already sent. Invalid with the reason for anything but a PNG, JPEG or
    WebP image of at most 1 MiB.
    """
    if not data:
        raise Invalid("choose an image file", fields={"logo": "empty"})
    if len(data) > MAX_LOGO_BYTES:
        raise Invalid("the logo is larger than 1 MiB", fields={"logo": "too large"})
    kind = sniff_image(data)
    if kind is None:
        raise Invalid("the logo must be a PNG, JPEG or WebP image", fields={"logo": "type"})
    assert kind in IMAGE_TYPES
    name = f"{handle}-{hashlib.sha256(data).hexdigest()[:20]}.{kind}"
    folder = var_dir / MEDIA_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        partial = folder / f".{name}.{secrets.token_hex(4)}"
        partial.write_bytes(data)
        os.replace(partial, path)
    return name


async def set_logo(
    *, session: AsyncSession, shop_id: int, logo_path: str | None, actor: str
) -> Shop:
    """Show a stored logo on the shop's pages (None: the shop's name instead)."""
    message = "Uploaded a new logo" if logo_path else "Removed the logo"
    return await _set_shop_field(
        session, shop_id, actor, "logo_path", logo_path, "logo_changed", message
    )


# ---- notes on the status pages ----


async def list_messages(session: AsyncSession, *, shop_id: int) -> Sequence[PageMessage]:
    """The shop-wide notes, in the order pages show them."""
    return (
        await session.scalars(
            select(PageMessage)
            .where(PageMessage.shop_id == shop_id, PageMessage.order_id.is_(None))
            .order_by(PageMessage.position, PageMessage.id)
        )
    ).all()


async def get_message(session: AsyncSession, *, shop_id: int, message_id: int) -> PageMessage:
    row = await session.scalar(
        select(PageMessage).where(
            PageMessage.id == message_id,
            PageMessage.shop_id == shop_id,
            PageMessage.order_id.is_(None),
        )
    )
    if row is None:
        raise NotFound("no such message")
    return row


async def get_note(session: AsyncSession, *, shop_id: int, message_id: int) -> NoteRow:
    return note_row(await get_message(session, shop_id=shop_id, message_id=message_id))


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"


async def save_message(
    *,
    session: AsyncSession,
    shop_id: int,
    data: PageMessageInput,
    actor: str,
    message_id: int | None = None,
    active: bool = True,
) -> PageMessage:
    """Add a shop-wide note, or change one (``message_id``)."""
    if message_id is None:
        last = await session.scalar(
            select(PageMessage.position)
            .where(PageMessage.shop_id == shop_id, PageMessage.order_id.is_(None))
            .order_by(PageMessage.position.desc())
            .limit(1)
        )
        row = PageMessage(shop_id=shop_id, order_id=None, position=(last or 0) + 1)
        session.add(row)
        kind, verb = "page_message_added", "Added"
    else:
        row = await get_message(session, shop_id=shop_id, message_id=message_id)
        kind, verb = "page_message_changed", "Changed"
    row.body_markdown = data.body
    row.placement = data.placement
    row.statuses = data.statuses
    row.locale = data.locale
    row.active = active
    await session.flush()
    await _bump_shop(session, shop_id)
    _audit(session, shop_id, actor, kind, f"{verb} the status page note “{_summary(data.body)}”")
    return row


async def delete_message(
    *, session: AsyncSession, shop_id: int, message_id: int, actor: str
) -> None:
    row = await get_message(session, shop_id=shop_id, message_id=message_id)
    await session.delete(row)
    await _bump_shop(session, shop_id)
    _audit(
        session,
        shop_id,
        actor,
        "page_message_removed",
        f"Removed the status page note “{_summary(row.body_markdown)}”",
    )


# ---- the demo storefront ----


async def set_storefront(*, session: AsyncSession, shop_id: int, enabled: bool, actor: str) -> Shop:
    """Serve the demo storefront or not: while it is on, anyone can place orders in the
    shop and make it send their confirmations."""
    message = f"Turned the demo storefront {'on' if enabled else 'off'}"
    return await _set_shop_field(
        session,
        shop_id,
        actor,
        "storefront_enabled",
        enabled,
        "storefront_changed",
        message,
        bump=False,
    )


# ---- API keys ----


async def list_api_keys(session: AsyncSession, *, shop_id: int) -> Sequence[ApiKey]:
    return (
        await session.scalars(
            select(ApiKey).where(ApiKey.shop_id == shop_id).order_by(ApiKey.id.desc())
        )
    ).all()


async def new_api_key(
    *, session: AsyncSession, shop_id: int, name: str, actor: str
) -> tuple[ApiKey, str]:
    """A new key: the row, and the key itself, shown once and never stored."""
    label = " ".join(name.split())
    if not label or len(label) > 255:
        raise Invalid("give the key a name of 1 to 255 characters", fields={"name": "invalid"})
    shop = await get_shop(session, shop_id=shop_id)
    row, key = await create_api_key(session=session, shop=shop, name=label)
    _audit(session, shop_id, actor, "api_key_created", f"Created API key {row.prefix}… “{label}”")
    return row, key


async def revoke_key(*, session: AsyncSession, shop_id: int, key_id: int, actor: str) -> ApiKey:
    row = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.shop_id == shop_id).with_for_update()
    )
    if row is None:
        raise NotFound("no such API key")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        _audit(
            session,
            shop_id,
            actor,
            "api_key_revoked",
            f"Revoked API key {row.prefix}… “{row.name}”",
        )
    return row


# ---- webhook secrets ----

WEBHOOK_SOURCES = ("easypost", "shippo", "aftership", "custom")
"""The tracking sources, in the order the settings page lists them."""


async def webhook_secrets(session: AsyncSession, *, shop_id: int) -> dict[str, WebhookSecret]:
    rows = await session.scalars(select(WebhookSecret).where(WebhookSecret.shop_id == shop_id))
    return {row.source: row for row in rows}


async def change_webhook_secret(
    *, session: AsyncSession, shop_id: int, source: str, secret: str | None, actor: str
) -> str:
    """Set the secret a source signs with: the one the provider gave, or a new random one."""
    if source not in webhook_sources():
        raise NotFound("no such tracking source")
    value = (secret or "").strip() or None
    if value is not None and (
        len(value) < MIN_WEBHOOK_SECRET or len(value) > 255 or any(c.isspace() for c in value)
    ):
        raise Invalid(
            f"a secret is {MIN_WEBHOOK_SECRET} to 255 characters without spaces",
            fields={"secret": "invalid"},
        )
    stored = await set_webhook_secret(session, shop_id=shop_id, source=source, secret=value)
    _audit(
        session,
        shop_id,
        actor,
        "webhook_secret_changed",
        f"{'Set' if value else 'Generated'} the {source} webhook secret",
    )
    return stored


# ---- a made-up order for the page preview ----

PREVIEW_STATUSES = (
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "attempted_delivery",
    "delivered",
)


@dataclass(frozen=True, slots=True)
class Draft:
    """What staff are typing in the page's forms, to preview before saving."""

    status: str = "in_transit"
    name: str = ""
    accent_color: str = ""
    note: str = ""
    placement: str = "top"


async def preview(
    session: AsyncSession, *, shop_id: int, base_url: str, draft: Draft
) -> tuple[OrderData, ShopData]:
    """A made-up order's page with the shop's look and notes, changed by the draft."""
    settings = await page_settings(session, shop_id=shop_id, base_url=base_url)
    data = settings.shop
    name = " ".join(draft.name.split())[:255]
    if name:
        data = replace(data, name=name)
    with contextlib.suppress(ValueError):  # a colour half typed: the saved one
        data = replace(data, accent_color=normalize_color(draft.accent_color))
    messages = [
        MessageData(n.placement, n.body_html, n.statuses, n.locale)
        for n in settings.notes
        if n.active
    ]
    note = draft.note.strip()[:5000]
    if note:
        placement = draft.placement if draft.placement in ("top", "bottom") else "top"
        messages.append(MessageData(placement, render_markdown(note), None, None))
    status = draft.status if draft.status in PREVIEW_STATUSES else "in_transit"
    order = sample_order(status, messages=messages, taxes_included=settings.taxes_included)
    return order, data


def sample_order(
    status: str,
    *,
    messages: Sequence[MessageData],
    taxes_included: bool = False,
    now: datetime | None = None,
) -> OrderData:
    """An order at ``status`` ("confirmed", or a shipment status) to preview the page with:
    the shop's look and notes on a page staff can see without a real order; its tax is
    20 % of the total when the shop's prices include it (Norway's 25 % VAT)."""
    now = now or datetime.now(UTC)
    created = now - timedelta(days=2)
    items = [
        ItemData(
            1, "Stoneware mug", "Fjord blue", 2, Decimal("249.00"), "/static/products/mug.svg"
        ),
        ItemData(
            2, "Wool scarf", "Heather grey", 1, Decimal("599.00"), "/static/products/scarf.svg"
        ),
    ]
    shipments: list[ShipmentData] = []
    fulfillment_status = FulfillmentStatus.UNFULFILLED.value
    delivery: str | None = None
    if status != "confirmed":
        event_status = EventStatus(status)
        events = [
            EventData(
                1,
                EventStatus.IN_TRANSIT,
                created + timedelta(hours=20),
                None,
                "Oslo",
                None,
                "NO",
                None,
                None,
            ),
        ]
        if event_status is not EventStatus.IN_TRANSIT:
            events.append(
                EventData(
                    2,
                    event_status,
                    now - timedelta(hours=1),
                    None,
                    "Bergen",
                    None,
                    "NO",
                    None,
                    None,
                )
            )
        shipments.append(
            ShipmentData(
                id=1,
                carrier_code="bring",
                carrier_name="Bring",
                tracking_number="370722150004528013",
                tracking_url="https://tracking.bring.com/tracking/370722150004528013",
                live_tracking=False,
                estimated_delivery=None,
                created_at=created + timedelta(hours=18),
                items=[(1, 2), (2, 1)],
                events=events,
            )
        )
        fulfillment_status = FulfillmentStatus.FULFILLED.value
        delivery = event_status.value
    return OrderData(
        id=0,
        number="1001",
        status_token="preview",  # noqa: S106 - a made-up order has no real page
        share_token=None,
        currency="NOK",
        locale=None,
        created_at=created,
        first_name="Kari",
        last_name="Nordmann",
        email="kari@example.com",
        phone=None,
        update_email=None,
        shipping_address={
            "name": "Kari Nordmann",
            "address1": "Storgata 1",
            "city": "Oslo",
            "zip": "0155",
            "country_code": "NO",
        },
        billing_address=None,
        payment_method="card",
        payment_brand="Visa",
        payment_last4="4242",
        subtotal=Decimal("1097.00"),
        shipping_total=Decimal("99.00"),
        discount_total=Decimal("0.00"),
        tax_total=Decimal("239.20") if taxes_included else Decimal("0.00"),
        taxes_included=taxes_included,
        total=Decimal("1196.00"),
        fulfillment_status=fulfillment_status,
        delivery_status=delivery,
        items=items,
        shipments=shipments,
        messages=list(messages),
    )

"""Apple Wallet orders: the package an owner adds to Wallet, the web service Wallet asks
for updates (registrations, changed orders, the latest package), and the pushes that
tell it to ask, queued in the transaction that changed the order."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.config import Settings, WalletKeys
from orderstatus.db.engine import Database
from orderstatus.db.models import Order, Shop, WalletPush, WalletRegistration
from orderstatus.domain.errors import NotFound
from orderstatus.domain.media import PRODUCTS_PATH, sniff_product_image
from orderstatus.domain.retention import ANONYMISED_NAME
from orderstatus.domain.view import Viewer, build_view
from orderstatus.domain.wallet import (
    WalletOrder,
    authentication_token,
    image_name,
    order_json,
    token_matches,
)
from orderstatus.notify import wallet as packaging
from orderstatus.services.product_images import stored_path
from orderstatus.services.shop_settings import MEDIA_FOLDER
from orderstatus.services.status_pages import load_page

WEB_SERVICE_PATH = "/wallet/"
PACKAGE_IMAGE_TYPES = {"png": ".png", "jpg": ".jpg"}
"""What Wallet shows; other formats of our product copies are left out of the package."""
MAX_ID_LENGTH = 255
MAX_DIGITS = 10
MAX_ORDER_ID = 2**31 - 1
MAX_TAG_DIGITS = 17
"""Microseconds since 1970 fit in 17 digits until the year 5138."""
PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{16,200}")
"""What APNs device tokens look like (hex); anything else would not reach a device."""


class Unauthorized(Exception):
    """Wallet's request does not carry the order's authentication token."""


@dataclass(frozen=True, slots=True)
class Package:
    body: bytes
    last_modified: datetime
    """The order's last change as an HTTP date (see :func:`last_modified`)."""


def order_identifier(order_id: int) -> str:
    return str(order_id)


def _order_id(identifier: str) -> int | None:
    if not (identifier.isascii() and identifier.isdigit() and len(identifier) <= MAX_DIGITS):
        return None
    number = int(identifier)
    return number if 0 < number <= MAX_ORDER_ID else None


def _rounded_up(updated_at: datetime) -> datetime:
    whole = updated_at.replace(microsecond=0)
    return whole if whole == updated_at else whole + timedelta(seconds=1)


def last_modified(updated_at: datetime, now: datetime | None = None) -> datetime:
    """The order's last change as an HTTP date (whole seconds): rounded up, but never
    past the current second. Wallet's copy counts as current only when that date is at
    least the change rounded up (:func:`is_current`), so a change later in the second
    it was given is never hidden (at the cost of one more fetch)."""
    return min(_rounded_up(updated_at), (now or datetime.now(UTC)).replace(microsecond=0))


def is_current(updated_at: datetime, if_modified_since: datetime) -> bool:
    return _rounded_up(updated_at) <= if_modified_since


# ---- building the package ----


def _read_image(path: Path) -> tuple[bytes, str] | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    kind = sniff_product_image(data[:12])
    return (data, PACKAGE_IMAGE_TYPES[kind]) if kind in PACKAGE_IMAGE_TYPES else None


def _images(
    settings: Settings, logo_path: str | None, urls: list[str]
) -> tuple[str | None, dict[str, str], dict[str, bytes]]:
    """The shop's logo and the line items' images (our stored copies) for the package."""
    files: dict[str, bytes] = {}
    logo = None
    if logo_path:
        found = _read_image(settings.var_dir / MEDIA_FOLDER / logo_path)
        if found:
            logo = "logo" + found[1]
            files[logo] = found[0]
    names: dict[str, str] = {}
    prefix = settings.base_url + PRODUCTS_PATH
    for url in dict.fromkeys(urls):
        if not url.startswith(prefix):
            continue
        found = _read_image(stored_path(settings.var_dir, url.removeprefix(prefix)))
        if found:
            names[url] = image_name(url, found[1])
            files[names[url]] = found[0]
    return logo, names, files


async def build_package(
    database: Database, settings: Settings, keys: WalletKeys, *, order_id: int
) -> Package:
    """The signed ``.order`` package of the owner's view of the order."""
    async with database.read() as session:
        data, shop = await load_page(session, order_id=order_id, base_url=settings.base_url)
        row = (
            await session.execute(
                select(Order.updated_at, Order.status_token, Shop.logo_path)
                .join(Shop, Shop.id == Order.shop_id)
                .where(Order.id == order_id)
            )
        ).one()
    view = build_view(data, shop, Viewer.OWNER, locale=data.locale or shop.default_locale)
    urls = [line.image_url for line in view.items if line.image_url]
    logo, names, files = await asyncio.to_thread(_images, settings, row.logo_path, urls)
    wallet = WalletOrder(
        order_type_id=keys.order_type_id,
        merchant_id=keys.merchant_id,
        order_identifier=order_identifier(order_id),
        authentication_token=authentication_token(settings.resolved_secret_key(), row.status_token),
        web_service_url=settings.base_url + WEB_SERVICE_PATH,
        order_url=f"{settings.base_url}/orders/{row.status_token}",
        updated_at=row.updated_at,
        logo=logo,
        images=names,
    )
    body = await asyncio.to_thread(packaging.package, keys, order_json(view, wallet), files)
    return Package(body, last_modified(row.updated_at))


# ---- the web service ----


async def _authorised_order(
    session: AsyncSession, settings: Settings, identifier: str, token: str | None
) -> Any:
    """The order Wallet asks about, if its token is the order's; else Unauthorized (an
    unknown order answers the same, so identifiers cannot be probed)."""
    order_id = _order_id(identifier)
    row = None
    if order_id is not None:
        row = (
            await session.execute(
                select(Order.id, Order.shop_id, Order.status_token, Order.updated_at).where(
                    Order.id == order_id, Order.customer_first_name != ANONYMISED_NAME
                )
            )
        ).first()
    if (
        row is None
        or not token
        or not token_matches(settings.resolved_secret_key(), row.status_token, token)
    ):
        raise Unauthorized
    return row


async def register(
    database: Database,
    settings: Settings,
    *,
    device_id: str,
    identifier: str,
    token: str | None,
    push_token: str,
) -> bool:
    """Remember that the device wants to hear of the order's changes; True when new."""
    async with database.write() as session:
        order = await _authorised_order(session, settings, identifier, token)
        known = await session.scalar(
            select(WalletRegistration.id).where(
                WalletRegistration.device_id == device_id,
                WalletRegistration.order_id == order.id,
            )
        )
        if known is not None:
            await session.execute(
                update(WalletRegistration)
                .where(WalletRegistration.id == known)
                .values(push_token=push_token)
            )
            return False
        try:
            async with session.begin_nested():
                session.add(
                    WalletRegistration(
                        shop_id=order.shop_id,
                        order_id=order.id,
                        device_id=device_id,
                        push_token=push_token,
                    )
                )
        except IntegrityError:  # the same device registering twice at once
            return False
    return True


async def unregister(
    database: Database, settings: Settings, *, device_id: str, identifier: str, token: str | None
) -> None:
    async with database.write() as session:
        order = await _authorised_order(session, settings, identifier, token)
        await session.execute(
            delete(WalletRegistration).where(
                WalletRegistration.device_id == device_id,
                WalletRegistration.order_id == order.id,
            )
        )


def _since(value: str | None) -> datetime | None:
    """``ordersModifiedSince``: the tag we gave (microseconds since the epoch)."""
    if not value or not (value.isascii() and value.isdigit()) or len(value) > MAX_TAG_DIGITS:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def _tag(moment: datetime) -> str:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return str(math.floor(delta / timedelta(microseconds=1)))


async def changed_orders(
    database: Database, *, device_id: str, since: str | None
) -> tuple[list[str], str] | None:
    """The device's orders changed since the tag, and the tag for next time; None when
    there are none."""
    after = _since(since)
    query = (
        select(Order.id, Order.updated_at)
        .join(WalletRegistration, WalletRegistration.order_id == Order.id)
        .where(
            WalletRegistration.device_id == device_id,
            Order.customer_first_name != ANONYMISED_NAME,  # no package any more
        )
        .order_by(Order.id)
    )
    if after is not None:
        query = query.where(Order.updated_at > after)
    async with database.read() as session:
        rows = (await session.execute(query)).all()
    if not rows:
        return None
    newest = max(row.updated_at for row in rows)
    return [order_identifier(row.id) for row in rows], _tag(newest)


async def latest(
    database: Database,
    settings: Settings,
    keys: WalletKeys,
    *,
    identifier: str,
    token: str | None,
    if_modified_since: datetime | None,
) -> Package | datetime:
    """The order's package now, or its last change when Wallet's copy is that recent."""
    async with database.read() as session:
        order = await _authorised_order(session, settings, identifier, token)
    if if_modified_since is not None and is_current(order.updated_at, if_modified_since):
        return last_modified(order.updated_at)
    try:
        return await build_package(database, settings, keys, order_id=order.id)
    except NotFound:
        raise Unauthorized from None


# ---- the pushes (outbox) ----

_PUSHES = cast(Table, WalletPush.__table__)
_REGISTRATIONS = cast(Table, WalletRegistration.__table__)


async def queue_pushes(session: AsyncSession, changed: dict[int, int]) -> None:
    """In the transaction that changed these orders: a push to each device that holds
    one, unless that device already has a push waiting (it will ask about every change)."""
    now = datetime.now(UTC)
    waiting = exists().where(
        and_(_PUSHES.c.push_token == _REGISTRATIONS.c.push_token, _PUSHES.c.state == "pending")
    )
    rows = select(
        _REGISTRATIONS.c.shop_id,
        _REGISTRATIONS.c.order_id,
        _REGISTRATIONS.c.push_token,
        literal("pending"),
        literal(0),
        literal(now, type_=_PUSHES.c.next_attempt_at.type),
        literal(now, type_=_PUSHES.c.created_at.type),
    ).where(_REGISTRATIONS.c.order_id.in_(sorted(changed)), ~waiting)
    await session.execute(
        insert(_PUSHES).from_select(
            [
                "shop_id",
                "order_id",
                "push_token",
                "state",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            rows,
        )
    )


@dataclass(frozen=True, slots=True)
class WalletCounts:
    """What the admin's notification settings show of the channel."""

    configured: bool
    devices: int
    orders: int
    sent: int
    waiting: int
    failed: int


async def counts(session: AsyncSession, *, shop_id: int, configured: bool) -> WalletCounts:
    registered = (
        await session.execute(
            select(
                func.count(func.distinct(WalletRegistration.device_id)),
                func.count(func.distinct(WalletRegistration.order_id)),
            ).where(WalletRegistration.shop_id == shop_id)
        )
    ).one()
    states = dict(
        (
            await session.execute(
                select(WalletPush.state, func.count())
                .where(WalletPush.shop_id == shop_id)
                .group_by(WalletPush.state)
            )
        ).all()
    )
    return WalletCounts(
        configured=configured,
        devices=int(registered[0]),
        orders=int(registered[1]),
        sent=int(states.get("sent", 0)),
        waiting=int(states.get("pending", 0)) + int(states.get("sending", 0)),
        failed=int(states.get("failed", 0)),
    )

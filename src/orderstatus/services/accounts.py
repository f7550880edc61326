"""Shops, staff accounts and API keys."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.models import ApiKey, Shop, StaffUser
from orderstatus.domain.errors import Conflict, Invalid, Unauthorized
from orderstatus.domain.inputs import normalize_email, normalize_locale
from orderstatus.domain.money import normalize_currency
from orderstatus.i18n import check_zone
from orderstatus.services.security import (
    api_key_digest,
    api_key_prefix,
    hash_password,
    new_api_key,
)

MIN_PASSWORD_LENGTH = 10
HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _check_handle(handle: str) -> str:
    value = handle.strip().lower()
    if not value or len(value) > 64 or not set(value) <= HANDLE_CHARS or value[0] == "-":
        raise Invalid(
            "a shop handle is 1 to 64 lower-case letters, digits or dashes",
            fields={"handle": "invalid"},
        )
    return value


async def create_shop(
    *,
    session: AsyncSession,
    handle: str,
    name: str,
    currency: str,
    locale: str = "en",
    timezone: str = "UTC",
) -> Shop:
    try:
        shop = Shop(
            handle=_check_handle(handle),
            name=name.strip() or handle,
            currency=normalize_currency(currency),
            default_locale=normalize_locale(locale),
            timezone=check_zone(timezone),
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    session.add(shop)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"shop {handle!r} already exists", fields={"handle": "taken"}) from None
    return shop


async def create_staff(
    *, session: AsyncSession, shop: Shop, email: str, password: str, name: str | None = None
) -> StaffUser:
    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise Invalid(f"email {exc}", fields={"email": str(exc)}) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            fields={"password": "too short"},
        )
    user = StaffUser(
        shop_id=shop.id, email=address, name=name, password_hash=hash_password(password)
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"a staff account for {address} exists", fields={"email": "taken"}) from None
    return user


async def create_api_key(
    *, session: AsyncSession, shop: Shop, name: str, key: str | None = None
) -> tuple[ApiKey, str]:
    """A new key for the shop: the row, and the key itself, which is never stored."""
    plain = key or new_api_key()
    row = ApiKey(
        shop_id=shop.id, name=name, prefix=api_key_prefix(plain), digest=api_key_digest(plain)
    )
    session.add(row)
    await session.flush()
    return row, plain


async def authenticate_api_key(session: AsyncSession, key: str) -> int:
    """The shop id a bearer key belongs to; Unauthorized for unknown or revoked keys."""
    shop_id = await session.scalar(
        select(ApiKey.shop_id).where(
            ApiKey.digest == api_key_digest(key), ApiKey.revoked_at.is_(None)
        )
    )
    if shop_id is None:
        raise Unauthorized("the API key is not valid")
    return int(shop_id)


async def revoke_api_key(*, session: AsyncSession, shop_id: int, key_id: int) -> None:
    row = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.shop_id == shop_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)

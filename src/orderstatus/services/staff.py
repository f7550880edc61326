"""Staff sign-in and sessions for the admin.

A session is a row holding the digest of a random token; the browser holds the token
in a signed cookie. The signature's age gives the idle time and the row the latest end,
so both limits are checked here, on the server, and signing out deletes the row: a
copied cookie stops working with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.models import Activity, Shop, StaffSession, StaffUser
from orderstatus.domain.admin import SESSION_MAX, staff_actor
from orderstatus.domain.inputs import normalize_email
from orderstatus.services.security import hash_password, verify_password


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in staff member and the one shop they may see."""

    id: int
    email: str
    name: str | None
    shop_id: int
    shop_handle: str
    shop_name: str
    shop_locale: str
    shop_timezone: str
    session_id: int
    expires_at: datetime

    @property
    def actor(self) -> str:
        return staff_actor(self.email)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    """The session token for the cookie; only its digest is stored."""
    staff: Staff


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def account_subject(email: str) -> str | None:
    """What failed sign-ins with this address count against: the address as
    :func:`sign_in` reads it (every spelling of one account is one key); None for an
    address that can match no account."""
    try:
        return normalize_email(email)
    except ValueError:
        return None


async def sign_in(
    session: AsyncSession, *, email: str, password: str, now: datetime | None = None
) -> SignedIn | None:
    """A new session when the address and password match a staff account, else None.

    An unknown address costs the same password check as a wrong password, so the answer
    time does not tell which addresses have accounts.
    """
    now = now or datetime.now(UTC)
    address = account_subject(email)
    user = (
        await session.scalar(select(StaffUser).where(StaffUser.email == address))
        if address
        else None
    )
    if user is None:
        verify_password(_decoy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    shop = await session.get_one(Shop, user.shop_id)
    await session.execute(
        delete(StaffSession).where(StaffSession.staff_id == user.id, StaffSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        staff_id=user.id,
        shop_id=user.shop_id,
        digest=token_digest(token),
        created_at=now,
        expires_at=now + SESSION_MAX,
    )
    session.add(row)
    user.last_login_at = now
    session.add(
        Activity(
            shop_id=user.shop_id,
            order_id=None,
            kind="staff_signed_in",
            actor=staff_actor(user.email),
            message="Signed in to the admin",
        )
    )
    await session.flush()
    return SignedIn(token, _staff(user, shop, row))


def _staff(user: StaffUser, shop: Shop, row: StaffSession) -> Staff:
    return Staff(
        id=user.id,
        email=user.email,
        name=user.name,
        shop_id=shop.id,
        shop_handle=shop.handle,
        shop_name=shop.name,
        shop_locale=shop.default_locale,
        shop_timezone=shop.timezone,
        session_id=row.id,
        expires_at=row.expires_at,
    )


async def load_session(
    session: AsyncSession, *, token: str, now: datetime | None = None
) -> Staff | None:
    """The staff member a session token belongs to, while the session lasts."""
    now = now or datetime.now(UTC)
    row = (
        await session.execute(
            select(StaffSession, StaffUser, Shop)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .join(Shop, Shop.id == StaffUser.shop_id)
            .where(StaffSession.digest == token_digest(token), StaffSession.expires_at > now)
        )
    ).first()
    if row is None:
        return None
    staff_session, user, shop = row
    if staff_session.shop_id != user.shop_id:
        return None
    return _staff(user, shop, staff_session)


async def sign_out(session: AsyncSession, *, token: str) -> None:
    """End the session the token belongs to (nothing happens for an unknown token)."""
    row = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.digest == token_digest(token))
        )
    ).first()
    if row is None:
        return
    staff_session, user = row
    await session.delete(staff_session)
    session.add(
        Activity(
            shop_id=user.shop_id,
            order_id=None,
            kind="staff_signed_out",
            actor=staff_actor(user.email),
            message="Signed out of the admin",
        )
    )

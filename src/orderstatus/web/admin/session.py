"""The staff session cookie, and who is signed in.

The cookie holds the session token signed with a timestamp. It is sent to every path
("/"), not only /admin, because "View order status page" opens /orders/{token} and
that page must know a staff member is looking; it is HttpOnly, SameSite=Lax (a form
on another site cannot use it) and Secure when the service runs on https.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from orderstatus.db.engine import Database
from orderstatus.domain.admin import SESSION_IDLE, SessionCheck, check_session
from orderstatus.services.staff import Staff, load_session
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import Pages
from orderstatus.web.ratelimit import RateLimiter

STAFF_COOKIE = "os_staff"
CLIENT_ATTEMPTS = 20
"""Failed sign-ins per client in 15 minutes: an office behind one address has room."""
ACCOUNT_ATTEMPTS = 5
"""Failed sign-ins per e-mail address in 15 minutes: guessing one password is slow."""


class SignInRequired(Exception):
    """No valid staff session: the answer is the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(slots=True)
class AdminState:
    """What the admin keeps for the life of the app."""

    serializer: URLSafeTimedSerializer
    per_client: RateLimiter
    per_account: RateLimiter
    secure: bool

    def sign(self, token: str) -> str:
        return self.serializer.dumps(token)

    def read(self, value: str | None) -> tuple[str, datetime] | None:
        """The token and when it was signed, for a genuine cookie not idle too long."""
        if not value:
            return None
        try:
            token, signed_at = self.serializer.loads(
                value, max_age=int(SESSION_IDLE.total_seconds()), return_timestamp=True
            )
        except BadSignature:
            return None
        return (token, signed_at) if isinstance(token, str) else None


def admin_state(request: Request) -> AdminState:
    state: AdminState | None = getattr(request.app.state, "admin", None)
    if state is None:
        pages: Pages = request.app.state.pages
        settings = pages.settings
        state = AdminState(
            serializer=URLSafeTimedSerializer(settings.resolved_secret_key(), salt="staff-session"),
            per_client=RateLimiter(settings.redis_url, attempts=CLIENT_ATTEMPTS),
            per_account=RateLimiter(settings.redis_url, attempts=ACCOUNT_ATTEMPTS),
            secure=pages.secure_cookies,
        )
        request.app.state.admin = state
    return state


def set_staff_cookie(response: Response, state: AdminState, token: str) -> None:
    response.set_cookie(
        STAFF_COOKIE,
        state.sign(token),
        max_age=int(SESSION_IDLE.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=state.secure,
    )


def clear_staff_cookie(response: Response, state: AdminState) -> None:
    response.delete_cookie(
        STAFF_COOKIE, path="/", httponly=True, samesite="lax", secure=state.secure
    )


async def current_staff(request: Request, database: Database) -> Staff | None:
    """Who is signed in on this request, if anyone (read once per request)."""
    if hasattr(request.state, "staff"):
        known: Staff | None = request.state.staff
        return known
    state = admin_state(request)
    staff = None
    signed = state.read(request.cookies.get(STAFF_COOKIE))
    if signed is not None:
        token, signed_at = signed
        async with database.read() as session:
            staff = await load_session(session, token=token)
        if staff is not None:
            check = check_session(
                signed_at=signed_at, expires_at=staff.expires_at, now=datetime.now(UTC)
            )
            if check is SessionCheck.EXPIRED:
                staff = None
            elif check is SessionCheck.REFRESH:
                request.state.staff_token = token
    request.state.staff = staff
    return staff


def keep_session_alive(request: Request, response: Response) -> None:
    """Sign the cookie again when its idle clock should restart."""
    token = getattr(request.state, "staff_token", None)
    if token:
        set_staff_cookie(response, admin_state(request), token)


def _return_path(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path = f"{path}?{request.url.query}"
    return path


async def require_staff(request: Request, database: DatabaseDep) -> Staff:
    staff = await current_staff(request, database)
    if staff is None:
        raise SignInRequired(_return_path(request) if request.method == "GET" else "/admin")
    return staff


StaffDep = Annotated[Staff, Depends(require_staff)]


def sign_in_url(next_path: str) -> str:
    return "/admin/login?next=" + quote(next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a page of the admin, never another site."""
    if value and value.startswith("/admin") and "//" not in value and "\\" not in value:
        return value
    return "/admin/orders"


async def is_staff_preview(request: Request, database: Database, shop_id: int) -> bool:
    """Whether the status page is asked for as a staff preview (``?preview=1``, the
    admin's "View order status page") by staff of the order's shop."""
    if request.query_params.get("preview") != "1" or STAFF_COOKIE not in request.cookies:
        return False
    staff = await current_staff(request, database)
    return staff is not None and staff.shop_id == shop_id

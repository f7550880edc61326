"""Who may see an order's private page, and forms that cannot be forged."""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

OWNER_COOKIE = "os_owner"
OWNER_MAX_AGE = 60 * 60 * 24 * 365
CSRF_COOKIE = "os_csrf"
CSRF_FIELD = "csrf_token"


class Signer:
    """Signed, expiring values for cookies, bound to one purpose each."""

    def __init__(self, secret_key: str) -> None:
        self._owner = URLSafeTimedSerializer(secret_key, salt="order-owner")

    def owner_value(self, order_id: int) -> str:
        return self._owner.dumps(order_id)

    def is_owner(self, value: str | None, order_id: int) -> bool:
        if not value:
            return False
        try:
            return bool(self._owner.loads(value, max_age=OWNER_MAX_AGE) == order_id)
        except BadSignature:
            return False


def order_path(token: str) -> str:
    return f"/orders/{token}"


def set_owner_cookie(
    response: Response, signer: Signer, *, order_id: int, token: str, secure: bool
) -> None:
    """Make this browser the order's owner. The cookie is sent only to that order's page
    (and its live stream), never to a share link or another order."""
    response.set_cookie(
        OWNER_COOKIE,
        signer.owner_value(order_id),
        max_age=OWNER_MAX_AGE,
        path=order_path(token),
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_owner_cookie(response: Response, *, token: str, secure: bool) -> None:
    """Sign this browser out of the order's page (the same path the cookie was set on)."""
    response.delete_cookie(
        OWNER_COOKIE, path=order_path(token), httponly=True, samesite="lax", secure=secure
    )


def csrf_token(request: Request) -> str:
    """This browser's form token (double-submit: the cookie and the field must agree)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and len(token) >= 32:
        return token
    token = getattr(request.state, "new_csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


def remember_csrf(request: Request, response: Response, *, secure: bool) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE, new, path="/", httponly=True, samesite="lax", secure=secure
        )


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))

"""The merchant's admin under /admin: sign-in, orders, the status page, notifications,
webhooks and settings. Handlers parse the form, call one service in one transaction, and render."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from orderstatus.web import media
from orderstatus.web.admin import (
    auth,
    connections,
    insights,
    notifications,
    orders,
    page,
    settings,
    shipping,
    webhooks,
)
from orderstatus.web.admin.forms import FormExpired, expired
from orderstatus.web.admin.page import LOGO_BODY_LIMIT, LOGO_PATH
from orderstatus.web.admin.session import SignInRequired, sign_in_url

BODY_LIMITS = {LOGO_PATH: LOGO_BODY_LIMIT}
"""Paths that take a larger body than the app's default (the logo upload)."""


async def _sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(sign_in_url(exc.next_path), status_code=303)


def install(app: FastAPI) -> None:
    """Add the admin's routes, the logo files, and the way to the sign-in page."""
    for module in (
        auth,
        orders,
        shipping,
        page,
        notifications,
        connections,
        webhooks,
        insights,
        settings,
        media,
    ):
        app.include_router(module.router)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(FormExpired, expired)

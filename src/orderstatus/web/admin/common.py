"""What every admin page handler shares: rendering with the admin's frame, redirects
that keep the session alive, genuine forms, and 404 for anything not of the shop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from orderstatus import i18n
from orderstatus.domain.errors import NotFound
from orderstatus.i18n import N_
from orderstatus.services.staff import Staff
from orderstatus.web.admin.session import keep_session_alive
from orderstatus.web.pages import Pages
from orderstatus.web.security import CSRF_FIELD, csrf_ok

FORM_EXPIRED = N_("The form expired. Please try again.")
CHECK_FIELDS = N_("Nothing was saved. Please check the fields marked below.")

DONE: dict[str, str] = {
    "fulfilled": N_("Items fulfilled."),
    "tracking": N_("Tracking updated."),
    "cancelled": N_("Shipment cancelled: its items are unfulfilled again."),
    "event": N_("Event added."),
    "note": N_("Note saved."),
    "resent": N_("The message will be sent again."),
    "erased": N_("The customer's data was removed from their orders."),
    "branding": N_("Branding saved."),
    "prices": N_("Prices saved."),
    "logo": N_("Logo saved."),
    "logo_removed": N_("Logo removed."),
    "message": N_("Note saved."),
    "message_removed": N_("Note removed."),
    "revoked": N_("API key revoked."),
    "connected": N_("Connection saved."),
    "disconnected": N_("Connection removed."),
    "storefront_on": N_("The demo storefront is on."),
    "storefront_off": N_("The demo storefront is off."),
    "notifications": N_("Notification settings saved."),
    "template": N_("Template saved."),
    "template_reset": N_("Template reset to the default."),
    "timezone": N_("Time zone saved."),
    "webhook_removed": N_("Webhook removed."),
    "webhook_on": N_("Webhook turned on: events from now on are sent to it."),
    "webhook_off": N_("Webhook turned off: nothing is sent to it."),
    "webhook_resent": N_("The delivery will be sent again."),
    "webhook_busy": N_("That delivery is being sent already."),
}
"""Confirmations shown after a change, by the ``done`` query parameter of the redirect."""


def render(
    request: Request,
    pages: Pages,
    template: str,
    *,
    staff: Staff | None,
    section: str = "",
    status_code: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    """An admin page in the staff member's language, never cached."""
    locale = pages.locale(request, order=None, shop=staff.shop_locale if staff else None)
    i18n.activate(locale)
    done = DONE.get(request.query_params.get("done", ""))
    html = pages.render(
        f"admin/{template}",
        locale,
        staff=staff,
        section=section,
        title=title,
        done=i18n.gettext(done) if done else None,
        tz=staff.shop_timezone if staff else "UTC",
        **context,
    )
    response = pages.respond(request, html, status_code=status_code, private=True)
    keep_session_alive(request, response)
    return response


def redirect(request: Request, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    keep_session_alive(request, response)
    return response


def gettext(message: str) -> str:
    return i18n.gettext(message)


async def read_form(request: Request) -> FormData:
    return await request.form()


def genuine(request: Request, form: FormData) -> bool:
    """The form came from our page in this browser (its token matches the cookie)."""
    value = form.get(CSRF_FIELD)
    return csrf_ok(request, value if isinstance(value, str) else None)


def form_expired(request: Request, pages: Pages, staff: Staff | None) -> HTMLResponse:
    return render(
        request,
        pages,
        "message.html",
        staff=staff,
        status_code=400,
        title=gettext(N_("Please try again")),
        message=gettext(FORM_EXPIRED),
    )


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def not_found() -> HTTPException:
    return HTTPException(404)


@contextmanager
def found() -> Iterator[None]:
    """Another shop's id, or none at all: the same 404."""
    try:
        yield
    except NotFound:
        raise not_found() from None


def field_errors(exc: ValidationError, fields: dict[str, str] | None = None) -> dict[str, str]:
    """Pydantic's complaints by form field, in words for the staff member."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = loc[0] if loc else "form"
        name = (fields or {}).get(name, name)
        errors.setdefault(name, describe(error))
    return errors


def describe(error: Any) -> str:
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return gettext(N_("This field is required."))
    if kind == "string_too_long":
        return gettext(N_("This is too long."))
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")

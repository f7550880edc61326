"""Customise the status page: branding, logo, the shop's notes, and a live preview."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from orderstatus import i18n
from orderstatus.db.models import PageMessage
from orderstatus.domain.admin import MESSAGE_STATUSES, chosen_message_statuses
from orderstatus.domain.branding import (
    MAX_LOGO_BYTES,
    MESSAGE_LOCALES,
    BrandingInput,
    PageMessageInput,
    normalize_color,
)
from orderstatus.domain.errors import Invalid
from orderstatus.domain.markdown import render_markdown
from orderstatus.domain.view import MessageData, Viewer, build_view
from orderstatus.i18n import N_
from orderstatus.services import shop_settings
from orderstatus.services.staff import Staff
from orderstatus.services.status_pages import shop_data
from orderstatus.web.admin.common import (
    CHECK_FIELDS,
    form_expired,
    found,
    genuine,
    gettext,
    read_form,
    redirect,
    render,
    text,
)
from orderstatus.web.admin.session import StaffDep
from orderstatus.web.deps import DatabaseDep, Id
from orderstatus.web.pages import Pages, PagesDep

router = APIRouter(prefix="/admin/page", include_in_schema=False)

LOGO_PATH = "/admin/page/logo"
LOGO_BODY_LIMIT = 8 * 1024 * 1024
"""The upload's whole body may be this large, so that a logo over 1 MiB is refused with
a message next to its field instead of the server's blunt 413."""
PREVIEW_STATUSES = (
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "attempted_delivery",
    "delivered",
)

_BRANDING_MESSAGES = {
    "name": N_("Give the shop's name as customers know it."),
    "accent_color": N_("Enter a colour like #1f6f5c."),
    "contact_email": N_("Enter an e-mail address like name@example.com."),
    "website_url": N_("Enter a web address starting with https://"),
}
_TOO_LIGHT = N_(
    "This colour is too light: white text on it would be hard to read. Choose a darker shade."
)
_LOGO_MESSAGES = {
    "empty": N_("Choose an image file."),
    "too large": N_("The logo is larger than 1 MiB. Save it smaller and try again."),
    "type": N_("The logo must be a PNG, JPEG or WebP image (SVG is not accepted)."),
}


def _branding_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "name"
        message = _BRANDING_MESSAGES.get(name, _BRANDING_MESSAGES["name"])
        if name == "accent_color" and "too light" in str(error["msg"]):
            message = _TOO_LIGHT
        errors.setdefault(name, gettext(message))
    return errors


def _message_values(form: FormData) -> dict[str, Any]:
    return {
        "body": text(form, "body"),
        "placement": text(form, "placement") or "top",
        "statuses": [v for v in form.getlist("statuses") if isinstance(v, str)],
        "locale": text(form, "locale") or None,
    }


def _message_input(values: dict[str, Any]) -> tuple[PageMessageInput | None, dict[str, str]]:
    try:
        return PageMessageInput.model_validate(values), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "body"
            if name == "body":
                message = (
                    N_("Write the note.")
                    if error["type"] == "string_too_short"
                    else N_("Keep the note under 5000 characters.")
                )
            else:
                message = N_("Choose from the list.")
            errors.setdefault(name, gettext(message))
        return None, errors


async def _page(
    request: Request,
    pages: Pages,
    database: DatabaseDep,
    staff: Staff,
    *,
    status_code: int = 200,
    branding: dict[str, Any] | None = None,
    branding_errors: dict[str, str] | None = None,
    logo_error: str | None = None,
    message: dict[str, Any] | None = None,
    message_errors: dict[str, str] | None = None,
) -> Response:
    async with database.read() as session:
        shop = await shop_settings.get_shop(session, shop_id=staff.shop_id)
        messages = await shop_settings.list_messages(session, shop_id=staff.shop_id)
    saved = {
        "name": shop.name,
        "accent_color": shop.accent_color,
        "contact_email": shop.contact_email or "",
        "website_url": shop.website_url or "",
    }
    failed = bool(branding_errors or logo_error or message_errors)
    return render(
        request,
        pages,
        "page.html",
        staff=staff,
        section="page",
        status_code=status_code,
        title=gettext(N_("Status page")),
        shop=shop_data(shop, pages.settings.base_url),
        branding=saved | (branding or {}),
        taxes_included=shop.taxes_included,
        branding_errors=branding_errors or {},
        logo_error=logo_error,
        messages=[
            (m, render_markdown(m.body_markdown), chosen_message_statuses(m.statuses))
            for m in messages
        ],
        message=message or {"placement": "top", "statuses": []},
        message_errors=message_errors or {},
        message_statuses=list(MESSAGE_STATUSES),
        locales=MESSAGE_LOCALES,
        preview_statuses=PREVIEW_STATUSES,
        max_logo=MAX_LOGO_BYTES,
        form_error=gettext(CHECK_FIELDS) if failed else None,
    )


@router.get("", response_class=HTMLResponse)
async def page_settings(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    return await _page(request, pages, database, staff)


@router.post("/branding", response_class=HTMLResponse)
async def save_branding(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    values = {
        name: text(form, name) for name in ("name", "accent_color", "contact_email", "website_url")
    }
    try:
        data = BrandingInput.model_validate({k: v or None for k, v in values.items()})
    except ValidationError as exc:
        return await _page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            branding=values,
            branding_errors=_branding_errors(exc),
        )
    async with database.write() as session:
        await shop_settings.update_branding(
            session=session, shop_id=staff.shop_id, data=data, actor=staff.actor
        )
    return redirect(request, "/admin/page?done=branding")


@router.post("/prices", response_class=HTMLResponse)
async def save_prices(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    async with database.write() as session:
        await shop_settings.set_taxes_included(
            session=session,
            shop_id=staff.shop_id,
            taxes_included=form.get("taxes_included") == "1",
            actor=staff.actor,
        )
    return redirect(request, "/admin/page?done=prices")


async def _read_upload(upload: UploadFile) -> bytes:
    """At most one byte more than a logo may have: enough to know it is too big."""
    data = await upload.read(MAX_LOGO_BYTES + 1)
    await upload.close()
    return data


@router.post("/logo", response_class=HTMLResponse)
async def upload_logo(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    upload = form.get("logo")
    data = await _read_upload(upload) if isinstance(upload, UploadFile) else b""
    try:
        name = await asyncio.to_thread(
            shop_settings.store_logo, pages.settings.var_dir, staff.shop_handle, data
        )
    except Invalid as exc:
        reason = next(iter((exc.fields or {"logo": "type"}).values()))
        return await _page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            logo_error=gettext(_LOGO_MESSAGES.get(reason, _LOGO_MESSAGES["type"])),
        )
    async with database.write() as session:
        await shop_settings.set_logo(
            session=session, shop_id=staff.shop_id, logo_path=name, actor=staff.actor
        )
    return redirect(request, "/admin/page?done=logo")


@router.post("/logo/remove", response_class=HTMLResponse)
async def remove_logo(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    async with database.write() as session:
        await shop_settings.set_logo(
            session=session, shop_id=staff.shop_id, logo_path=None, actor=staff.actor
        )
    return redirect(request, "/admin/page?done=logo_removed")


@router.post("/messages", response_class=HTMLResponse)
async def add_message(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    values = _message_values(form)
    data, errors = _message_input(values)
    if data is None:
        return await _page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            message=values,
            message_errors=errors,
        )
    async with database.write() as session:
        await shop_settings.save_message(
            session=session, shop_id=staff.shop_id, data=data, actor=staff.actor
        )
    return redirect(request, "/admin/page?done=message#messages")


def _edit_page(
    request: Request,
    pages: Pages,
    staff: Staff,
    row: PageMessage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    saved = {
        "body": row.body_markdown,
        "placement": row.placement,
        "statuses": chosen_message_statuses(row.statuses),
        "locale": row.locale,
        "active": row.active,
    }
    return render(
        request,
        pages,
        "page_message.html",
        staff=staff,
        section="page",
        status_code=status_code,
        title=gettext(N_("Edit note")),
        row=row,
        message=values or saved,
        message_errors=errors or {},
        message_statuses=list(MESSAGE_STATUSES),
        locales=MESSAGE_LOCALES,
        form_error=gettext(CHECK_FIELDS) if errors else None,
    )


@router.get("/messages/{message_id}", response_class=HTMLResponse)
async def edit_message(
    message_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    with found():
        async with database.read() as session:
            row = await shop_settings.get_message(
                session, shop_id=staff.shop_id, message_id=message_id
            )
    return _edit_page(request, pages, staff, row)


@router.post("/messages/{message_id}", response_class=HTMLResponse)
async def change_message(
    message_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    with found():
        async with database.read() as session:
            row = await shop_settings.get_message(
                session, shop_id=staff.shop_id, message_id=message_id
            )
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    values = _message_values(form)
    values_active = form.get("active") == "1"
    data, errors = _message_input(values)
    if data is None:
        return _edit_page(
            request,
            pages,
            staff,
            row,
            values=values | {"active": values_active},
            errors=errors,
            status_code=422,
        )
    with found():
        async with database.write() as session:
            await shop_settings.save_message(
                session=session,
                shop_id=staff.shop_id,
                data=data,
                actor=staff.actor,
                message_id=message_id,
                active=values_active,
            )
    return redirect(request, "/admin/page?done=message#messages")


@router.post("/messages/{message_id}/delete", response_class=HTMLResponse)
async def delete_message(
    message_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    with found():
        async with database.read() as session:
            await shop_settings.get_message(session, shop_id=staff.shop_id, message_id=message_id)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    with found():
        async with database.write() as session:
            await shop_settings.delete_message(
                session=session, shop_id=staff.shop_id, message_id=message_id, actor=staff.actor
            )
    return redirect(request, "/admin/page?done=message_removed#messages")


def _frameable(pages: Pages) -> dict[str, str]:
    """The preview is shown in a frame on the admin's own page, and only there."""
    policy = pages.headers["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    return {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": policy}


@router.get("/preview", response_class=HTMLResponse)
async def preview(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    """The status page of a made-up order with the shop's notes and look, and the draft
    values of the forms (``name``, ``accent_color``, ``note``) when given, so staff see
    a change before saving it."""
    params = request.query_params
    status = params.get("status", "in_transit")
    status = status if status in PREVIEW_STATUSES else "in_transit"
    async with database.read() as session:
        shop = await shop_settings.get_shop(session, shop_id=staff.shop_id)
        rows = await shop_settings.list_messages(session, shop_id=staff.shop_id)
    data = shop_data(shop, pages.settings.base_url)
    name = " ".join(params.get("name", "").split())[:255]
    if name:
        data = replace(data, name=name)
    with contextlib.suppress(ValueError):
        data = replace(data, accent_color=normalize_color(params.get("accent_color", "")))
    messages = [
        MessageData(m.placement, render_markdown(m.body_markdown), m.statuses, m.locale)
        for m in rows
        if m.active
    ]
    draft = params.get("note", "").strip()[:5000]
    if draft:
        placement = params.get("placement", "top")
        messages.append(
            MessageData(
                placement if placement in ("top", "bottom") else "top",
                render_markdown(draft),
                None,
                None,
            )
        )
    order = shop_settings.sample_order(
        status, messages=messages, taxes_included=shop.taxes_included
    )
    locale = pages.locale(request, order=None, shop=shop.default_locale)
    view = build_view(order, data, Viewer.STAFF, locale=locale)
    i18n.activate(locale)
    html = pages.render(
        "status.html",
        locale,
        view=view,
        shop=data,
        base_path="/admin/page/preview",
        base_url=pages.settings.base_url,
        show_login=False,
        thanks=False,
        login_error=None,
        form_errors={},
        page_version=0,
    )
    return pages.respond(request, html, private=True, headers=_frameable(pages))

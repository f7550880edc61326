"""Customise the status page: branding, logo, the shop's notes, and a live preview."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from orderstatus import i18n
from orderstatus.domain.admin import MESSAGE_STATUSES
from orderstatus.domain.branding import (
    MAX_LOGO_BYTES,
    MESSAGE_LOCALES,
    BrandingInput,
    PageMessageInput,
)
from orderstatus.domain.errors import Invalid
from orderstatus.domain.view import Viewer, build_view
from orderstatus.i18n import N_
from orderstatus.services import shop_settings
from orderstatus.services.admin_records import NoteRow
from orderstatus.web.admin.common import gettext, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import Id
from orderstatus.web.pages import Pages

router = APIRouter(prefix="/admin/page", include_in_schema=False)

LOGO_PATH = "/admin/page/logo"
LOGO_BODY_LIMIT = 8 * 1024 * 1024
"""The upload's whole body may be this large, so that a logo over 1 MiB is refused with
a message next to its field instead of the server's blunt 413."""

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
    admin: Admin,
    *,
    status_code: int = 200,
    branding: dict[str, Any] | None = None,
    branding_errors: dict[str, str] | None = None,
    logo_error: str | None = None,
    message: dict[str, Any] | None = None,
    message_errors: dict[str, str] | None = None,
) -> Response:
    async with admin.read() as session:
        settings = await shop_settings.page_settings(
            session, shop_id=admin.shop_id, base_url=admin.base_url
        )
    return admin.render(
        "page.html",
        section="page",
        status_code=status_code,
        title=gettext(N_("Status page")),
        errors={
            **(branding_errors or {}),
            **(message_errors or {}),
            **({"logo": logo_error} if logo_error else {}),
        },
        shop=settings.shop,
        branding=settings.branding | (branding or {}),
        taxes_included=settings.taxes_included,
        branding_errors=branding_errors or {},
        logo_error=logo_error,
        messages=settings.notes,
        message=message or {"placement": "top", "statuses": []},
        message_errors=message_errors or {},
        message_statuses=list(MESSAGE_STATUSES),
        locales=MESSAGE_LOCALES,
        preview_statuses=shop_settings.PREVIEW_STATUSES,
        max_logo=MAX_LOGO_BYTES,
    )


@router.get("", response_class=HTMLResponse)
async def page_settings(admin: AdminDep) -> Response:
    return await _page(admin)


@router.post("/branding", response_class=HTMLResponse)
async def save_branding(admin: AdminDep) -> Response:
    form = await admin.form()
    values = {
        name: text(form, name) for name in ("name", "accent_color", "contact_email", "website_url")
    }
    try:
        data = BrandingInput.model_validate({k: v or None for k, v in values.items()})
    except ValidationError as exc:
        return await _page(
            admin, status_code=422, branding=values, branding_errors=_branding_errors(exc)
        )
    await admin.save(shop_settings.update_branding, data=data)
    return admin.done("/admin/page?done=branding")


@router.post("/prices", response_class=HTMLResponse)
async def save_prices(admin: AdminDep) -> Response:
    form = await admin.form()
    await admin.save(
        shop_settings.set_taxes_included, taxes_included=form.get("taxes_included") == "1"
    )
    return admin.done("/admin/page?done=prices")


async def _read_upload(upload: UploadFile) -> bytes:
    """At most one byte more than a logo may have: enough to know it is too big."""
    data = await upload.read(MAX_LOGO_BYTES + 1)
    await upload.close()
    return data


@router.post("/logo", response_class=HTMLResponse)
async def upload_logo(admin: AdminDep) -> Response:
    form = await admin.form()
    upload = form.get("logo")
    data = await _read_upload(upload) if isinstance(upload, UploadFile) else b""
    try:
        name = await asyncio.to_thread(
            shop_settings.store_logo, admin.pages.settings.var_dir, admin.staff.shop_handle, data
        )
    except Invalid as exc:
        reason = next(iter((exc.fields or {"logo": "type"}).values()))
        return await _page(
            admin,
            status_code=422,
            logo_error=gettext(_LOGO_MESSAGES.get(reason, _LOGO_MESSAGES["type"])),
        )
    await admin.save(shop_settings.set_logo, logo_path=name)
    return admin.done("/admin/page?done=logo")


@router.post("/logo/remove", response_class=HTMLResponse)
async def remove_logo(admin: AdminDep) -> Response:
    await admin.form()
    await admin.save(shop_settings.set_logo, logo_path=None)
    return admin.done("/admin/page?done=logo_removed")


@router.post("/messages", response_class=HTMLResponse)
async def add_message(admin: AdminDep) -> Response:
    values = _message_values(await admin.form())
    data, errors = _message_input(values)
    if data is None:
        return await _page(admin, status_code=422, message=values, message_errors=errors)
    await admin.save(shop_settings.save_message, data=data)
    return admin.done("/admin/page?done=message#messages")


def _edit_page(
    admin: Admin,
    note: NoteRow,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    saved = {
        "body": note.body_markdown,
        "placement": note.placement,
        "statuses": list(note.choices),
        "locale": note.locale,
        "active": note.active,
    }
    return admin.render(
        "page_message.html",
        section="page",
        status_code=status_code,
        title=gettext(N_("Edit note")),
        errors=errors or {},
        row=note,
        message=values or saved,
        message_errors=errors or {},
        message_statuses=list(MESSAGE_STATUSES),
        locales=MESSAGE_LOCALES,
    )


async def _note(admin: Admin, message_id: int) -> NoteRow:
    async with admin.read() as session:
        return await shop_settings.get_note(session, shop_id=admin.shop_id, message_id=message_id)


@router.get("/messages/{message_id}", response_class=HTMLResponse)
async def edit_message(message_id: Id, admin: AdminDep) -> Response:
    return _edit_page(admin, await _note(admin, message_id))


@router.post("/messages/{message_id}", response_class=HTMLResponse)
async def change_message(message_id: Id, admin: AdminDep) -> Response:
    note = await _note(admin, message_id)
    form = await admin.form()
    values = _message_values(form)
    active = form.get("active") == "1"
    data, errors = _message_input(values)
    if data is None:
        return _edit_page(
            admin, note, values=values | {"active": active}, errors=errors, status_code=422
        )
    await admin.save(shop_settings.save_message, data=data, message_id=message_id, active=active)
    return admin.done("/admin/page?done=message#messages")


@router.post("/messages/{message_id}/delete", response_class=HTMLResponse)
async def delete_message(message_id: Id, admin: AdminDep) -> Response:
    await _note(admin, message_id)
    await admin.form()
    await admin.save(shop_settings.delete_message, message_id=message_id)
    return admin.done("/admin/page?done=message_removed#messages")


def _frameable(pages: Pages) -> dict[str, str]:
    """The preview is shown in a frame on the admin's own page, and only there."""
    policy = pages.headers["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    return {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": policy}


@router.get("/preview", response_class=HTMLResponse)
async def preview(admin: AdminDep) -> Response:
    """The status page of a made-up order with the shop's notes and look, and the draft
    values of the forms (``name``, ``accent_color``, ``note``) when given, so staff see
    a change before saving it."""
    params = admin.request.query_params
    draft = shop_settings.Draft(
        status=params.get("status", "in_transit"),
        name=params.get("name", ""),
        accent_color=params.get("accent_color", ""),
        note=params.get("note", ""),
        placement=params.get("placement", "top"),
    )
    async with admin.read() as session:
        order, shop = await shop_settings.preview(
            session, shop_id=admin.shop_id, base_url=admin.base_url, draft=draft
        )
    pages = admin.pages
    locale = pages.locale(admin.request, order=None, shop=shop.default_locale)
    view = build_view(order, shop, Viewer.STAFF, locale=locale)
    i18n.activate(locale)
    html = pages.render(
        "status.html",
        locale,
        view=view,
        shop=shop,
        base_path="/admin/page/preview",
        base_url=admin.base_url,
        show_login=False,
        thanks=False,
        login_error=None,
        form_errors={},
        typed={},
        page_version=0,
    )
    return pages.respond(admin.request, html, private=True, headers=_frameable(pages))

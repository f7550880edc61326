"""Notifications in the admin: which kinds go out, the wording of each kind in each
language (sandboxed templates, checked before they are saved), and the mailbox of
messages kept while no SMTP server or SMS provider is configured."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orderstatus import i18n
from orderstatus.db.engine import Database
from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.inputs import whole_number
from orderstatus.domain.notifications import Kind, State
from orderstatus.i18n import N_
from orderstatus.notify.templates import LANGUAGES, TemplateSource
from orderstatus.services import notifications
from orderstatus.services.staff import Staff
from orderstatus.web.admin.common import (
    form_expired,
    found,
    genuine,
    gettext,
    not_found,
    read_form,
    redirect,
    render,
    text,
)
from orderstatus.web.admin.session import StaffDep
from orderstatus.web.deps import DatabaseDep, Id
from orderstatus.web.pages import Pages, PagesDep

router = APIRouter(prefix="/admin/notifications", include_in_schema=False)

SMS_KINDS = frozenset({Kind.ORDER_CONFIRMATION})
"""Kinds that also go by text message, so their editor has an SMS part."""
PART_FIELDS = ("subject", "html", "text", "sms")


def _kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise not_found() from None


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise not_found()
    return value


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    async with database.read() as session:
        settings = await notifications.get_notification_settings(session, shop_id=staff.shop_id)
        templates = {
            (kind, language): await notifications.get_template(
                session, shop_id=staff.shop_id, kind=kind.value, language=language
            )
            for kind in Kind
            for language in LANGUAGES
        }
        held = len(await notifications.mailbox(session, shop_id=staff.shop_id, limit=200))
    return render(
        request,
        pages,
        "notifications.html",
        staff=staff,
        section="notifications",
        title=gettext(N_("Notifications")),
        kinds=list(Kind),
        template_languages=LANGUAGES,
        templates=templates,
        settings=settings,
        held=held,
    )


@router.post("/settings", response_class=HTMLResponse)
async def save_settings(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    on = {v for v in form.getlist("kinds") if isinstance(v, str)}
    off = [kind.value for kind in Kind if kind.value not in on]
    async with database.write() as session:
        await notifications.update_notification_settings(
            session,
            shop_id=staff.shop_id,
            kinds_off=off,
            sms_confirmation_with_email=form.get("sms_confirmation_with_email") == "1",
            actor=staff.actor,
        )
    return redirect(request, "/admin/notifications?done=notifications")


# ---- the template editor ----


def _source(form: Any, kind: Kind) -> TemplateSource:
    def part(name: str) -> str:
        value = form.get(name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else ""

    return TemplateSource(
        subject=part("subject").strip(),
        text=part("text"),
        html=part("html"),
        sms=part("sms") if kind in SMS_KINDS else None,
    )


async def _editor(
    request: Request,
    pages: Pages,
    database: DatabaseDep,
    staff: Staff,
    kind: Kind,
    language: str,
    *,
    source: TemplateSource | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    """The editor with a preview of ``source`` (the stored wording when None); a source
    that does not render shows its errors instead, with 422."""
    async with database.read() as session:
        stored = await notifications.get_template(
            session, shop_id=staff.shop_id, kind=kind.value, language=language
        )
        shown = source or stored.source
        preview = None
        if not errors:
            try:
                preview = await notifications.preview_template(
                    session,
                    shop_id=staff.shop_id,
                    kind=kind.value,
                    language=language,
                    source=shown,
                    base_url=pages.settings.base_url,
                )
            except Invalid as exc:
                errors = _part_errors(exc)
    return render(
        request,
        pages,
        "template.html",
        staff=staff,
        section="notifications",
        status_code=422 if errors and status_code == 200 else status_code,
        title=gettext(N_("Edit message")),
        kind=kind.value,
        language=language,
        template_languages=LANGUAGES,
        source=shown,
        has_sms=kind in SMS_KINDS,
        is_default=stored.is_default,
        preview=preview,
        errors=errors or {},
        notice=notice,
    )


async def _send_test(
    request: Request,
    pages: Pages,
    database: Database,
    staff: Staff,
    kind: Kind,
    language: str,
    source: TemplateSource,
) -> Response:
    """E-mail the template, as edited, to the staff member; say how it went."""
    settings = pages.settings
    try:
        async with database.read() as session:
            await notifications.send_test(
                session,
                shop_id=staff.shop_id,
                kind=kind.value,
                language=language,
                source=source,
                to=staff.email,
                base_url=settings.base_url,
                smtp_url=settings.smtp_url,
                smtp_from=settings.smtp_from,
            )
    except Invalid as exc:
        return await _editor(
            request,
            pages,
            database,
            staff,
            kind,
            language,
            source=source,
            errors=_part_errors(exc),
            status_code=422,
        )
    except Conflict as exc:
        return await _editor(
            request,
            pages,
            database,
            staff,
            kind,
            language,
            source=source,
            notice=exc.message,
            status_code=409,
        )
    notice = gettext(N_("A test message went to %(email)s.")) % {"email": staff.email}
    return await _editor(
        request, pages, database, staff, kind, language, source=source, notice=notice
    )


def _part_errors(exc: Invalid) -> dict[str, str]:
    """Where the template failed and why, next to the part it is in."""
    lead = gettext(N_("Not saved: this part"))
    return {
        part if part in PART_FIELDS else "html": f"{lead} {reason}"
        for part, reason in (exc.fields or {"html": exc.message}).items()
    }


@router.get("/templates/{kind}/{language}", response_class=HTMLResponse)
async def edit_template(
    kind: str,
    language: str,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    return await _editor(request, pages, database, staff, _kind(kind), _language(language))


@router.post("/templates/{kind}/{language}", response_class=HTMLResponse)
async def save_template(
    kind: str,
    language: str,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    which, language = _kind(kind), _language(language)
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    source = _source(form, which)
    action = text(form, "action")
    if action == "preview":
        return await _editor(request, pages, database, staff, which, language, source=source)
    if action == "test":
        return await _send_test(request, pages, database, staff, which, language, source)
    try:
        async with database.write() as session:
            await notifications.save_template(
                session,
                shop_id=staff.shop_id,
                kind=which.value,
                language=language,
                source=source,
                base_url=pages.settings.base_url,
                actor=staff.actor,
            )
    except Invalid as exc:
        return await _editor(
            request,
            pages,
            database,
            staff,
            which,
            language,
            source=source,
            errors=_part_errors(exc),
            status_code=422,
        )
    return redirect(
        request, f"/admin/notifications/templates/{which.value}/{language}?done=template"
    )


@router.post("/templates/{kind}/{language}/reset", response_class=HTMLResponse)
async def reset_template(
    kind: str,
    language: str,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    which, language = _kind(kind), _language(language)
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    async with database.write() as session:
        await notifications.reset_template(
            session, shop_id=staff.shop_id, kind=which.value, language=language, actor=staff.actor
        )
    return redirect(
        request, f"/admin/notifications/templates/{which.value}/{language}?done=template_reset"
    )


# ---- the mailbox ----


@router.get("/mailbox", response_class=HTMLResponse)
async def mailbox(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    before_param = request.query_params.get("before", "")
    before = whole_number(before_param)
    async with database.read() as session:
        rows = await notifications.mailbox(session, shop_id=staff.shop_id, before_id=before)
    return render(
        request,
        pages,
        "mailbox.html",
        staff=staff,
        section="notifications",
        title=gettext(N_("Mailbox")),
        rows=rows,
        older=rows[-1].id if len(rows) == notifications.MAILBOX_PAGE else None,
    )


@router.get("/mailbox/{notification_id}", response_class=HTMLResponse)
async def mailbox_message(
    notification_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    with found():
        async with database.read() as session:
            row = await notifications.get_notification(
                session, shop_id=staff.shop_id, notification_id=notification_id
            )
    if row.state != State.HELD.value:
        raise not_found()
    return render(
        request,
        pages,
        "mailbox_message.html",
        staff=staff,
        section="notifications",
        title=gettext(N_("Mailbox")),
        row=row,
        message=row.payload or {},
    )

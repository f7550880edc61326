"""Notifications in the admin: which kinds go out, the wording of each kind in each
language (sandboxed templates, checked before they are saved), and the mailbox of
messages kept while no SMTP server or SMS provider is configured."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.inputs import whole_number
from orderstatus.domain.notifications import Kind
from orderstatus.i18n import N_
from orderstatus.notify.templates import LANGUAGES, TemplateSource
from orderstatus.services import notifications, wallet
from orderstatus.web.admin.common import gettext, not_found, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import Id

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
async def overview(admin: AdminDep) -> Response:
    async with admin.read() as session:
        settings = await notifications.get_notification_settings(session, shop_id=admin.shop_id)
        templates = {
            (kind, language): await notifications.get_template(
                session, shop_id=admin.shop_id, kind=kind.value, language=language
            )
            for kind in Kind
            for language in LANGUAGES
        }
        held = len(await notifications.held_messages(session, shop_id=admin.shop_id, limit=200))
        channels = await notifications.channel_overview(
            session, shop_id=admin.shop_id, settings=admin.pages.settings
        )
        wallet_channel = await wallet.counts(
            session, shop_id=admin.shop_id, configured=admin.pages.settings.wallet_enabled
        )
    return admin.render(
        "notifications.html",
        section="notifications",
        title=gettext(N_("Notifications")),
        kinds=list(Kind),
        template_languages=LANGUAGES,
        templates=templates,
        settings=settings,
        held=held,
        channels=channels,
        wallet=wallet_channel,
    )


@router.post("/settings", response_class=HTMLResponse)
async def save_settings(admin: AdminDep) -> Response:
    form = await admin.form()
    on = {v for v in form.getlist("kinds") if isinstance(v, str)}
    off = [kind.value for kind in Kind if kind.value not in on]
    await admin.save(
        notifications.update_notification_settings,
        kinds_off=off,
        sms_confirmation_with_email=form.get("sms_confirmation_with_email") == "1",
    )
    return admin.done("/admin/notifications?done=notifications")


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
    admin: Admin,
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
    async with admin.read() as session:
        stored = await notifications.get_template(
            session, shop_id=admin.shop_id, kind=kind.value, language=language
        )
        shown = source or stored.source
        preview = None
        if not errors:
            try:
                preview = await notifications.preview_template(
                    session,
                    shop_id=admin.shop_id,
                    kind=kind.value,
                    language=language,
                    source=shown,
                    base_url=admin.base_url,
                )
            except Invalid as exc:
                errors = _part_errors(exc)
    return admin.render(
        "template.html",
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
        form_error=None,
        notice=notice,
    )


async def _send_test(admin: Admin, kind: Kind, language: str, source: TemplateSource) -> Response:
    """E-mail the template, as edited, to the staff member; say how it went."""
    settings = admin.pages.settings
    email = admin.staff.email
    try:
        async with admin.read() as session:
            await notifications.send_test(
                session,
                shop_id=admin.shop_id,
                kind=kind.value,
                language=language,
                source=source,
                to=email,
                base_url=settings.base_url,
                smtp_url=settings.smtp_url,
                smtp_from=settings.smtp_from,
            )
    except Invalid as exc:
        return await _editor(
            admin, kind, language, source=source, errors=_part_errors(exc), status_code=422
        )
    except Conflict as exc:
        return await _editor(
            admin, kind, language, source=source, notice=exc.message, status_code=409
        )
    notice = gettext(N_("A test message went to %(email)s.")) % {"email": email}
    return await _editor(admin, kind, language, source=source, notice=notice)


def _part_errors(exc: Invalid) -> dict[str, str]:
    """Where the template failed and why, next to the part it is in."""
    lead = gettext(N_("Not saved: this part"))
    return {
        part if part in PART_FIELDS else "html": f"{lead} {reason}"
        for part, reason in (exc.fields or {"html": exc.message}).items()
    }


@router.get("/templates/{kind}/{language}", response_class=HTMLResponse)
async def edit_template(kind: str, language: str, admin: AdminDep) -> Response:
    return await _editor(admin, _kind(kind), _language(language))


@router.post("/templates/{kind}/{language}", response_class=HTMLResponse)
async def save_template(kind: str, language: str, admin: AdminDep) -> Response:
    which, language = _kind(kind), _language(language)
    form = await admin.form()
    source = _source(form, which)
    action = text(form, "action")
    if action == "preview":
        return await _editor(admin, which, language, source=source)
    if action == "test":
        return await _send_test(admin, which, language, source)
    try:
        await admin.save(
            notifications.save_template,
            kind=which.value,
            language=language,
            source=source,
            base_url=admin.base_url,
        )
    except Invalid as exc:
        return await _editor(
            admin, which, language, source=source, errors=_part_errors(exc), status_code=422
        )
    return admin.done(f"/admin/notifications/templates/{which.value}/{language}?done=template")


@router.post("/templates/{kind}/{language}/reset", response_class=HTMLResponse)
async def reset_template(kind: str, language: str, admin: AdminDep) -> Response:
    which, language = _kind(kind), _language(language)
    await admin.form()
    await admin.save(notifications.reset_template, kind=which.value, language=language)
    return admin.done(
        f"/admin/notifications/templates/{which.value}/{language}?done=template_reset"
    )


# ---- the mailbox ----


@router.get("/mailbox", response_class=HTMLResponse)
async def mailbox(admin: AdminDep) -> Response:
    before = whole_number(admin.request.query_params.get("before", ""))
    async with admin.read() as session:
        rows = await notifications.held_messages(session, shop_id=admin.shop_id, before_id=before)
    return admin.render(
        "mailbox.html",
        section="notifications",
        title=gettext(N_("Mailbox")),
        rows=rows,
        older=rows[-1].id if len(rows) == notifications.MAILBOX_PAGE else None,
    )


@router.get("/mailbox/{notification_id}", response_class=HTMLResponse)
async def mailbox_message(notification_id: Id, admin: AdminDep) -> Response:
    async with admin.read() as session:
        row = await notifications.held_message(
            session, shop_id=admin.shop_id, notification_id=notification_id
        )
    return admin.render(
        "mailbox_message.html",
        section="notifications",
        title=gettext(N_("Mailbox")),
        row=row,
        message=row.payload,
    )

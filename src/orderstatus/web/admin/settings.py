"""Settings: API keys and the webhook secrets of the tracking sources."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orderstatus import i18n
from orderstatus.domain.errors import Invalid
from orderstatus.i18n import N_
from orderstatus.services import shop_settings
from orderstatus.services.staff import Staff
from orderstatus.web.admin.common import (
    CHECK_FIELDS,
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
from orderstatus.web.deps import ApiKeyCache, DatabaseDep, Id
from orderstatus.web.pages import Pages, PagesDep

router = APIRouter(prefix="/admin/settings", include_in_schema=False)


def webhook_url(base_url: str, source: str, handle: str) -> str:
    return f"{base_url}/webhooks/{source}/{handle}"


async def _settings_page(
    request: Request,
    pages: Pages,
    database: DatabaseDep,
    staff: Staff,
    *,
    status_code: int = 200,
    new_key: str | None = None,
    key_name: str = "",
    errors: dict[str, str] | None = None,
    secret_shown: tuple[str, str] | None = None,
) -> Response:
    async with database.read() as session:
        shop = await shop_settings.get_shop(session, shop_id=staff.shop_id)
        keys = await shop_settings.list_api_keys(session, shop_id=staff.shop_id)
        secrets = await shop_settings.webhook_secrets(session, shop_id=staff.shop_id)
        changes = await shop_settings.recent_changes(session, shop_id=staff.shop_id)
    base = pages.settings.base_url
    return render(
        request,
        pages,
        "settings.html",
        staff=staff,
        section="settings",
        status_code=status_code,
        title=gettext(N_("Settings")),
        keys=keys,
        new_key=new_key,
        key_name=key_name,
        sources=[
            (source, webhook_url(base, source, staff.shop_handle), secrets.get(source))
            for source in shop_settings.WEBHOOK_SOURCES
        ],
        secret_shown=secret_shown,
        errors=errors or {},
        form_error=gettext(CHECK_FIELDS) if errors else None,
        api_base=f"{base}/api/v1",
        changes=changes,
        storefront=(shop.storefront_enabled, f"{base}/shop/{staff.shop_handle}/"),
    )


@router.get("", response_class=HTMLResponse)
async def settings_page(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    return await _settings_page(request, pages, database, staff)


@router.post("/api-keys", response_class=HTMLResponse)
async def create_key(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    name = text(form, "name")
    try:
        async with database.write() as session:
            _row, key = await shop_settings.new_api_key(
                session=session, shop_id=staff.shop_id, name=name, actor=staff.actor
            )
    except Invalid:
        return await _settings_page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            key_name=name,
            errors={
                "name": gettext(N_('Give the key a name of 1 to 255 characters, e.g. "Checkout".'))
            },
        )
    # The key is shown on this answer only: it is not stored and not put in any URL.
    return await _settings_page(request, pages, database, staff, status_code=201, new_key=key)


@router.post("/api-keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(
    key_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        async with database.read() as session:
            keys = await shop_settings.list_api_keys(session, shop_id=staff.shop_id)
        if key_id not in {k.id for k in keys}:
            raise not_found()
        return form_expired(request, pages, staff)
    with found():
        async with database.write() as session:
            await shop_settings.revoke_key(
                session=session, shop_id=staff.shop_id, key_id=key_id, actor=staff.actor
            )
    cache: ApiKeyCache = request.app.state.api_keys
    cache.clear()
    return redirect(request, "/admin/settings?done=revoked#api-keys")


@router.post("/webhooks/{source}", response_class=HTMLResponse)
async def set_secret(
    source: str, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    if source not in shop_settings.WEBHOOK_SOURCES:
        raise not_found()
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    generate = form.get("action") == "generate"
    given = "" if generate else text(form, "secret")
    if not generate and not given:
        return await _settings_page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            errors={f"secret-{source}": gettext(N_("Paste the secret, or generate a new one."))},
        )
    try:
        with found():
            async with database.write() as session:
                secret = await shop_settings.change_webhook_secret(
                    session=session,
                    shop_id=staff.shop_id,
                    source=source,
                    secret=given or None,
                    actor=staff.actor,
                )
        request.app.state.webhooks.forget()  # the old secret stops working here at once
    except Invalid:
        return await _settings_page(
            request,
            pages,
            database,
            staff,
            status_code=422,
            errors={
                f"secret-{source}": gettext(N_("A secret is 16 to 255 characters without spaces."))
            },
        )
    return await _settings_page(request, pages, database, staff, secret_shown=(source, secret))


@router.post("/storefront", response_class=HTMLResponse)
async def set_storefront(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    enabled = form.get("enabled") == "1"
    async with database.write() as session:
        await shop_settings.set_storefront(
            session=session, shop_id=staff.shop_id, enabled=enabled, actor=staff.actor
        )
    done = "storefront_on" if enabled else "storefront_off"
    return redirect(request, f"/admin/settings?done={done}#storefront")

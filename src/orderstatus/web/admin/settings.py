"""Settings: the shop's time zone, API keys, the webhook secrets of the tracking sources,
and the demo storefront's switch."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.i18n import N_, zone_choices
from orderstatus.services import shop_settings
from orderstatus.web.admin.common import gettext, not_found, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import ApiKeyCache, Id

router = APIRouter(prefix="/admin/settings", include_in_schema=False)


def webhook_url(base_url: str, source: str, handle: str) -> str:
    return f"{base_url}/webhooks/{source}/{handle}"


async def _settings_page(
    admin: Admin,
    *,
    status_code: int = 200,
    new_key: str | None = None,
    key_name: str = "",
    errors: dict[str, str] | None = None,
    secret_shown: tuple[str, str] | None = None,
) -> Response:
    async with admin.read() as session:
        overview = await shop_settings.settings_overview(session, shop_id=admin.shop_id)
    base, handle = admin.base_url, admin.staff.shop_handle
    return admin.render(
        "settings.html",
        section="settings",
        status_code=status_code,
        title=gettext(N_("Settings")),
        errors=errors or {},
        keys=overview.keys,
        new_key=new_key,
        key_name=key_name,
        sources=[
            (source, webhook_url(base, source, handle), overview.secrets.get(source))
            for source in shop_settings.WEBHOOK_SOURCES
        ],
        secret_shown=secret_shown,
        api_base=f"{base}/api/v1",
        changes=overview.changes,
        storefront=(overview.storefront_enabled, f"{base}/shop/{handle}/"),
        zones=zone_choices(),
    )


@router.get("", response_class=HTMLResponse)
async def settings_page(admin: AdminDep) -> Response:
    return await _settings_page(admin)


@router.post("/api-keys", response_class=HTMLResponse)
async def create_key(admin: AdminDep) -> Response:
    name = text(await admin.form(), "name")
    try:
        _row, key = await admin.save(shop_settings.new_api_key, name=name)
    except Invalid:
        return await _settings_page(
            admin,
            status_code=422,
            key_name=name,
            errors={
                "name": gettext(N_('Give the key a name of 1 to 255 characters, e.g. "Checkout".'))
            },
        )
    # The key is shown on this answer only: it is not stored and not put in any URL.
    return await _settings_page(admin, status_code=201, new_key=key)


@router.post("/api-keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(key_id: Id, admin: AdminDep) -> Response:
    async def exists(session: AsyncSession) -> None:
        keys = await shop_settings.list_api_keys(session, shop_id=admin.shop_id)
        if key_id not in {k.id for k in keys}:
            raise NotFound("no such key")

    await admin.form(exists)
    await admin.save(shop_settings.revoke_key, key_id=key_id)
    cache: ApiKeyCache = admin.request.app.state.api_keys
    cache.clear()
    return admin.done("/admin/settings?done=revoked#api-keys")


@router.post("/webhooks/{source}", response_class=HTMLResponse)
async def set_secret(source: str, admin: AdminDep) -> Response:
    if source not in shop_settings.WEBHOOK_SOURCES:
        raise not_found()
    form = await admin.form()
    generate = form.get("action") == "generate"
    given = "" if generate else text(form, "secret")
    field = f"secret-{source}"
    if not generate and not given:
        return await _settings_page(
            admin,
            status_code=422,
            errors={field: gettext(N_("Paste the secret, or generate a new one."))},
        )
    try:
        secret = await admin.save(
            shop_settings.change_webhook_secret, source=source, secret=given or None
        )
        admin.request.app.state.webhooks.forget()  # the old secret stops working here at once
    except Invalid:
        return await _settings_page(
            admin,
            status_code=422,
            errors={field: gettext(N_("A secret is 16 to 255 characters without spaces."))},
        )
    return await _settings_page(admin, secret_shown=(source, secret))


@router.post("/timezone", response_class=HTMLResponse)
async def set_timezone(admin: AdminDep) -> Response:
    form = await admin.form()
    try:
        await admin.save(shop_settings.set_timezone, timezone=text(form, "timezone"))
    except Invalid:
        return await _settings_page(
            admin,
            status_code=422,
            errors={"timezone": gettext(N_("Choose a time zone from the list."))},
        )
    return admin.done("/admin/settings?done=timezone#timezone")


@router.post("/storefront", response_class=HTMLResponse)
async def set_storefront(admin: AdminDep) -> Response:
    enabled = (await admin.form()).get("enabled") == "1"
    await admin.save(shop_settings.set_storefront, enabled=enabled)
    done = "storefront_on" if enabled else "storefront_off"
    return admin.done(f"/admin/settings?done={done}#storefront")

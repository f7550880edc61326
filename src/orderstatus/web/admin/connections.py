"""Connections: a shop platform's webhook URL and secret to copy, the last deliveries
received with their result, and a test."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from orderstatus.connectors import registry, saleor
from orderstatus.domain.errors import Invalid
from orderstatus.i18n import N_
from orderstatus.services import connections
from orderstatus.web.admin.common import gettext, not_found, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.connect import ConnectIntake

router = APIRouter(prefix="/admin/connections", include_in_schema=False)

PLATFORMS = {name: module.TITLE for name, module in registry().items()}


async def _page(
    admin: Admin,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    chosen: str = "",
    tested: tuple[str, str, str | None] | None = None,
) -> Response:
    async with admin.read() as session:
        made = await connections.list_connections(session, shop_id=admin.shop_id)
        deliveries = await connections.recent_deliveries(session, shop_id=admin.shop_id)
    base = admin.base_url.rstrip("/")
    return admin.render(
        "connections.html",
        section="connections",
        status_code=status_code,
        title=gettext(N_("Connections")),
        errors=errors or {},
        platforms=PLATFORMS,
        chosen=chosen,
        connections=[(c, f"{base}{c.path}", PLATFORMS[c.platform]) for c in made],
        deliveries=deliveries,
        tested=tested,
        saleor_subscription=saleor.SUBSCRIPTION,
    )


@router.get("", response_class=HTMLResponse)
async def connections_page(admin: AdminDep) -> Response:
    return await _page(admin)


@router.post("", response_class=HTMLResponse)
async def connect(admin: AdminDep) -> Response:
    form = await admin.form()
    platform = text(form, "platform")
    if platform not in PLATFORMS:
        return await _page(
            admin, status_code=422, errors={"platform": gettext(N_("Pick a platform."))}
        )
    credentials = connections.write_back_credentials(
        api_key=text(form, "api_key"),
        api_secret=text(form, "api_secret"),
        api_token=text(form, "api_token"),
    )
    try:
        await admin.save(
            connections.connect,
            platform=platform,
            secret=text(form, "secret") or None,
            shop_url=text(form, "shop_url") or None,
            credentials=credentials,
        )
    except Invalid as exc:
        field = next(iter(exc.fields or {"secret": ""}))
        message = {
            "secret": N_("A secret is 16 to 255 characters."),
            "shop_url": N_(
                "Give your shop's address, starting with https:// (Saleor: its API URL)."
            ),
        }.get(field, N_("Please check this field."))
        return await _page(
            admin, status_code=422, chosen=platform, errors={field: gettext(message)}
        )
    intake: ConnectIntake = admin.request.app.state.connect
    intake.forget()
    return admin.done(f"/admin/connections?done=connected#connection-{platform}")


@router.post("/{platform}/test", response_class=HTMLResponse)
async def send_test(platform: str, admin: AdminDep) -> Response:
    if platform not in PLATFORMS:
        raise not_found()
    await admin.form()
    intake: ConnectIntake = admin.request.app.state.connect
    result, detail = await intake.test(platform, admin.staff.shop_handle)
    if result == "not_connected":
        raise not_found()
    return await _page(admin, tested=(platform, result, detail))


@router.post("/{platform}/remove", response_class=HTMLResponse)
async def remove(platform: str, admin: AdminDep) -> Response:
    if platform not in PLATFORMS:
        raise not_found()
    await admin.form()
    await admin.save(connections.disconnect, platform=platform)
    intake: ConnectIntake = admin.request.app.state.connect
    intake.forget()
    return admin.done("/admin/connections?done=disconnected")

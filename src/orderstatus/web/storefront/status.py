"""The customer's order status page, its login, sharing and e-mail opt-in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from orderstatus import i18n
from orderstatus.db.engine import Database
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.links import LINK_PARAM, VIA, VIA_PARAM, link_opens
from orderstatus.domain.view import Viewer, build_view
from orderstatus.i18n import N_
from orderstatus.services import push, status_pages
from orderstatus.services.status_pages import PageKey
from orderstatus.web.admin.session import is_staff_preview
from orderstatus.web.clients import client_host
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import Pages, PagesDep
from orderstatus.web.security import (
    OWNER_COOKIE,
    clear_owner_cookie,
    csrf_ok,
    order_path,
    set_owner_cookie,
)

router = APIRouter(include_in_schema=False)

THANKS_COOKIE = "os_thanks"
LOGIN_FAILED = N_("That order number and e-mail or phone don't match our records.")
FORM_EXPIRED = N_("The form expired. Please try again.")
NOT_FOUND_TITLE = N_("Page not found")
NOT_FOUND = N_(
    "This link is not valid or no longer works. Check the link in your e-mail or "
    "message, or look up your order with its number and your e-mail or phone."
)


async def render_status(
    request: Request,
    pages: Pages,
    database: Database,
    key: PageKey,
    *,
    viewer: Viewer,
    base_path: str,
    show_login: bool,
    thanks: bool = False,
    status_code: int = 200,
    login_error: str | None = None,
    form_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page for one viewer, from the cache when the order has not changed since."""
    locale = pages.locale(request, order=key.locale, shop=key.shop_locale)
    plain = login_error is None and not form_errors and not typed
    cache_key = (
        key.order_id,
        key.order_version,
        key.shop_version,
        # Our predicted delivery counts from today: a page is rendered again each day.
        datetime.now(UTC).date(),
        viewer,
        locale,
        base_path,
        show_login,
        thanks,
    )
    html = pages.cache.get(cache_key) if plain else None
    if html is None:
        try:
            async with database.read() as session:
                data, shop = await status_pages.load_page(
                    session, order_id=key.order_id, base_url=pages.settings.base_url
                )
        except NotFound:  # gone (its customer's data removed) since its key was cached
            pages.keys.forget(key.order_id)
            return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
        view = build_view(data, shop, viewer, locale=locale)
        i18n.activate(locale)
        html = pages.render(
            "status.html",
            locale,
            view=view,
            shop=shop,
            base_path=base_path,
            base_url=pages.settings.base_url,
            show_login=show_login,
            thanks=thanks,
            login_error=i18n.gettext(login_error) if login_error else None,
            form_errors=form_errors or {},
            typed=typed or {},
            page_version=key.order_version,
        )
        if plain:
            pages.cache.put(cache_key, html)
    return pages.respond(
        request,
        html,
        status_code=status_code,
        private=viewer is not Viewer.PUBLIC,
        headers=headers,
    )


async def key_for_token(pages: Pages, database: Database, token: str) -> PageKey | None:
    """The page key of a status token: from memory while fresh, else one small query
    (one at a time per token)."""

    async def read() -> PageKey | None:
        async with database.read() as session:
            return await status_pages.page_key(session, status_token=token)

    return await pages.keys.read(token, read)


KEY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
"""For a response to an address with a link key in it."""


def _link_opens(pages: Pages, token: str, link_key: str) -> bool:
    """Whether a message's link key opens the order (never when such links are off)."""
    if not pages.settings.link_days:
        return False
    return link_opens(pages.secret_key, token, link_key, datetime.now(UTC))


def owner_or_public(request: Request, pages: Pages, key: PageKey) -> Viewer:
    owner = pages.signer.is_owner(request.cookies.get(OWNER_COOKIE), key.order_id)
    return Viewer.OWNER if owner else Viewer.PUBLIC


@router.get("/orders/{token}", response_class=HTMLResponse)
async def status_page(
    token: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    key = await key_for_token(pages, database, token)
    if key is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    link_key = request.query_params.get(LINK_PARAM)
    via = request.query_params.get(VIA_PARAM)
    if link_key is not None or via is not None:
        # Someone came through a link in one of our messages (counted, nothing kept).
        pages.counter.add(key.shop_id, key.order_id, VIA.get(via or "", "click"))
    if link_key is not None and _link_opens(pages, token, link_key):
        # A link from a message we sent: this browser becomes the owner, and the page
        # is shown at its plain address, so the key stays in no address bar, history or
        # Referer.
        opened = RedirectResponse(order_path(token), status_code=303, headers=KEY_HEADERS)
        set_owner_cookie(
            opened, pages.signer, order_id=key.order_id, token=token, secure=pages.secure_cookies
        )
        return opened
    viewer = owner_or_public(request, pages, key)
    if await is_staff_preview(request, database, key.shop_id):
        # The admin's "View order status page": the owner's view, marked, and nothing
        # set that would make this browser the customer.
        viewer = Viewer.STAFF
    thanks = viewer is Viewer.OWNER and request.cookies.get(THANKS_COOKIE) == "1"
    if viewer is not Viewer.STAFF:
        pages.counter.add(key.shop_id, key.order_id, "view")
    response = await render_status(
        request,
        pages,
        database,
        key,
        viewer=viewer,
        base_path=order_path(token),
        show_login=True,
        thanks=thanks,
        # An expired or altered key: the page as without it, kept out of every cache.
        headers=KEY_HEADERS if link_key is not None else None,
    )
    if thanks:
        response.delete_cookie(THANKS_COOKIE, path=order_path(token))
    return response


@router.post("/orders/{token}/login", response_class=HTMLResponse)
async def login(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    number: Annotated[str, Form()] = "",
    contact: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Sign in with the order's number and the e-mail or phone given at checkout
    (``email``: the field's name on pages rendered before it took phone numbers)."""
    contact = contact or email
    key = await key_for_token(pages, database, token)
    if key is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    page: dict[str, Any] = {
        "viewer": Viewer.PUBLIC,
        "base_path": order_path(token),
        "show_login": True,
        "typed": {"number": number, "contact": contact},
    }
    if not csrf_ok(request, csrf_token):
        return await render_status(
            request, pages, database, key, status_code=400, login_error=FORM_EXPIRED, **page
        )
    limits = (
        f"login:client:{client_host(request)}",
        f"sign-in:{status_pages.guess_subject(key.order_id)}",
    )
    verdict = await pages.guesses.test(*limits)
    if not verdict.allowed:
        i18n.activate(pages.locale(request, order=key.locale, shop=key.shop_locale))
        message = i18n.too_many_tries(verdict.retry_after)
        return await render_status(
            request,
            pages,
            database,
            key,
            status_code=429,
            login_error=message,
            headers={"Retry-After": str(verdict.retry_after)},
            **page,
        )
    async with database.read() as session:
        ok = await status_pages.check_owner(
            session, order_id=key.order_id, number=number, contact=contact
        )
    if not ok:
        await pages.guesses.hit(*limits)
        return await render_status(
            request, pages, database, key, status_code=401, login_error=LOGIN_FAILED, **page
        )
    response = RedirectResponse(order_path(token), status_code=303)
    set_owner_cookie(
        response, pages.signer, order_id=key.order_id, token=token, secure=pages.secure_cookies
    )
    return response


async def _owner_action(
    token: str, request: Request, pages: Pages, database: Database, csrf_token: str
) -> PageKey | Response:
    """The order's key when this browser owns it and the form is genuine; else the answer."""
    key = await key_for_token(pages, database, token)
    if key is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    if owner_or_public(request, pages, key) is not Viewer.OWNER:
        return pages.error(
            request,
            403,
            N_("Sign in first"),
            N_("Only the customer who placed the order can do this."),
        )
    if not csrf_ok(request, csrf_token):
        return pages.error(request, 400, N_("Please try again"), FORM_EXPIRED)
    return key


@router.post("/orders/{token}/share")
async def create_share(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    async with database.write() as session:
        await status_pages.create_share_link(session, order_id=key.order_id)
    return RedirectResponse(f"{order_path(token)}#share", status_code=303)


@router.post("/orders/{token}/share/revoke")
async def revoke_share(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    async with database.write() as session:
        await status_pages.revoke_share_link(session, order_id=key.order_id)
    return RedirectResponse(f"{order_path(token)}#share", status_code=303)


@router.post("/orders/{token}/sign-out")
async def sign_out(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Forget that this browser owns the order (a shared computer): the page it lands on
    is the public view."""
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    response = RedirectResponse(order_path(token), status_code=303)
    clear_owner_cookie(response, token=token, secure=pages.secure_cookies)
    response.delete_cookie(THANKS_COOKIE, path=order_path(token))
    return response


@router.post("/orders/{token}/updates")
async def opt_in(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    try:
        async with database.write() as session:
            await status_pages.opt_in_email(session, order_id=key.order_id, email=email)
    except Invalid:
        i18n.activate(pages.locale(request, order=key.locale, shop=key.shop_locale))
        return await render_status(
            request,
            pages,
            database,
            key,
            viewer=Viewer.OWNER,
            base_path=order_path(token),
            show_login=False,
            status_code=422,
            form_errors={"email": i18n.gettext("Enter an e-mail address like name@example.com.")},
            typed={"email": email},
        )
    return RedirectResponse(f"{order_path(token)}#details", status_code=303)


@router.post("/orders/{token}/push")
async def push_on(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    endpoint: Annotated[str, Form()] = "",
    p256dh: Annotated[str, Form()] = "",
    auth: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """ "Notify me on this device": the page's script hands over the browser's push
    subscription (a JSON answer: the script asked)."""
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    locale = pages.locale(request, order=key.locale, shop=key.shop_locale)
    try:
        async with database.write() as session:
            device = await push.subscribe(
                session,
                order_id=key.order_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                locale=locale,
                allow_private=pages.settings.push_allow_private,
            )
    except Invalid as exc:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code
        )
    return JSONResponse({"device": device}, status_code=201)


@router.post("/orders/{token}/push/off")
async def push_off(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    endpoint: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Turn this device's notifications for the order off again."""
    key = await _owner_action(token, request, pages, database, csrf_token)
    if not isinstance(key, PageKey):
        return key
    async with database.write() as session:
        known = await push.unsubscribe(session, order_id=key.order_id, endpoint=endpoint)
    return JSONResponse({"removed": known})


@router.get("/orders/{token}/manifest.webmanifest")
async def manifest(
    token: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    """The page as an app on a home screen (iOS shows web pushes only to such apps): it
    opens this order's page."""
    key = await key_for_token(pages, database, token)
    if key is None:
        return JSONResponse({"error": {"code": "not_found", "message": "no such page"}}, 404)
    async with database.read() as session:
        app = await status_pages.app_manifest(session, order_id=key.order_id)
    if app is None:
        return JSONResponse({"error": {"code": "not_found", "message": "no such page"}}, 404)
    locale = pages.locale(request, order=key.locale, shop=key.shop_locale)
    i18n.activate(locale)
    path = order_path(token)
    body = {
        "name": f"{i18n.gettext('Order %(name)s') % {'name': app.order_name}} · {app.shop_name}",
        "short_name": app.shop_name[:12],
        "id": path,
        "start_url": path,
        "scope": path,
        "display": "standalone",
        "lang": locale,
        "theme_color": app.accent_color,
        "background_color": "#ffffff",
        "icons": [
            {"src": app.logo_url, "sizes": "any"}
            if app.logo_url
            else {"src": "/favicon.ico", "sizes": "any", "type": "image/svg+xml"}
        ],
    }
    return JSONResponse(
        body,
        media_type="application/manifest+json",
        headers={"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"},
    )


@router.get("/shared/{share_token}", response_class=HTMLResponse)
async def shared_page(
    share_token: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    async with database.read() as session:
        key = await status_pages.page_key(session, share_token=share_token)
    if key is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    return await render_status(
        request,
        pages,
        database,
        key,
        viewer=Viewer.PUBLIC,
        base_path=f"/shared/{share_token}",
        show_login=False,
    )

"""Signing in and out of the admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from orderstatus import i18n
from orderstatus.i18n import N_
from orderstatus.services import staff as staff_service
from orderstatus.web.admin.common import (
    FORM_EXPIRED,
    form_expired,
    genuine,
    read_form,
    redirect,
    render,
    text,
)
from orderstatus.web.admin.session import (
    STAFF_COOKIE,
    StaffDep,
    admin_state,
    clear_staff_cookie,
    current_staff,
    safe_next,
    set_staff_cookie,
)
from orderstatus.web.clients import client_host
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import PagesDep

router = APIRouter(prefix="/admin", include_in_schema=False)

SIGN_IN_FAILED = N_("That e-mail address and password don't match an account.")


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request, staff: StaffDep) -> Response:
    return redirect(request, "/admin/orders")


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, pages: PagesDep, database: DatabaseDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await current_staff(request, database) is not None:
        return redirect(request, next_path)
    return render(request, pages, "login.html", staff=None, next=next_path, email="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, pages: PagesDep, database: DatabaseDep) -> Response:
    form = await read_form(request)
    email, password = text(form, "email"), form.get("password")
    next_path = safe_next(text(form, "next"))
    page: dict[str, Any] = {"staff": None, "next": next_path, "email": email}
    i18n.activate(pages.locale(request, order=None, shop=None))
    if not genuine(request, form):
        return render(
            request, pages, "login.html", status_code=400, error=i18n.gettext(FORM_EXPIRED), **page
        )
    state = admin_state(request)
    client_key = f"staff-login:client:{client_host(request)}"
    subject = staff_service.account_subject(email)
    account_keys = [f"staff-login:account:{subject}"] if subject else []
    client, account = (
        await state.per_client.test(client_key),
        await state.per_account.test(*account_keys),
    )
    if not (client.allowed and account.allowed):
        wait = max(client.retry_after, account.retry_after)
        message = i18n.too_many_tries(wait)
        refused = render(request, pages, "login.html", status_code=429, error=message, **page)
        refused.headers["Retry-After"] = str(wait)
        return refused
    async with database.write() as session:
        signed_in = await staff_service.sign_in(
            session, email=email, password=password if isinstance(password, str) else ""
        )
    if signed_in is None:
        await state.per_client.hit(client_key)
        await state.per_account.hit(*account_keys)
        return render(
            request,
            pages,
            "login.html",
            status_code=401,
            error=i18n.gettext(SIGN_IN_FAILED),
            **page,
        )
    await state.per_account.clear(*account_keys)
    response = redirect(request, next_path)
    set_staff_cookie(response, state, signed_in.token)
    return response


@router.post("/logout")
async def logout(request: Request, pages: PagesDep, database: DatabaseDep) -> Response:
    form = await read_form(request)
    state = admin_state(request)
    if not genuine(request, form):
        return form_expired(request, pages, await current_staff(request, database))
    signed = state.read(request.cookies.get(STAFF_COOKIE))
    if signed is not None:
        async with database.write() as session:
            await staff_service.sign_out(session, token=signed[0])
    response = redirect(request, "/admin/login")
    clear_staff_cookie(response, state)
    return response

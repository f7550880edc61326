"""The one shape of an admin page handler.

A signed-in staff member's request, with what every handler needs: read the page's data,
take a posted form (404 first for anything not of the shop, then "the form expired" for a
form that is not genuine), save in one transaction, and go back with a confirmation, or
show the form again with its errors::

    @router.post("/prices")
    async def save_prices(admin: AdminDep) -> Response:
        form = await admin.form()
        await admin.save(shop_settings.set_taxes_included, taxes_included=...)
        return admin.done("/admin/page?done=prices")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from orderstatus import i18n
from orderstatus.db.engine import Database
from orderstatus.services.staff import Staff
from orderstatus.web.admin.common import (
    CHECK_FIELDS,
    form_expired,
    found,
    genuine,
    redirect,
    render,
)
from orderstatus.web.admin.session import StaffDep
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import Pages, PagesDep

T = TypeVar("T")


class FormExpired(Exception):
    """The posted form is not one our page gave this browser (or its token ran out)."""

    def __init__(self, admin: Admin) -> None:
        super().__init__("form expired")
        self.admin = admin


@dataclass(frozen=True, slots=True)
class Admin:
    request: Request
    staff: Staff
    pages: Pages
    database: Database

    @property
    def shop_id(self) -> int:
        return self.staff.shop_id

    @property
    def base_url(self) -> str:
        return self.pages.settings.base_url

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session; a row of another shop is the same 404 as none."""
        with found():
            async with self.database.read() as session:
                yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction; a row of another shop is the same 404 as none."""
        with found():
            async with self.database.write() as session:
                yield session

    async def form(
        self, exists: Callable[[AsyncSession], Awaitable[object]] | None = None
    ) -> FormData:
        """The posted form, once ``exists`` has found what it is about (else 404) and
        the form is genuine (else :class:`FormExpired`, answered with a page saying so).
        Messages from here on are in the staff member's language."""
        form = await self.request.form()
        if exists is not None:
            async with self.read() as session:
                await exists(session)
        if not genuine(self.request, form):
            raise FormExpired(self)
        i18n.activate(self.pages.locale(self.request, order=None, shop=self.staff.shop_locale))
        return form

    async def save(self, change: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        """Make one change of a service in one transaction, for this shop, by this staff
        member: ``change(session=…, shop_id=…, actor=…, **arguments)``."""
        async with self.write() as session:
            return await change(
                session=session, shop_id=self.shop_id, actor=self.staff.actor, **arguments
            )

    def render(
        self,
        template: str,
        *,
        section: str,
        status_code: int = 200,
        title: str = "",
        errors: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page of the admin; with ``errors``, the form's fields say what is wrong and
        the page's head that nothing was saved."""
        if errors is not None:
            context["errors"] = errors
            context.setdefault("form_error", i18n.gettext(CHECK_FIELDS) if errors else None)
        return render(
            self.request,
            self.pages,
            template,
            staff=self.staff,
            section=section,
            status_code=status_code,
            title=title,
            **context,
        )

    def done(self, url: str) -> RedirectResponse:
        """Back to a page after a change (303), which says what was done."""
        return redirect(self.request, url)


async def current_admin(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Admin:
    return Admin(request, staff, pages, database)


AdminDep = Annotated[Admin, Depends(current_admin)]


async def expired(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormExpired)
    admin = exc.admin
    return form_expired(admin.request, admin.pages, admin.staff)

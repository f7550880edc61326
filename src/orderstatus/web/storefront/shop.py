"""The demo storefront (products → checkout → status page) and the order look-up."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from orderstatus import i18n
from orderstatus.domain.inputs import OrderInput
from orderstatus.domain.money import OrderTotals
from orderstatus.i18n import N_
from orderstatus.services import order_records, status_pages
from orderstatus.services.demo import CATALOG, demo_totals, totals_payload
from orderstatus.services.order_records import ShopRecord
from orderstatus.web.clients import client_host
from orderstatus.web.deps import DatabaseDep
from orderstatus.web.pages import Pages, PagesDep
from orderstatus.web.security import csrf_ok, order_path, set_owner_cookie
from orderstatus.web.storefront.status import (
    FORM_EXPIRED,
    NOT_FOUND,
    NOT_FOUND_TITLE,
    THANKS_COOKIE,
)

router = APIRouter(include_in_schema=False)

COUNTRIES = ("NO", "SE", "DK", "FI", "IS", "GB", "IE", "DE", "NL", "FR", "ES", "IT", "US", "CA")
PAYMENTS = {
    "card": ("Visa", "4242"),
    "invoice": (None, None),
    "vipps": (None, None),
}
MAX_QUANTITY = 10
LOOKUP_FAILED = N_("We couldn't find an order with that number and e-mail or phone.")

# Form field → where pydantic reports its errors in OrderInput.
_FIELD_OF = {
    ("email",): "email",
    ("phone",): "phone",
    ("customer", "first_name"): "first_name",
    ("customer", "last_name"): "last_name",
    ("shipping_address", "address1"): "address1",
    ("shipping_address", "address2"): "address2",
    ("shipping_address", "city"): "city",
    ("shipping_address", "zip"): "zip",
    ("shipping_address", "country_code"): "country_code",
    ("shipping_address", "name"): "first_name",
    ("payment", "method"): "payment",
    ("line_items",): "cart",
}


async def _shop(database: Any, handle: str, *, storefront: bool = False) -> ShopRecord | None:
    """The shop, or None for no such shop. ``storefront``: None also when the shop has
    not turned its storefront on (anyone there can make it send messages)."""
    async with database.read() as session:
        shop = await order_records.find_shop(session, handle, base_url="")
    if shop is None or (storefront and not shop.storefront_enabled):
        return None
    return shop


def _no_storefront(request: Request, pages: Pages) -> Response:
    return pages.error(request, 404, NOT_FOUND_TITLE, N_("There is no shop here."))


def _cart(params: Any) -> dict[str, int]:
    cart: dict[str, int] = {}
    for slug in CATALOG:
        raw = params.get(f"qty_{slug}", "0")
        try:
            quantity = int(raw)
        except (TypeError, ValueError):
            quantity = 0
        if 0 < quantity <= MAX_QUANTITY:
            cart[slug] = quantity
    return cart


def _cart_lines(cart: dict[str, int], base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "slug": slug,
            "title": CATALOG[slug].title,
            "variant": CATALOG[slug].variant,
            "quantity": quantity,
            "image_url": CATALOG[slug].image_url(base_url),
            "unit_price": CATALOG[slug].price,
            "line_total": CATALOG[slug].price * quantity,
        }
        for slug, quantity in cart.items()
    ]


@router.get("/shop/{handle}/", response_class=HTMLResponse)
async def storefront(
    handle: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    shop = await _shop(database, handle, storefront=True)
    if shop is None:
        return _no_storefront(request, pages)
    locale = pages.locale(request, order=None, shop=shop.page.default_locale)
    html = pages.render(
        "shop.html",
        locale,
        shop=shop.page,
        products=list(CATALOG.values()),
        currency=shop.currency,
        max_quantity=MAX_QUANTITY,
    )
    return pages.respond(request, html)


def _totals(cart: dict[str, int], base_url: str, pricing: tuple[str, bool]) -> OrderTotals:
    currency, taxes_included = pricing
    lines = _cart_lines(cart, base_url)
    subtotal = sum((line["line_total"] for line in lines), Decimal(0))
    return demo_totals(subtotal, currency, taxes_included=taxes_included)


def _pricing(shop: ShopRecord) -> tuple[str, bool]:
    """The shop's currency, and whether its prices include tax."""
    return shop.currency, shop.taxes_included


def _checkout_page(
    request: Request,
    pages: Pages,
    shop: ShopRecord,
    cart: dict[str, int],
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = pages.locale(request, order=None, shop=shop.page.default_locale)
    html = pages.render(
        "checkout.html",
        locale,
        shop=shop.page,
        currency=shop.currency,
        lines=_cart_lines(cart, pages.settings.base_url),
        totals=_totals(cart, pages.settings.base_url, _pricing(shop)),
        values=values,
        errors=errors,
        countries=COUNTRIES,
    )
    return pages.respond(request, html, status_code=status_code, headers=headers)


@router.get("/shop/{handle}/checkout", response_class=HTMLResponse)
async def checkout_form(
    handle: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    shop = await _shop(database, handle, storefront=True)
    if shop is None:
        return _no_storefront(request, pages)
    cart = _cart(request.query_params)
    if not cart:
        return RedirectResponse(f"/shop/{handle}/", status_code=303)
    values = {"country_code": "NO", "payment": "card"}
    return _checkout_page(request, pages, shop, cart, values, {})


def _order_input(
    values: dict[str, str],
    cart: dict[str, int],
    pricing: tuple[str, bool],
    locale: str,
    base_url: str,
) -> OrderInput:
    brand, last4 = PAYMENTS.get(values.get("payment", ""), (None, None))
    name = " ".join(p for p in (values.get("first_name"), values.get("last_name")) if p)
    data = {
        "email": values.get("email") or None,
        "phone": values.get("phone") or None,
        "locale": locale,
        "currency": pricing[0],
        "customer": {
            "first_name": values.get("first_name", ""),
            "last_name": values.get("last_name") or None,
        },
        "shipping_address": {
            "name": name,
            "address1": values.get("address1", ""),
            "address2": values.get("address2") or None,
            "city": values.get("city", ""),
            "zip": values.get("zip") or None,
            "country_code": values.get("country_code", ""),
        },
        "payment": {"method": values.get("payment", ""), "brand": brand, "last4": last4},
        "line_items": [
            {
                "title": line["title"],
                "variant": line["variant"],
                "sku": CATALOG[line["slug"]].sku,
                "quantity": line["quantity"],
                "price": str(line["unit_price"]),
                "image_url": line["image_url"],
            }
            for line in _cart_lines(cart, base_url)
        ],
        "totals": totals_payload(_totals(cart, base_url, pricing)),
    }
    return OrderInput.model_validate(data)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        field = _FIELD_OF.get(loc, "contact" if not loc else loc[-1])
        if error["type"] == "missing" or (error["type"] == "string_too_short"):
            message = i18n.gettext("This field is required.")
        elif field == "email":
            message = i18n.gettext("Enter an e-mail address like name@example.com.")
        elif field == "phone":
            message = i18n.gettext("Enter a phone number with country code, like +47 412 34 567.")
        elif field == "contact":
            message = i18n.gettext("Give an e-mail address or a phone number (or both).")
        else:
            message = i18n.gettext("Check this field.")
        errors.setdefault(field, message)
    return errors


@router.post("/shop/{handle}/checkout", response_class=HTMLResponse)
async def place_order(
    handle: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    shop = await _shop(database, handle, storefront=True)
    if shop is None:
        return _no_storefront(request, pages)
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    cart = _cart(form)
    locale = pages.locale(request, order=None, shop=shop.page.default_locale)
    i18n.activate(locale)
    if not csrf_ok(request, values.get("csrf_token")):
        return _checkout_page(
            request, pages, shop, cart, values, {"form": i18n.gettext(FORM_EXPIRED)}, 400
        )
    if not cart:
        return RedirectResponse(f"/shop/{handle}/", status_code=303)
    try:
        data = _order_input(values, cart, _pricing(shop), locale, pages.settings.base_url)
    except ValidationError as exc:
        return _checkout_page(request, pages, shop, cart, values, _field_errors(exc), 422)
    # Each order sends a confirmation to whatever address or number was typed in.
    limit = f"checkout:client:{client_host(request)}"
    verdict = await pages.checkouts.test(limit)
    if not verdict.allowed:
        minutes = max(1, round(verdict.retry_after / 60))
        message = i18n.ngettext(
            "Too many orders from here. Please wait %(num)d minute and try again.",
            "Too many orders from here. Please wait %(num)d minutes and try again.",
            minutes,
        ) % {"num": minutes}
        return _checkout_page(
            request,
            pages,
            shop,
            cart,
            values,
            {"form": message},
            429,
            {"Retry-After": str(verdict.retry_after)},
        )
    async with database.write() as session:
        order = await order_records.create_order(
            session, shop_id=shop.id, data=data, actor="storefront"
        )
    await pages.checkouts.hit(limit)
    response = RedirectResponse(order_path(order.status_token), status_code=303)
    set_owner_cookie(
        response,
        pages.signer,
        order_id=order.id,
        token=order.status_token,
        secure=pages.secure_cookies,
    )
    response.set_cookie(
        THANKS_COOKIE,
        "1",
        max_age=600,
        path=order_path(order.status_token),
        httponly=True,
        samesite="lax",
        secure=pages.secure_cookies,
    )
    return response


@router.get("/shop/{handle}/order-status", response_class=HTMLResponse)
async def lookup_form(
    handle: str, request: Request, pages: PagesDep, database: DatabaseDep
) -> Response:
    shop = await _shop(database, handle)
    if shop is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    locale = pages.locale(request, order=None, shop=shop.page.default_locale)
    html = pages.render(
        "lookup.html",
        locale,
        shop=shop.page,
        error=None,
        number=request.query_params.get("number", ""),
        contact="",
    )
    return pages.respond(request, html)


@router.post("/shop/{handle}/order-status", response_class=HTMLResponse)
async def lookup(
    handle: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    number: Annotated[str, Form()] = "",
    contact: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Find an order by its number and the e-mail or phone given at checkout (``email``:
    the field's name on forms rendered before it took phone numbers)."""
    contact = contact or email
    shop = await _shop(database, handle)
    if shop is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    locale = pages.locale(request, order=None, shop=shop.page.default_locale)
    i18n.activate(locale)

    def again(message: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
        html = pages.render(
            "lookup.html", locale, shop=shop.page, error=message, number=number, contact=contact
        )
        return pages.respond(request, html, status_code=status_code, headers=headers)

    if not csrf_ok(request, csrf_token):
        return again(i18n.gettext(FORM_EXPIRED), 400)
    limits = [f"lookup:client:{client_host(request)}"]
    order = None
    verdict = await pages.guesses.test(*limits)  # a blocked client costs no database read
    if verdict.allowed:
        async with database.read() as session:
            claim = await status_pages.claim_by_number(session, shop_handle=handle, number=number)
            order = claim.order if claim.proven_by(contact) else None
        if claim.subject:
            limits.append(f"sign-in:{claim.subject}")
            verdict = await pages.guesses.test(limits[-1])
    if not verdict.allowed:
        message = i18n.too_many_tries(verdict.retry_after)
        return again(message, 429, {"Retry-After": str(verdict.retry_after)})
    if order is None:
        await pages.guesses.hit(*limits)
        return again(i18n.gettext(LOOKUP_FAILED), 401)
    response = RedirectResponse(order_path(order.status_token), status_code=303)
    set_owner_cookie(
        response,
        pages.signer,
        order_id=order.id,
        token=order.status_token,
        secure=pages.secure_cookies,
    )
    return response

"""Shipping an order's items, and what happens to a shipment after: its tracking
corrected, the shipment cancelled, or an event posted by hand."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from orderstatus import i18n
from orderstatus.carriers.detect import detect
from orderstatus.carriers.registry import all_carriers
from orderstatus.domain.admin import MANUAL_STATUSES, OTHER, TrackingInput, check_manual_time
from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.inputs import (
    FulfillmentInput,
    FulfillmentItemInput,
    TrackingEventInput,
    utc,
    whole_number,
)
from orderstatus.i18n import N_
from orderstatus.services import admin_orders, fulfillments
from orderstatus.services.order_records import OrderRecord
from orderstatus.web.admin.common import field_errors, gettext, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import GazetteerDep, Id

router = APIRouter(prefix="/admin", include_in_schema=False)

TRACKING_FIELDS = {"tracking_url_missing": "tracking_url"}


def _carriers() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in all_carriers() if c.code != OTHER]


def _values(form: FormData) -> dict[str, Any]:
    """What was typed, to show the form again as it was."""
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _tracking_form(form: FormData) -> tuple[TrackingInput | None, dict[str, str]]:
    carrier = text(form, "carrier")
    values = {
        "carrier": carrier or None,
        "tracking_number": text(form, "tracking_number") or None,
        "tracking_url": text(form, "tracking_url") or None,
    }
    try:
        return TrackingInput.model_validate(values), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            name = loc[0] if loc else TRACKING_FIELDS.get(error["type"], "tracking_url")
            errors.setdefault(name, _tracking_message(name))
        return None, errors


def _tracking_message(name: str) -> str:
    if name == "tracking_number":
        return gettext(
            N_("Enter the tracking number as printed on the label (3 to 64 letters and digits).")
        )
    if name == "tracking_url":
        return gettext(N_("Enter the carrier's tracking link, starting with https://"))
    return gettext(N_("Choose a carrier from the list."))


# ---- fulfil ----


async def _order(admin: Admin, order_id: int) -> OrderRecord:
    async with admin.read() as session:
        return await admin_orders.load_order_record(
            session, shop_id=admin.shop_id, order_id=order_id
        )


def _fulfil_page(
    admin: Admin,
    order: OrderRecord,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return admin.render(
        "fulfil.html",
        section="orders",
        status_code=status_code,
        errors=errors,
        order=order,
        remaining=[(item, item.unfulfilled) for item in order.line_items if item.unfulfilled > 0],
        carriers=_carriers(),
        values=values,
    )


@router.get("/orders/{order_id}/fulfil", response_class=HTMLResponse)
async def fulfil_form(order_id: Id, admin: AdminDep) -> Response:
    order = await _order(admin, order_id)
    values: dict[str, Any] = {f"qty_{item.id}": str(item.unfulfilled) for item in order.line_items}
    values["notify"] = True
    return _fulfil_page(admin, order, values=values, errors={})


def _fulfil_items(
    form: FormData, order: OrderRecord
) -> tuple[list[FulfillmentItemInput], dict[str, str]]:
    errors: dict[str, str] = {}
    lines = []
    for item in order.line_items:
        left = item.unfulfilled
        if left <= 0:
            continue
        quantity = whole_number(text(form, f"qty_{item.id}") or "0", maximum=left)
        if quantity is None:
            errors[f"qty_{item.id}"] = gettext(N_("Enter a whole number from 0 to %(max)d.")) % {
                "max": left
            }
        elif quantity > 0:
            lines.append(FulfillmentItemInput(id=item.id, quantity=quantity))
    if not lines and not errors:
        errors["items"] = gettext(N_("Choose at least one item to fulfil."))
    return lines, errors


@router.post("/orders/{order_id}/fulfil", response_class=HTMLResponse)
async def fulfil(order_id: Id, admin: AdminDep) -> Response:
    order = await _order(admin, order_id)
    form = await admin.form()
    values = _values(form) | {"notify": form.get("notify") == "1"}
    lines, errors = _fulfil_items(form, order)
    tracking, tracking_errors = _tracking_form(form)
    errors |= tracking_errors
    if errors or tracking is None:
        return _fulfil_page(admin, order, values=values, errors=errors, status_code=422)
    data = FulfillmentInput(
        line_items=lines,
        carrier=tracking.carrier,
        tracking_number=tracking.tracking_number,
        tracking_url=tracking.tracking_url,
        notify_customer=bool(values["notify"]),
    )
    try:
        await admin.save(fulfillments.create_fulfillment, order_id=order_id, data=data)
    except (Conflict, Invalid):
        # Someone shipped some of these items meanwhile: show what is left now.
        errors["items"] = gettext(
            N_("Some of these items were fulfilled meanwhile. Check the quantities left.")
        )
        order = await _order(admin, order_id)
        return _fulfil_page(admin, order, values=values, errors=errors, status_code=409)
    return admin.done(f"/admin/orders/{order_id}?done=fulfilled")


@router.get("/carriers/detect")
async def detect_carrier(admin: AdminDep) -> JSONResponse:
    """The carriers a tracking number may belong to, best first, for the fulfil form."""
    number = admin.request.query_params.get("number", "")
    return JSONResponse(
        {"carriers": [{"code": c.code, "name": c.name} for c in detect(number)]},
        headers={"Cache-Control": "no-store"},
    )


# ---- one shipment ----


async def _shipment_page(
    admin: Admin,
    order_id: int,
    fulfillment_id: int,
    *,
    form: FormData | None = None,
    errors: dict[str, str] | None = None,
    status_code: int | None = None,
) -> Response:
    """The shipment's page; with ``form``, its forms as they were posted (422 when they
    have errors, unless ``status_code`` says otherwise)."""
    async with admin.read() as session:
        order, shipment = await admin_orders.load_fulfillment(
            session, shop_id=admin.shop_id, order_id=order_id, fulfillment_id=fulfillment_id
        )
    defaults = {
        "carrier": shipment.carrier_choice,
        "tracking_number": shipment.tracking_number or "",
        "tracking_url": shipment.tracking_url or "",
        "status": "delivered",
        "occurred_at": "",
    }
    return admin.render(
        "shipment.html",
        section="orders",
        status_code=status_code or (422 if errors else 200),
        errors=errors or {},
        order=order,
        shipment=shipment,
        carriers=_carriers(),
        manual_statuses=[s.value for s in MANUAL_STATUSES],
        values=defaults | (_values(form) if form is not None else {}),
    )


@router.get("/orders/{order_id}/fulfillments/{fulfillment_id}", response_class=HTMLResponse)
async def shipment_page(order_id: Id, fulfillment_id: Id, admin: AdminDep) -> Response:
    return await _shipment_page(admin, order_id, fulfillment_id)


async def _shipment_form(admin: Admin, order_id: int, fulfillment_id: int) -> FormData:
    """The posted form about a shipment of the shop (404 first for any other)."""

    async def exists(session: AsyncSession) -> None:
        await admin_orders.load_fulfillment(
            session, shop_id=admin.shop_id, order_id=order_id, fulfillment_id=fulfillment_id
        )

    return await admin.form(exists)


@router.post(
    "/orders/{order_id}/fulfillments/{fulfillment_id}/tracking", response_class=HTMLResponse
)
async def change_tracking(order_id: Id, fulfillment_id: Id, admin: AdminDep) -> Response:
    form = await _shipment_form(admin, order_id, fulfillment_id)
    tracking, errors = _tracking_form(form)
    if tracking is None:
        return await _shipment_page(admin, order_id, fulfillment_id, form=form, errors=errors)
    try:
        await admin.save(
            fulfillments.update_tracking,
            order_id=order_id,
            fulfillment_id=fulfillment_id,
            data=tracking,
            notify=form.get("notify") == "1",
        )
    except Conflict:
        return await _shipment_page(
            admin,
            order_id,
            fulfillment_id,
            errors={"tracking_number": gettext(N_("This shipment was cancelled."))},
            status_code=409,
        )
    return admin.done(f"/admin/orders/{order_id}?done=tracking")


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/cancel", response_class=HTMLResponse)
async def cancel_shipment(order_id: Id, fulfillment_id: Id, admin: AdminDep) -> Response:
    await _shipment_form(admin, order_id, fulfillment_id)
    with contextlib.suppress(Conflict):  # cancelled twice (a double click): the same outcome
        await admin.save(
            fulfillments.cancel_fulfillment, order_id=order_id, fulfillment_id=fulfillment_id
        )
    return admin.done(f"/admin/orders/{order_id}?done=cancelled")


def _event_form(
    form: FormData, timezone: str, country: str | None
) -> tuple[TrackingEventInput | None, dict[str, str]]:
    errors: dict[str, str] = {}
    status = text(form, "status")
    if status not in {s.value for s in MANUAL_STATUSES}:
        errors["status"] = gettext(N_("Choose what happened."))
    occurred_at: datetime | None = datetime.now(UTC)
    try:
        given = text(form, "occurred_at")
        local = datetime.fromisoformat(given) if given else datetime.now(UTC)
        zoned = local.replace(tzinfo=i18n.zone(timezone)) if local.tzinfo is None else local
        occurred_at = check_manual_time(utc(zoned), datetime.now(UTC))
    except ValueError as exc:
        errors["occurred_at"] = gettext(
            N_("This time is in the future.")
            if "future" in str(exc)
            else N_("Enter the date and time it happened.")
        )
    message, city = text(form, "message"), text(form, "city")
    if len(message) > 2000:
        errors["message"] = gettext(N_("This is too long."))
    if len(city) > 255:
        errors["city"] = gettext(N_("This is too long."))
    if errors:
        return None, errors
    location = {"city": city, "country_code": country} if city else None
    try:
        return (
            TrackingEventInput.model_validate(
                {
                    "status": status,
                    "occurred_at": occurred_at,
                    "message": message or None,
                    "location": location,
                }
            ),
            {},
        )
    except ValidationError as exc:
        return None, field_errors(exc)


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/events", response_class=HTMLResponse)
async def add_event(
    order_id: Id, fulfillment_id: Id, admin: AdminDep, gazetteer: GazetteerDep
) -> Response:
    form = await _shipment_form(admin, order_id, fulfillment_id)
    order = await _order(admin, order_id)
    data, errors = _event_form(form, admin.staff.shop_timezone, order.country)
    if data is None:
        return await _shipment_page(admin, order_id, fulfillment_id, form=form, errors=errors)
    try:
        await admin.save(
            admin_orders.add_manual_event,
            order_id=order_id,
            fulfillment_id=fulfillment_id,
            data=data,
            gazetteer=gazetteer,
        )
    except Conflict as exc:
        message = (
            N_("This event is already recorded.")
            if exc.fields
            else N_("This shipment was cancelled.")
        )
        return await _shipment_page(
            admin,
            order_id,
            fulfillment_id,
            form=form,
            errors={"status": gettext(message)},
            status_code=409,
        )
    return admin.done(f"/admin/orders/{order_id}?done=event")

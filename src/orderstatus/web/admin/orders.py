"""The admin's orders: the list, one order, shipping items, and what happens after."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from pydantic import ValidationError
from starlette.datastructures import FormData

from orderstatus import i18n
from orderstatus.carriers.detect import detect
from orderstatus.carriers.registry import all_carriers, get_carrier, tracking_link
from orderstatus.db.models import Fulfillment, Order, TrackingEvent
from orderstatus.domain.admin import (
    MANUAL_STATUSES,
    MAX_MESSAGE,
    OTHER,
    OrderFilter,
    TrackingInput,
    check_manual_time,
    parse_filter,
    parse_search,
)
from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.inputs import (
    FulfillmentInput,
    FulfillmentItemInput,
    TrackingEventInput,
    utc,
    whole_number,
)
from orderstatus.domain.notifications import RESENDABLE
from orderstatus.i18n import N_
from orderstatus.realtime.hub import Hub, Subscription
from orderstatus.services import admin_orders, fulfillments, notifications
from orderstatus.services.orders import fulfilled_quantities, load_order
from orderstatus.services.staff import Staff
from orderstatus.services.tracking import events_by_fulfillment
from orderstatus.web.admin.common import (
    CHECK_FIELDS,
    field_errors,
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
from orderstatus.web.deps import DatabaseDep, GazetteerDep, Id
from orderstatus.web.pages import Pages, PagesDep
from orderstatus.web.sse import EventStream

router = APIRouter(prefix="/admin", include_in_schema=False)

TRACKING_FIELDS = {"tracking_url_missing": "tracking_url"}


@dataclass(frozen=True, slots=True)
class ShipmentRow:
    """One shipment as the order page shows it."""

    fulfillment: Fulfillment
    number: int | None
    """Its number on the customer's page; None once cancelled."""
    carrier_name: str | None
    tracking_link: str | None
    live: bool
    items: list[tuple[str, str | None, int]]
    events: list[TrackingEvent] = field(default_factory=list)


def _carrier_name(code: str | None) -> str | None:
    carrier = get_carrier(code)
    if carrier is None:
        return code
    return None if carrier.code == OTHER else carrier.name


def _link(fulfillment: Fulfillment, order: Order) -> str | None:
    if not fulfillment.tracking_number and not fulfillment.tracking_url:
        return None
    address = order.shipping_address or {}
    return tracking_link(
        fulfillment.carrier_code,
        fulfillment.tracking_number or "",
        postcode=address.get("zip"),
        country=address.get("country_code"),
        locale=order.locale,
        merchant_url=fulfillment.tracking_url,
    )


def _shipments(
    order: Order, numbers: dict[int, int], events: dict[int, list[TrackingEvent]]
) -> list[ShipmentRow]:
    titles = {item.id: (item.title, item.variant) for item in order.line_items}
    rows = []
    for f in order.fulfillments:
        carrier = get_carrier(f.carrier_code)
        rows.append(
            ShipmentRow(
                fulfillment=f,
                number=numbers.get(f.id),
                carrier_name=_carrier_name(f.carrier_code),
                tracking_link=_link(f, order),
                live=bool(carrier and carrier.live),
                items=[(*titles.get(i.line_item_id, ("?", None)), i.quantity) for i in f.items],
                events=events.get(f.id, []),
            )
        )
    return rows


def _carriers() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in all_carriers() if c.code != OTHER]


# ---- the list ----


@router.get("/orders", response_class=HTMLResponse)
async def orders_list(
    request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    query = request.query_params.get("q", "")
    state = parse_filter(request.query_params.get("state"))
    before_param = request.query_params.get("before", "")
    before = whole_number(before_param)
    async with database.read() as session:
        digits = sum(c.isdigit() for c in query)
        region = (
            await admin_orders.shop_region(session, shop_id=staff.shop_id) if digits >= 6 else None
        )
        terms = parse_search(query, region=region)
        page = await admin_orders.search_orders(
            session, shop_id=staff.shop_id, terms=terms, state=state, before=before
        )
    return render(
        request,
        pages,
        "orders.html",
        staff=staff,
        section="orders",
        orders=page.orders,
        older=page.before,
        newest=before is not None,
        query=terms.text if terms else "",
        state=state.value if state else "",
        filters=list(OrderFilter),
    )


# ---- one order ----


async def _order_page(
    request: Request,
    pages: Pages,
    database: DatabaseDep,
    staff: Staff,
    order_id: int,
    *,
    status_code: int = 200,
    note_value: str | None = None,
    note_error: str | None = None,
    page_error: str | None = None,
) -> Response:
    with found():
        async with database.read() as session:
            detail = await admin_orders.load_order_detail(
                session, shop_id=staff.shop_id, order_id=order_id
            )
    order = detail.order
    shipped = fulfilled_quantities(order)
    return render(
        request,
        pages,
        "order.html",
        staff=staff,
        section="orders",
        status_code=status_code,
        order=order,
        detail=detail,
        shipped=shipped,
        unfulfilled=sum(i.quantity - shipped[i.id] for i in order.line_items),
        shipments=_shipments(order, detail.shipment_numbers, detail.events),
        note_value=note_value
        if note_value is not None
        else (detail.note.body_markdown if detail.note else ""),
        note_error=note_error,
        page_error=page_error,
        resendable={s.value for s in RESENDABLE},
        max_message=MAX_MESSAGE,
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    order_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    return await _order_page(request, pages, database, staff, order_id)


# ---- fulfil ----


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


async def _fulfil_page(
    request: Request,
    pages: Pages,
    staff: Staff,
    order: Order,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    shipped = fulfilled_quantities(order)
    remaining = [(item, item.quantity - shipped[item.id]) for item in order.line_items]
    return render(
        request,
        pages,
        "fulfil.html",
        staff=staff,
        section="orders",
        status_code=status_code,
        order=order,
        remaining=[(item, left) for item, left in remaining if left > 0],
        carriers=_carriers(),
        values=values,
        errors=errors,
        form_error=gettext(CHECK_FIELDS) if errors else None,
    )


@router.get("/orders/{order_id}/fulfil", response_class=HTMLResponse)
async def fulfil_form(
    order_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    with found():
        async with database.read() as session:
            order = await load_order(session, shop_id=staff.shop_id, order_id=order_id)
    shipped = fulfilled_quantities(order)
    values: dict[str, Any] = {
        f"qty_{item.id}": str(item.quantity - shipped[item.id]) for item in order.line_items
    }
    values["notify"] = True
    return await _fulfil_page(request, pages, staff, order, values=values, errors={})


@router.post("/orders/{order_id}/fulfil", response_class=HTMLResponse)
async def fulfil(
    order_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    with found():
        async with database.read() as session:
            order = await load_order(session, shop_id=staff.shop_id, order_id=order_id)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    values["notify"] = form.get("notify") == "1"
    errors: dict[str, str] = {}
    shipped = fulfilled_quantities(order)
    lines = []
    for item in order.line_items:
        left = item.quantity - shipped[item.id]
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
    tracking, tracking_errors = _tracking_form(form)
    errors |= tracking_errors
    if errors or tracking is None:
        return await _fulfil_page(
            request, pages, staff, order, values=values, errors=errors, status_code=422
        )
    data = FulfillmentInput(
        line_items=lines,
        carrier=tracking.carrier,
        tracking_number=tracking.tracking_number,
        tracking_url=tracking.tracking_url,
        notify_customer=bool(values["notify"]),
    )
    try:
        with found():
            async with database.write() as session:
                await fulfillments.create_fulfillment(
                    session=session,
                    shop_id=staff.shop_id,
                    order_id=order_id,
                    data=data,
                    actor=staff.actor,
                )
    except (Conflict, Invalid):
        # Someone shipped some of these items meanwhile: show what is left now.
        async with database.read() as session:
            order = await load_order(session, shop_id=staff.shop_id, order_id=order_id)
        errors["items"] = gettext(
            N_("Some of these items were fulfilled meanwhile. Check the quantities left.")
        )
        return await _fulfil_page(
            request, pages, staff, order, values=values, errors=errors, status_code=409
        )
    return redirect(request, f"/admin/orders/{order_id}?done=fulfilled")


@router.get("/carriers/detect")
async def detect_carrier(request: Request, staff: StaffDep) -> JSONResponse:
    """The carriers a tracking number may belong to, best first, for the fulfil form."""
    number = request.query_params.get("number", "")
    return JSONResponse(
        {"carriers": [{"code": c.code, "name": c.name} for c in detect(number)]},
        headers={"Cache-Control": "no-store"},
    )


# ---- one shipment ----


async def _shipment_page(
    request: Request,
    pages: Pages,
    database: DatabaseDep,
    staff: Staff,
    order_id: int,
    fulfillment_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with found():
        async with database.read() as session:
            order, fulfillment = await admin_orders.load_fulfillment(
                session, shop_id=staff.shop_id, order_id=order_id, fulfillment_id=fulfillment_id
            )
            events = await events_by_fulfillment(
                session, shop_id=staff.shop_id, fulfillment_ids=[fulfillment.id]
            )
    live = [f for f in order.fulfillments if f.cancelled_at is None]
    numbers = {f.id: n for n, f in enumerate(live, start=1)}
    [row] = [s for s in _shipments(order, numbers, events) if s.fulfillment.id == fulfillment_id]
    known = get_carrier(fulfillment.carrier_code)
    defaults = {
        "carrier": known.code if known else (OTHER if fulfillment.carrier_code else ""),
        "tracking_number": fulfillment.tracking_number or "",
        "tracking_url": fulfillment.tracking_url or "",
        "status": "delivered",
        "occurred_at": "",
    }
    errors = errors or {}
    return render(
        request,
        pages,
        "shipment.html",
        staff=staff,
        section="orders",
        status_code=status_code,
        order=order,
        shipment=row,
        carriers=_carriers(),
        manual_statuses=[s.value for s in MANUAL_STATUSES],
        values=defaults | (values or {}),
        errors=errors,
        form_error=gettext(CHECK_FIELDS) if errors else None,
    )


@router.get("/orders/{order_id}/fulfillments/{fulfillment_id}", response_class=HTMLResponse)
async def shipment_page(
    order_id: Id,
    fulfillment_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    return await _shipment_page(request, pages, database, staff, order_id, fulfillment_id)


async def _genuine_shipment_form(
    request: Request, database: DatabaseDep, staff: Staff, order_id: int, fulfillment_id: int
) -> tuple[FormData, bool]:
    """The form, and whether it is genuine; 404 first for a shipment not of the shop."""
    form = await read_form(request)
    with found():
        async with database.read() as session:
            await admin_orders.load_fulfillment(
                session, shop_id=staff.shop_id, order_id=order_id, fulfillment_id=fulfillment_id
            )
    return form, genuine(request, form)


@router.post(
    "/orders/{order_id}/fulfillments/{fulfillment_id}/tracking", response_class=HTMLResponse
)
async def change_tracking(
    order_id: Id,
    fulfillment_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    form, ok = await _genuine_shipment_form(request, database, staff, order_id, fulfillment_id)
    if not ok:
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    tracking, errors = _tracking_form(form)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if tracking is None:
        return await _shipment_page(
            request,
            pages,
            database,
            staff,
            order_id,
            fulfillment_id,
            values=values,
            errors=errors,
            status_code=422,
        )
    try:
        with found():
            async with database.write() as session:
                await fulfillments.update_tracking(
                    session=session,
                    shop_id=staff.shop_id,
                    order_id=order_id,
                    fulfillment_id=fulfillment_id,
                    data=tracking,
                    actor=staff.actor,
                    notify=form.get("notify") == "1",
                )
    except Conflict:
        return await _shipment_page(
            request,
            pages,
            database,
            staff,
            order_id,
            fulfillment_id,
            errors={"tracking_number": gettext(N_("This shipment was cancelled."))},
            status_code=409,
        )
    return redirect(request, f"/admin/orders/{order_id}?done=tracking")


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/cancel", response_class=HTMLResponse)
async def cancel_shipment(
    order_id: Id,
    fulfillment_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    _form, ok = await _genuine_shipment_form(request, database, staff, order_id, fulfillment_id)
    if not ok:
        return form_expired(request, pages, staff)
    try:
        with found():
            async with database.write() as session:
                await fulfillments.cancel_fulfillment(
                    session=session,
                    shop_id=staff.shop_id,
                    order_id=order_id,
                    fulfillment_id=fulfillment_id,
                    actor=staff.actor,
                )
    except Conflict:
        pass  # cancelled twice (a double click): the outcome is the same
    return redirect(request, f"/admin/orders/{order_id}?done=cancelled")


def _event_form(
    form: FormData, staff: Staff, country: str | None
) -> tuple[TrackingEventInput | None, dict[str, str]]:
    errors: dict[str, str] = {}
    status = text(form, "status")
    if status not in {s.value for s in MANUAL_STATUSES}:
        errors["status"] = gettext(N_("Choose what happened."))
    occurred_at: datetime | None = datetime.now(UTC)
    try:
        given = text(form, "occurred_at")
        local = datetime.fromisoformat(given) if given else datetime.now(UTC)
        zoned = (
            local.replace(tzinfo=i18n.zone(staff.shop_timezone)) if local.tzinfo is None else local
        )
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
    order_id: Id,
    fulfillment_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
    gazetteer: GazetteerDep,
) -> Response:
    form, ok = await _genuine_shipment_form(request, database, staff, order_id, fulfillment_id)
    if not ok:
        return form_expired(request, pages, staff)
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    async with database.read() as session:
        order = await load_order(session, shop_id=staff.shop_id, order_id=order_id)
    country = (order.shipping_address or {}).get("country_code")
    data, errors = _event_form(form, staff, country if isinstance(country, str) else None)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if data is None:
        return await _shipment_page(
            request,
            pages,
            database,
            staff,
            order_id,
            fulfillment_id,
            values=values,
            errors=errors,
            status_code=422,
        )
    try:
        with found():
            async with database.write() as session:
                await admin_orders.add_manual_event(
                    session=session,
                    shop_id=staff.shop_id,
                    order_id=order_id,
                    fulfillment_id=fulfillment_id,
                    data=data,
                    actor=staff.actor,
                    gazetteer=gazetteer,
                )
    except Conflict as exc:
        message = (
            N_("This event is already recorded.")
            if exc.fields
            else N_("This shipment was cancelled.")
        )
        return await _shipment_page(
            request,
            pages,
            database,
            staff,
            order_id,
            fulfillment_id,
            values=values,
            errors={"status": gettext(message)},
            status_code=409,
        )
    return redirect(request, f"/admin/orders/{order_id}?done=event")


# ---- the order's note and messages ----


@router.post("/orders/{order_id}/note", response_class=HTMLResponse)
async def save_note(
    order_id: Id, request: Request, staff: StaffDep, pages: PagesDep, database: DatabaseDep
) -> Response:
    form = await read_form(request)
    with found():
        async with database.read() as session:
            await load_order(session, shop_id=staff.shop_id, order_id=order_id)
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    body = text(form, "note")
    i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
    if len(body) > MAX_MESSAGE:
        return await _order_page(
            request,
            pages,
            database,
            staff,
            order_id,
            status_code=422,
            note_value=body,
            note_error=gettext(N_("Keep the note under %(max)d characters."))
            % {"max": MAX_MESSAGE},
        )
    with found():
        async with database.write() as session:
            await admin_orders.set_order_note(
                session=session,
                shop_id=staff.shop_id,
                order_id=order_id,
                body=body,
                actor=staff.actor,
            )
    return redirect(request, f"/admin/orders/{order_id}?done=note#note")


@router.post(
    "/orders/{order_id}/notifications/{notification_id}/resend", response_class=HTMLResponse
)
async def resend(
    order_id: Id,
    notification_id: Id,
    request: Request,
    staff: StaffDep,
    pages: PagesDep,
    database: DatabaseDep,
) -> Response:
    form = await read_form(request)
    with found():
        async with database.read() as session:
            row = await notifications.get_notification(
                session, shop_id=staff.shop_id, notification_id=notification_id
            )
    if row.order_id != order_id:
        raise not_found()
    if not genuine(request, form):
        return form_expired(request, pages, staff)
    try:
        with found():
            async with database.write() as session:
                await notifications.resend_notification(
                    session,
                    shop_id=staff.shop_id,
                    notification_id=notification_id,
                    actor=staff.actor,
                )
    except Conflict:
        i18n.activate(pages.locale(request, order=None, shop=staff.shop_locale))
        return await _order_page(
            request,
            pages,
            database,
            staff,
            order_id,
            status_code=409,
            page_error=gettext(N_("Only a message that failed or was kept can be sent again.")),
        )
    return redirect(request, f"/admin/orders/{order_id}?done=resent#timeline")


# ---- live updates ----


@router.get("/orders/{order_id}/events")
async def order_events(
    order_id: Id, request: Request, staff: StaffDep, database: DatabaseDep
) -> Response:
    """Tells an open order page that its order changed (a carrier event, a message sent,
    another staff member's action), so it can show the new state."""
    async with database.read() as session:
        version = await admin_orders.order_version(
            session, shop_id=staff.shop_id, order_id=order_id
        )
    if version is None:
        return PlainTextResponse("not found", status_code=404)
    seen = request.query_params.get("v", "")
    hub = request.app.state.live.broker.hub
    return OrderChanges(hub, order_id, whole_number(seen) or 0, version)


class OrderChanges(EventStream):
    """The order's new version whenever it moves on; the page fetches what changed."""

    def __init__(self, hub: Hub, order_id: int, seen: int, current: int) -> None:
        super().__init__(hub, order_id, {})
        self.seen = seen
        self.current = current

    async def opening(self) -> str | None:
        return self._changed(self.current)

    async def update(self, subscription: Subscription, beat: bool) -> str | None:
        return self._changed(subscription.latest())

    def _changed(self, version: int) -> str | None:
        if version <= self.seen:
            return None
        self.seen = version
        return f"id: {version}\nevent: changed\ndata: {version}\n\n"

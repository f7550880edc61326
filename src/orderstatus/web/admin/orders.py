"""The admin's orders: the list, one order, its note and messages, and live changes.
Shipping items and what happens to a shipment after are in :mod:`.shipping`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.domain.admin import MAX_MESSAGE, OrderFilter, parse_filter, parse_search
from orderstatus.domain.errors import Conflict, NotFound
from orderstatus.domain.inputs import whole_number
from orderstatus.domain.notifications import RESENDABLE
from orderstatus.i18n import N_
from orderstatus.realtime.hub import Hub, Subscription
from orderstatus.services import admin_orders, notifications, retention
from orderstatus.web.admin.common import gettext, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import Id
from orderstatus.web.sse import EventStream

router = APIRouter(prefix="/admin", include_in_schema=False)

SEARCH_REGION_DIGITS = 6
"""A search with this many digits may be a local phone number, read in the shop's country."""

# ---- the list ----


@router.get("/orders", response_class=HTMLResponse)
async def orders_list(admin: AdminDep) -> Response:
    params = admin.request.query_params
    query = params.get("q", "")
    state = parse_filter(params.get("state"))
    before = whole_number(params.get("before", ""))
    async with admin.read() as session:
        digits = sum(c.isdigit() for c in query)
        region = (
            await admin_orders.shop_region(session, shop_id=admin.shop_id)
            if digits >= SEARCH_REGION_DIGITS
            else None
        )
        terms = parse_search(query, region=region)
        page = await admin_orders.search_orders(
            session, shop_id=admin.shop_id, terms=terms, state=state, before=before
        )
        attention = await admin_orders.count_orders(
            session, shop_id=admin.shop_id, state=OrderFilter.NEEDS_ATTENTION
        )
    return admin.render(
        "orders.html",
        section="orders",
        orders=page.orders,
        older=page.before,
        newest=before is not None,
        query=terms.text if terms else "",
        state=state.value if state else "",
        filters=list(OrderFilter),
        counts={OrderFilter.NEEDS_ATTENTION.value: attention},
    )


# ---- one order ----


async def _order_page(
    admin: Admin,
    order_id: int,
    *,
    status_code: int = 200,
    note_value: str | None = None,
    note_error: str | None = None,
    page_error: str | None = None,
    erase_error: str | None = None,
) -> Response:
    async with admin.read() as session:
        detail = await admin_orders.load_order_detail(
            session, shop_id=admin.shop_id, order_id=order_id
        )
    return admin.render(
        "order.html",
        section="orders",
        status_code=status_code,
        order=detail.order,
        detail=detail,
        shipments=detail.shipments,
        note_value=detail.note if note_value is None else note_value,
        note_error=note_error,
        page_error=page_error,
        erase_error=erase_error,
        resendable={s.value for s in RESENDABLE},
        max_message=MAX_MESSAGE,
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: Id, admin: AdminDep) -> Response:
    return await _order_page(admin, order_id)


# ---- the order's note and messages ----


@router.post("/orders/{order_id}/note", response_class=HTMLResponse)
async def save_note(order_id: Id, admin: AdminDep) -> Response:
    form = await admin.form(
        lambda session: admin_orders.load_order_record(
            session, shop_id=admin.shop_id, order_id=order_id
        )
    )
    body = text(form, "note")
    if len(body) > MAX_MESSAGE:
        return await _order_page(
            admin,
            order_id,
            status_code=422,
            note_value=body,
            note_error=gettext(N_("Keep the note under %(max)d characters."))
            % {"max": MAX_MESSAGE},
        )
    await admin.save(admin_orders.set_order_note, order_id=order_id, body=body)
    return admin.done(f"/admin/orders/{order_id}?done=note#note")


@router.post(
    "/orders/{order_id}/notifications/{notification_id}/resend", response_class=HTMLResponse
)
async def resend(order_id: Id, notification_id: Id, admin: AdminDep) -> Response:
    async def of_this_order(session: AsyncSession) -> None:
        row = await notifications.get_notification(
            session, shop_id=admin.shop_id, notification_id=notification_id
        )
        if row.order_id != order_id:
            raise NotFound("no such message of this order")

    await admin.form(of_this_order)
    try:
        await admin.save(notifications.resend_notification, notification_id=notification_id)
    except Conflict:
        return await _order_page(
            admin,
            order_id,
            status_code=409,
            page_error=gettext(N_("Only a message that failed or was kept can be sent again.")),
        )
    return admin.done(f"/admin/orders/{order_id}?done=resent#timeline")


@router.post("/orders/{order_id}/erase", response_class=HTMLResponse)
async def erase_customer(order_id: Id, admin: AdminDep) -> Response:
    """A customer's erasure request: all their orders in the shop lose their data."""
    form = await admin.form(
        lambda session: admin_orders.load_order_record(
            session, shop_id=admin.shop_id, order_id=order_id
        )
    )
    if text(form, "confirm") != "yes":
        return await _order_page(
            admin,
            order_id,
            status_code=422,
            erase_error=gettext(N_("Tick the box to confirm: this cannot be undone.")),
        )
    await admin.save(retention.erase_order_customer, order_id=order_id)
    return admin.done(f"/admin/orders/{order_id}?done=erased")


# ---- live updates ----


@router.get("/orders/{order_id}/events")
async def order_events(order_id: Id, admin: AdminDep) -> Response:
    """Tells an open order page that its order changed (a carrier event, a message sent,
    another staff member's action), so it can show the new state."""
    async with admin.read() as session:
        version = await admin_orders.order_version(
            session, shop_id=admin.shop_id, order_id=order_id
        )
    if version is None:
        return PlainTextResponse("not found", status_code=404)
    seen = admin.request.query_params.get("v", "")
    hub = admin.request.app.state.live.broker.hub
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

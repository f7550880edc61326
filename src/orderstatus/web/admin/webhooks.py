"""Outbound webhooks: the shop's endpoints (added with the secret shown once, turned off
and on, removed), and the recent deliveries with the receiver's answer and "Send again"."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.webhooks import Topic
from orderstatus.i18n import N_
from orderstatus.services import outbound_webhooks
from orderstatus.services.outbound_webhooks import NewEndpoint
from orderstatus.web.admin.common import gettext, text
from orderstatus.web.admin.forms import Admin, AdminDep
from orderstatus.web.deps import Id

router = APIRouter(prefix="/admin/webhooks", include_in_schema=False)

TOPIC_LABELS = {
    Topic.ORDER_CREATED: N_("An order is created"),
    Topic.ORDER_UPDATED: N_("An order's fulfilment or delivery status changes"),
    Topic.SHIPMENT_CREATED: N_("A shipment is created"),
    Topic.SHIPMENT_STATUS_CHANGED: N_("A shipment's status changes"),
    Topic.SHIPMENT_DELIVERED: N_("A shipment is delivered"),
    Topic.NOTIFICATION_FAILED: N_("A message to a customer fails for good"),
}
BAD_URL = N_(
    "Enter an https:// or http:// address (up to 2000 characters) without a user name or password."
)
NO_TOPICS = N_("Choose at least one event.")
TOO_MANY = N_("A shop can have at most 20 webhooks: remove one first.")
STATE_LABELS = {
    "pending": N_("Waiting"),
    "sending": N_("Sending"),
    "sent": N_("Delivered"),
    "failed": N_("Failed"),
}


async def _page(
    admin: Admin,
    *,
    status_code: int = 200,
    created: NewEndpoint | None = None,
    values: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    async with admin.read() as session:
        endpoints = await outbound_webhooks.list_endpoints(session, shop_id=admin.shop_id)
        deliveries = await outbound_webhooks.recent_deliveries(session, shop_id=admin.shop_id)
    return admin.render(
        "webhooks.html",
        section="webhooks",
        status_code=status_code,
        title=gettext(N_("Webhooks")),
        errors=errors or {},
        endpoints=endpoints,
        deliveries=deliveries,
        created=created,
        values=values or {},
        chosen=set(chosen if chosen is not None else [t.value for t in Topic]),
        topics=[(t.value, gettext(label)) for t, label in TOPIC_LABELS.items()],
        states={k: gettext(v) for k, v in STATE_LABELS.items()},
    )


@router.get("", response_class=HTMLResponse)
async def webhooks_page(admin: AdminDep) -> Response:
    return await _page(admin)


@router.post("", response_class=HTMLResponse)
async def add_webhook(admin: AdminDep) -> Response:
    form = await admin.form()
    url = text(form, "url")
    topics = [v for v in form.getlist("topics") if isinstance(v, str)]
    try:
        created = await admin.save(outbound_webhooks.add_endpoint, url=url, topics=topics)
    except (Invalid, Conflict) as exc:
        fields = exc.fields or {"url": exc.message}
        errors = {}
        if "url" in fields:
            errors["url"] = gettext(BAD_URL)
        if "topics" in fields:
            errors["topics"] = gettext(NO_TOPICS)
        if isinstance(exc, Conflict):
            errors = {"url": gettext(TOO_MANY)}
        return await _page(
            admin, status_code=422, values={"url": url}, chosen=topics, errors=errors
        )
    # The secret is shown on this answer only.
    return await _page(admin, status_code=201, created=created)


@router.post("/{endpoint_id}/delete", response_class=HTMLResponse)
async def delete_webhook(endpoint_id: Id, admin: AdminDep) -> Response:
    async def exists(session: AsyncSession) -> None:
        await outbound_webhooks.find_endpoint(
            session, shop_id=admin.shop_id, endpoint_id=endpoint_id
        )

    await admin.form(exists)
    await admin.save(outbound_webhooks.remove_endpoint, endpoint_id=endpoint_id)
    return admin.done("/admin/webhooks?done=webhook_removed")


@router.post("/{endpoint_id}/active", response_class=HTMLResponse)
async def turn_on_or_off(endpoint_id: Id, admin: AdminDep) -> Response:
    async def exists(session: AsyncSession) -> None:
        await outbound_webhooks.find_endpoint(
            session, shop_id=admin.shop_id, endpoint_id=endpoint_id
        )

    form = await admin.form(exists)
    active = text(form, "active") == "on"
    await admin.save(outbound_webhooks.set_active, endpoint_id=endpoint_id, active=active)
    return admin.done(f"/admin/webhooks?done={'webhook_on' if active else 'webhook_off'}")


@router.post("/deliveries/{delivery_id}/send-again", response_class=HTMLResponse)
async def send_again(delivery_id: Id, admin: AdminDep) -> Response:
    async def exists(session: AsyncSession) -> None:
        await outbound_webhooks.find_delivery(
            session, shop_id=admin.shop_id, delivery_id=delivery_id
        )

    await admin.form(exists)
    try:
        await admin.save(outbound_webhooks.send_again, delivery_id=delivery_id)
    except Conflict:
        return admin.done("/admin/webhooks?done=webhook_busy#deliveries")
    return admin.done("/admin/webhooks?done=webhook_resent#deliveries")

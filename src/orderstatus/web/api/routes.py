"""REST API v1. Handlers parse, call one service in one transaction, and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from orderstatus.domain.inputs import (
    Email,
    FulfillmentInput,
    OrderInput,
    OrderNumber,
    TrackingEventInput,
)
from orderstatus.domain.statuses import OrderFilter
from orderstatus.domain.webhooks import WebhookChange, WebhookInput
from orderstatus.services import order_records, outbound_webhooks
from orderstatus.services.batching import EventBatcher
from orderstatus.services.orders import MAX_PAGE
from orderstatus.services.tracking import EventItem
from orderstatus.web.api.schemas import (
    ErrorOut,
    FulfillmentOut,
    NewWebhookOut,
    OrderList,
    OrderOut,
    OrderStatusOut,
    RecordedEventOut,
    WebhookList,
    WebhookOut,
    event_out,
    fulfillment_out,
    new_webhook_out,
    order_out,
    order_status_out,
    webhook_out,
)
from orderstatus.web.bodies import JsonRoute
from orderstatus.web.deps import ApiShopId, DatabaseDep, Id, SettingsDep

_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 415, 422)
}
# A body without Content-Type is read as JSON; one with another type gets a clear 415.
router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    responses=_errors,
    strict_content_type=False,
    route_class=JsonRoute,
)


@router.post("/orders", status_code=201, response_model=OrderOut)
async def create_order(
    data: OrderInput, shop_id: ApiShopId, database: DatabaseDep, settings: SettingsDep
) -> OrderOut:
    """Create an order as a checkout would send it; answers with its status-page URL."""
    async with database.write() as session:
        order = await order_records.create_order(session, shop_id=shop_id, data=data, actor="api")
    return order_out(order, base_url=settings.base_url)


@router.get("/orders", response_model=OrderList)
async def list_orders(
    shop_id: ApiShopId,
    database: DatabaseDep,
    settings: SettingsDep,
    number: OrderNumber | None = None,
    email: Email | None = None,
    status: Annotated[
        OrderFilter | None,
        Query(
            description="How much is shipped (unfulfilled, partial, fulfilled) or a shipment status"
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            description="The `next_cursor` of the page before",
            json_schema_extra={"format": "cursor", "pattern": "^[A-Za-z0-9_-]+$"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> OrderList:
    """Orders, newest first; pass `next_cursor` back as `cursor` for the next page."""
    async with database.read() as session:
        page = await order_records.list_orders(
            session,
            shop_id=shop_id,
            number=number,
            email=email,
            status=status,
            cursor=cursor,
            limit=limit,
        )
    return OrderList(
        orders=[order_out(o, base_url=settings.base_url) for o in page.orders],
        next_cursor=page.next_cursor,
    )


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: Id, shop_id: ApiShopId, database: DatabaseDep, settings: SettingsDep
) -> OrderOut:
    async with database.read() as session:
        order = await order_records.get_order(session, shop_id=shop_id, order_id=order_id)
    return order_out(order, base_url=settings.base_url)


@router.get("/orders/{order_id}/status", response_model=OrderStatusOut)
async def get_order_status(
    order_id: Id, shop_id: ApiShopId, database: DatabaseDep
) -> OrderStatusOut:
    """The order's headline and each shipment's status with its events, newest first."""
    async with database.read() as session:
        status = await order_records.order_status(session, shop_id=shop_id, order_id=order_id)
    return order_status_out(status)


@router.post("/orders/{order_id}/fulfillments", status_code=201, response_model=FulfillmentOut)
async def create_fulfillment(
    order_id: Id, data: FulfillmentInput, shop_id: ApiShopId, database: DatabaseDep
) -> FulfillmentOut:
    """Ship some or all items (omit `line_items` for everything left). Over-fulfilment: 409."""
    async with database.write() as session:
        fulfillment = await order_records.create_fulfillment(
            session, shop_id=shop_id, order_id=order_id, data=data, actor="api"
        )
    return fulfillment_out(fulfillment)


@router.post(
    "/fulfillments/{fulfillment_id}/events",
    status_code=201,
    response_model=RecordedEventOut,
    responses={200: {"model": RecordedEventOut, "description": "A repeat: nothing changed"}},
)
async def record_event(
    fulfillment_id: Id, data: TrackingEventInput, shop_id: ApiShopId, request: Request
) -> Response:
    """Record what happened to a shipment. A repeat (same `external_id` or same content)
    answers 200 with the stored event and changes nothing."""
    batcher: EventBatcher = request.app.state.event_batcher
    recorded = await batcher.record(
        EventItem(shop_id=shop_id, fulfillment_id=fulfillment_id, data=data)
    )
    # The hottest route: answer with the model's own JSON (built from our own rows, so
    # nothing to validate again on the way out).
    out = RecordedEventOut(
        event=event_out(recorded.event),
        created=recorded.created,
        fulfillment_status=recorded.status,
    )
    return Response(
        out.model_dump_json(),
        status_code=201 if recorded.created else 200,
        media_type="application/json",
    )


@router.post("/webhooks", status_code=201, response_model=NewWebhookOut)
async def create_webhook(
    data: WebhookInput, shop_id: ApiShopId, database: DatabaseDep
) -> NewWebhookOut:
    """Send events of these topics to a URL. The answer holds the secret the deliveries
    are signed with; it is not shown again."""
    async with database.write() as session:
        created = await outbound_webhooks.add_endpoint(
            session=session, shop_id=shop_id, url=data.url, topics=data.topics, actor="api"
        )
    return new_webhook_out(created)


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(shop_id: ApiShopId, database: DatabaseDep) -> WebhookList:
    async with database.read() as session:
        endpoints = await outbound_webhooks.list_endpoints(session, shop_id=shop_id)
    return WebhookList(webhooks=[webhook_out(e) for e in endpoints])


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def change_webhook(
    webhook_id: Id, data: WebhookChange, shop_id: ApiShopId, database: DatabaseDep
) -> WebhookOut:
    """Turn a webhook off or on again. A webhook whose receiver answers 410 Gone is
    turned off by itself; turning it on sends the events from then on, not those it
    missed."""
    async with database.write() as session:
        endpoint = await outbound_webhooks.set_active(
            session=session,
            shop_id=shop_id,
            endpoint_id=webhook_id,
            active=data.active,
            actor="api",
        )
    return webhook_out(endpoint)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(webhook_id: Id, shop_id: ApiShopId, database: DatabaseDep) -> Response:
    """Stop sending to this webhook (deliveries not yet sent are dropped)."""
    async with database.write() as session:
        await outbound_webhooks.remove_endpoint(
            session=session, shop_id=shop_id, endpoint_id=webhook_id, actor="api"
        )
    return Response(status_code=204)

"""What the REST API returns. Money is a decimal string; times are ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field

from orderstatus.domain.inputs import AMOUNT_PATTERN
from orderstatus.domain.money import format_amount
from orderstatus.domain.statuses import EventStatus
from orderstatus.domain.webhooks import Topic
from orderstatus.services.order_records import (
    FulfillmentRecord,
    LineItemRecord,
    OrderRecord,
    OrderStatus,
)
from orderstatus.services.outbound_webhooks import EndpointRecord, NewEndpoint
from orderstatus.services.tracking import StoredEvent

MoneyText = Annotated[str, Field(pattern=AMOUNT_PATTERN, examples=["249.00"])]
"""An amount as the API answers it: decimal text with the currency's decimals."""


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class LineItemOut(BaseModel):
    id: int
    title: str
    variant: str | None
    sku: str | None
    quantity: int
    fulfilled_quantity: int
    price: MoneyText
    image_url: str | None


class FulfillmentItemOut(BaseModel):
    id: int
    quantity: int


class LocationOut(BaseModel):
    city: str | None
    region: str | None
    zip: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None


class EventOut(BaseModel):
    id: int
    status: EventStatus
    occurred_at: datetime
    occurred_at_guessed: bool
    received_at: datetime
    message: str | None
    location: LocationOut | None
    source: str
    external_id: str | None


class FulfillmentOut(BaseModel):
    id: int
    order_id: int
    status: EventStatus
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    estimated_delivery: datetime | None
    line_items: list[FulfillmentItemOut]
    created_at: datetime


class Money(BaseModel):
    subtotal: MoneyText
    shipping: MoneyText
    discount: MoneyText
    tax: MoneyText
    taxes_included: bool
    total: MoneyText


class OrderOut(BaseModel):
    id: int
    number: str
    name: str
    status_page_url: str
    created_at: datetime
    locale: str | None
    currency: str
    customer: dict[str, str | None]
    email: str | None
    phone: str | None
    update_email: str | None
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    payment: dict[str, str | None]
    line_items: list[LineItemOut]
    totals: Money
    fulfillment_status: str
    delivery_status: EventStatus | None
    headline: str
    fulfillments: list[FulfillmentOut]


class OrderList(BaseModel):
    orders: list[OrderOut]
    next_cursor: str | None


class FulfillmentStatusOut(BaseModel):
    id: int
    status: EventStatus
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    estimated_delivery: datetime | None
    events: list[EventOut]


class OrderStatusOut(BaseModel):
    order_id: int
    fulfillment_status: str
    delivery_status: EventStatus | None
    headline: str
    fulfillments: list[FulfillmentStatusOut]


class RecordedEventOut(BaseModel):
    event: EventOut
    created: bool
    fulfillment_status: EventStatus


def _money(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency)


def fulfillment_out(fulfillment: FulfillmentRecord) -> FulfillmentOut:
    return FulfillmentOut(
        id=fulfillment.id,
        order_id=fulfillment.order_id,
        status=fulfillment.status,
        carrier=fulfillment.carrier_code,
        tracking_number=fulfillment.tracking_number,
        tracking_url=fulfillment.tracking_url,
        estimated_delivery=fulfillment.estimated_delivery,
        line_items=[
            FulfillmentItemOut(id=i.line_item_id, quantity=i.quantity) for i in fulfillment.items
        ],
        created_at=fulfillment.created_at,
    )


def _line_item_out(item: LineItemRecord, currency: str) -> LineItemOut:
    return LineItemOut(
        id=item.id,
        title=item.title,
        variant=item.variant,
        sku=item.sku,
        quantity=item.quantity,
        fulfilled_quantity=item.fulfilled_quantity,
        price=_money(item.unit_price, currency),
        image_url=item.image_url,
    )


def order_out(order: OrderRecord, *, base_url: str) -> OrderOut:
    return OrderOut(
        id=order.id,
        number=order.number,
        name=f"#{order.number}",
        status_page_url=f"{base_url}/orders/{order.status_token}",
        created_at=order.created_at,
        locale=order.locale,
        currency=order.currency,
        customer={"first_name": order.customer_first_name, "last_name": order.customer_last_name},
        email=order.email,
        phone=order.phone,
        update_email=order.update_email,
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        payment={
            "method": order.payment_method,
            "brand": order.payment_brand,
            "last4": order.payment_last4,
        },
        line_items=[_line_item_out(i, order.currency) for i in order.line_items],
        totals=Money(
            subtotal=_money(order.subtotal, order.currency),
            shipping=_money(order.shipping_total, order.currency),
            discount=_money(order.discount_total, order.currency),
            tax=_money(order.tax_total, order.currency),
            taxes_included=order.taxes_included,
            total=_money(order.total, order.currency),
        ),
        fulfillment_status=order.fulfillment_status,
        delivery_status=order.delivery_status,
        headline=order.headline,
        fulfillments=[fulfillment_out(f) for f in order.fulfillments],
    )


def order_status_out(status: OrderStatus) -> OrderStatusOut:
    order = status.order
    return OrderStatusOut(
        order_id=order.id,
        fulfillment_status=order.fulfillment_status,
        delivery_status=order.delivery_status,
        headline=order.headline,
        fulfillments=[
            FulfillmentStatusOut(
                id=s.fulfillment.id,
                status=s.fulfillment.status,
                carrier=s.fulfillment.carrier_code,
                tracking_number=s.fulfillment.tracking_number,
                tracking_url=s.fulfillment.tracking_url,
                estimated_delivery=s.fulfillment.estimated_delivery,
                events=[event_out(e) for e in s.events],
            )
            for s in status.shipments
        ],
    )


def event_out(event: StoredEvent) -> EventOut:
    has_place = any(
        v is not None
        for v in (event.city, event.region, event.postal_code, event.country_code, event.latitude)
    )
    return EventOut(
        id=event.id,
        status=EventStatus(event.status),
        occurred_at=event.occurred_at,
        occurred_at_guessed=event.occurred_at_guessed,
        received_at=event.received_at,
        message=event.message,
        location=LocationOut(
            city=event.city,
            region=event.region,
            zip=event.postal_code,
            country_code=event.country_code,
            latitude=event.latitude,
            longitude=event.longitude,
        )
        if has_place
        else None,
        source=event.source,
        external_id=event.source_event_id,
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    topics: list[Topic]
    created_at: datetime
    active: bool = Field(description="false while the webhook is turned off: nothing is sent to it")
    disabled_at: datetime | None = Field(description="When it was turned off")
    disabled_reason: str | None = Field(
        description='Why: "answered 410 Gone" (its receiver said the address is gone), '
        'or "turned off by staff" / "turned off by the API"'
    )


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="Signs the deliveries; shown only now")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


def webhook_out(endpoint: EndpointRecord) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        topics=list(endpoint.topics),
        created_at=endpoint.created_at,
        active=endpoint.active,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
    )


def new_webhook_out(created: NewEndpoint) -> NewWebhookOut:
    e = created.endpoint
    return NewWebhookOut(**webhook_out(e).model_dump(), secret=created.secret)

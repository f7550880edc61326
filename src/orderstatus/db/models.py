"""The data model. Every row belongs to one shop, and every query names the shop."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from orderstatus.db.types import Money, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON()}


def shop_fk() -> ForeignKey:
    return ForeignKey("shops.id", ondelete="CASCADE")


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    contact_email: Mapped[str | None] = mapped_column(String(320))
    website_url: Mapped[str | None] = mapped_column(String(2000))
    logo_path: Mapped[str | None] = mapped_column(String(255))
    accent_color: Mapped[str] = mapped_column(String(7), default="#1f6f5c")
    next_order_number: Mapped[int] = mapped_column(Integer, default=1001)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped by every change that shows on the shop's pages (branding, shop-wide notes)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notification_kinds_off: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    """Notification kinds (domain.notifications.Kind) the merchant turned off."""
    notification_kinds_on: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    """Kinds that are off until the merchant turns them on (domain.notifications.OPT_IN)."""
    sms_confirmation_with_email: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """Also text the order confirmation to a customer who gave both e-mail and phone."""
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether the shop's prices include tax, for an order that does not say."""
    storefront_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Serve the demo storefront at /shop/{handle}/ (anyone could place orders there)."""


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class StaffSession(Base):
    """One signed-in browser. The cookie carries the token, signed; only its SHA-256
    digest is stored, so signing out (deleting the row) ends that browser's session even
    if the cookie was copied."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[int] = mapped_column(shop_fk())
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    """The latest the session can last, however active it is."""


class ApiKey(Base):
    """A bearer key. Only its SHA-256 digest is stored; the prefix helps people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "number"),
        Index("ix_orders_shop_id_id", "shop_id", "id"),
        Index("ix_orders_shop_id_email", "shop_id", "email"),
        UniqueConstraint("shop_id", "platform", "platform_order_id"),
        Index("ix_orders_shop_id_delivery_status", "shop_id", "delivery_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    number: Mapped[str] = mapped_column(String(64))
    status_token: Mapped[str] = mapped_column(String(64), unique=True)
    share_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    locale: Mapped[str | None] = mapped_column(String(35))
    currency: Mapped[str] = mapped_column(String(3))
    customer_first_name: Mapped[str] = mapped_column(String(255))
    customer_last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    update_email: Mapped[str | None] = mapped_column(String(320))
    shipping_address: Mapped[dict[str, Any]]
    billing_address: Mapped[dict[str, Any] | None]
    payment_method: Mapped[str] = mapped_column(String(64))
    payment_brand: Mapped[str | None] = mapped_column(String(64))
    payment_last4: Mapped[str | None] = mapped_column(String(4))
    subtotal: Mapped[Decimal]
    shipping_total: Mapped[Decimal]
    discount_total: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    tax_total: Mapped[Decimal]
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The tax is part of the prices (shown as "including …"), not added to the total."""
    total: Mapped[Decimal]
    fulfillment_status: Mapped[str] = mapped_column(String(16), default="unfulfilled")
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped by every change that shows on the order's page, so a rendered page can be
    reused until the order changes."""
    platform: Mapped[str | None] = mapped_column(String(16))
    """The shop platform the order came from through a connection (None: the API, the
    admin or the storefront)."""
    platform_order_id: Mapped[str | None] = mapped_column(String(64))
    platform_updated_at: Mapped[datetime | None]
    """The platform's own time of the order version last applied: an older one is skipped."""
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    line_items: Mapped[list[LineItem]] = relationship(
        back_populates="order", order_by="LineItem.position", lazy="raise"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        back_populates="order", order_by="Fulfillment.id", lazy="raise"
    )


class LineItem(Base):
    __tablename__ = "line_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    variant: Mapped[str | None] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal]
    image_url: Mapped[str | None] = mapped_column(String(2000))
    platform_id: Mapped[str | None] = mapped_column(String(64))
    """The item's id on the shop platform the order came from."""

    order: Mapped[Order] = relationship(back_populates="line_items", lazy="raise")


class Fulfillment(Base):
    """A shipment: some line items, one carrier, one tracking number.

    ``status`` is a cache of the derivation over its events (domain.statuses), kept with
    the carrier time of the event that sorts last so that a newer event can be applied
    without re-reading the history.
    """

    __tablename__ = "fulfillments"
    __table_args__ = (
        Index("ix_fulfillments_shop_id_tracking_number", "shop_id", "tracking_number"),
        Index("ix_fulfillments_status_last_event_at", "status", "last_event_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    carrier_code: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(String(2000))
    estimated_delivery: Mapped[datetime | None]
    first_estimated_delivery: Mapped[datetime | None]
    """The first estimate the carrier gave: a later estimate means the delivery slipped."""
    status: Mapped[str] = mapped_column(String(32), default="in_transit")
    last_event_at: Mapped[datetime | None]
    last_event_status: Mapped[str | None] = mapped_column(String(32))
    notify_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    """When the carrier poller may next ask about this shipment; NULL means now."""
    last_polled_at: Mapped[datetime | None]
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Failed polls in a row: each one pushes the next poll further out."""
    platform_id: Mapped[str | None] = mapped_column(String(64))
    """The shipment's id on the shop platform the order came from."""

    order: Mapped[Order] = relationship(back_populates="fulfillments", lazy="raise")
    items: Mapped[list[FulfillmentItem]] = relationship(
        back_populates="fulfillment", order_by="FulfillmentItem.id", lazy="raise"
    )


class FulfillmentItem(Base):
    __tablename__ = "fulfillment_items"
    __table_args__ = (
        UniqueConstraint("fulfillment_id", "line_item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    fulfillment_id: Mapped[int] = mapped_column(ForeignKey("fulfillments.id", ondelete="CASCADE"))
    line_item_id: Mapped[int] = mapped_column(
        ForeignKey("line_items.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)

    fulfillment: Mapped[Fulfillment] = relationship(back_populates="items", lazy="raise")


class WebhookSecret(Base):
    """The shared secret a tracking source signs its webhooks with, one per shop and source."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (UniqueConstraint("shop_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    source: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """A shop platform (WooCommerce, Shopify, Saleor) sending the shop's orders to
    ``/connect/{platform}/{handle}``.

    ``secret`` signs the platform's webhooks; ``shop_url`` is the merchant's own shop
    (Saleor's keys are fetched from it, and the page link is written back to it with
    ``credentials``). Both are secrets: anything meant for display shows them masked."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("shop_id", "platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    platform: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(String(255))
    shop_url: Mapped[str | None] = mapped_column(String(2000))
    credentials: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectionDelivery(Base):
    """One webhook a connection received, and what came of it (the admin lists the last
    ones). ``delivery_id`` is the platform's id of the delivery: a repeat is answered
    without being applied again."""

    __tablename__ = "connection_deliveries"
    __table_args__ = (
        UniqueConstraint("connection_id", "delivery_id"),
        Index("ix_connection_deliveries_connection_id_id", "connection_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    delivery_id: Mapped[str | None] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))
    platform_order_id: Mapped[str | None] = mapped_column(String(64))
    pending: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Shipments reported for an order not seen yet, applied when the order comes."""
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectionWriteBack(Base):
    """The page link to write back to an order on its platform (an outbox row: written
    with the order, sent by a worker with retries)."""

    __tablename__ = "connection_writebacks"
    __table_args__ = (
        UniqueConstraint("connection_id", "order_id"),
        Index("ix_connection_writebacks_state_next_try_at", "state", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """pending, done, or failed (given up; ``error`` says why)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LaneTransit(Base):
    """How long a carrier's deliveries on one lane took (domain.delivery.TransitStats):
    the 10th and 90th percentile of transit days over its recent deliveries, refreshed
    by the worker. ``area`` is a postcode area, or "*" for the whole destination
    country. Figures of the deployment's deliveries, no shop's own: they name no one."""

    __tablename__ = "lane_transit"

    carrier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin: Mapped[str] = mapped_column(String(2), primary_key=True)
    destination: Mapped[str] = mapped_column(String(2), primary_key=True)
    area: Mapped[str] = mapped_column(String(8), primary_key=True)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    deliveries: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CarrierAccount(Base):
    """A shop's credentials for one carrier's tracking API, which the poller uses.

    ``carrier`` names the connector (one DHL key covers several DHL services). The
    credentials are secrets: anything meant for display shows them masked.
    """

    __tablename__ = "carrier_accounts"
    __table_args__ = (UniqueConstraint("shop_id", "carrier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    carrier: Mapped[str] = mapped_column(String(32))
    credentials: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrackingEvent(Base):
    """One thing a carrier (or the merchant) reported about a shipment.

    Duplicates are refused by the database: the same sender id from the same source, or
    the same content (``content_key``) whoever sent it.
    """

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("fulfillment_id", "source", "source_event_id"),
        UniqueConstraint("fulfillment_id", "content_key"),
        Index("ix_tracking_events_fulfillment_id_occurred_at", "fulfillment_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    fulfillment_id: Mapped[int] = mapped_column(ForeignKey("fulfillments.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    occurred_at_guessed: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(64))
    country_code: Mapped[str | None] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))
    source_event_id: Mapped[str | None] = mapped_column(String(255))
    content_key: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None]


class Notification(Base):
    """The outbox: written in the transaction that causes it, delivered by a worker."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    fulfillment_id: Mapped[int | None] = mapped_column(
        ForeignKey("fulfillments.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(320))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    """Set by the worker that claimed the row; only that claim may record the outcome, so
    a worker that outlived its lease cannot overwrite what the next one did."""


class PushSubscription(Base):
    """A device the customer turned notifications on for on the order's page: where its
    push service takes messages (``endpoint``) and the keys to encrypt them for it
    (RFC 8291). Outbox rows on the push channel name it by id; a push service that
    answers 404 or 410 has forgotten it, and so do we."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("order_id", "endpoint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(1024))
    p256dh: Mapped[str] = mapped_column(String(128))
    """The device's P-256 public key, base64url."""
    auth: Mapped[str] = mapped_column(String(64))
    """The device's authentication secret, base64url."""
    locale: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationTemplate(Base):
    """A merchant's own wording of one notification kind in one language (the defaults
    ship with the package, notify/default_templates)."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("shop_id", "kind", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    kind: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(35))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    sms: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PageMessage(Base):
    """A merchant's note on the status page: shop-wide, or on one order when order_id is set."""

    __tablename__ = "page_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    placement: Mapped[str] = mapped_column(String(16), default="top")
    body_markdown: Mapped[str] = mapped_column(Text)
    statuses: Mapped[list[str] | None] = mapped_column(JSON)
    locale: Mapped[str | None] = mapped_column(String(35))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Activity(Base):
    """The order's history as staff see it: who did what, when."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductImage(Base):
    """A product image URL a merchant sent, fetched once by the server and kept under the
    var folder as ``media/products/{key}``; pages show only that copy."""

    __tablename__ = "product_images"
    __table_args__ = (Index("ix_product_images_state_next_try_at", "state", "next_try_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    """domain.media.image_key of the URL: the copy's file name and address."""
    url: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """pending (to fetch), ready (stored), failed (never shown: the placeholder stays)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PageCount(Base):
    """How often an order's page was opened on a day, and how often through a link in
    one of our messages: counted per order and day only, with no cookie, address or
    anything else about who opened it. ``kind``: view, click_email, click_sms, click_push, click."""

    __tablename__ = "page_counts"
    __table_args__ = (Index("ix_page_counts_shop_id_day", "shop_id", "day"),)

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    count: Mapped[int] = mapped_column(Integer, default=0)


class DailyStat(Base):
    """One figure of a shop's day, for the Insights page: refreshed by the worker from
    the orders, shipments, events, messages and page counts, so the page sums a few
    hundred rows whatever the number of orders. ``key`` splits a metric (a channel, a
    kind of exception, "carrier|country|days" of a delivery); "" when it does not."""

    __tablename__ = "daily_stats"

    shop_id: Mapped[int] = mapped_column(shop_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class WalletRegistration(Base):
    """A device's Wallet that holds an order and asks to hear of its changes."""

    __tablename__ = "wallet_registrations"
    __table_args__ = (
        UniqueConstraint("device_id", "order_id"),
        Index("ix_wallet_registrations_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(255))
    push_token: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WalletPush(Base):
    """The outbox of Wallet pushes: written in the transaction that changed the order,
    sent to APNs by the worker. One push wakes a device for all its changed orders, so a
    token with a push still waiting gets no second one."""

    __tablename__ = "wallet_pushes"
    __table_args__ = (
        Index("ix_wallet_pushes_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_wallet_pushes_push_token", "push_token"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    push_token: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    """A merchant's outbound webhook: where to send which topics, and the secret the
    deliveries are signed with (kept readable, as the inbound sources' secrets are).
    ``disabled_at`` is set while it is turned off (the receiver answered 410 Gone, or
    staff turned it off; ``disabled_reason`` says which): nothing is sent to it then."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk(), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    topics: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(Base):
    """The outbound webhooks' outbox: one event for one endpoint, written in the
    transaction that caused it and delivered by the worker with back-off."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_shop_id_id", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(shop_fk())
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    """The same on every try and every endpoint: receivers drop repeats by it."""
    topic: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

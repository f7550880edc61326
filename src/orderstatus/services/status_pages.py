"""The customer's side of an order: load its page, prove ownership, share, opt in."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orderstatus.carriers.registry import get_carrier
from orderstatus.db.models import Activity, Fulfillment, Order, PageMessage, Shop, TrackingEvent
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.inputs import normalize_email, normalize_order_number
from orderstatus.domain.markdown import render_markdown
from orderstatus.domain.statuses import EventStatus
from orderstatus.domain.view import (
    EventData,
    ItemData,
    MessageData,
    OrderData,
    ShipmentData,
    ShopData,
)
from orderstatus.services.orders import bump_order
from orderstatus.services.security import new_token


@dataclass(frozen=True, slots=True)
class PageKey:
    """What identifies one rendering of an order's page: it changes when the page does."""

    order_id: int
    shop_id: int
    order_version: int
    shop_version: int
    locale: str | None
    shop_locale: str


async def page_key(
    session: AsyncSession, *, status_token: str | None = None, share_token: str | None = None
) -> PageKey | None:
    """One small query: enough to serve a cached page or to know the token is wrong."""
    query = select(
        Order.id, Order.shop_id, Order.version, Shop.version, Order.locale, Shop.default_locale
    ).join(Shop, Shop.id == Order.shop_id)
    if status_token is not None:
        query = query.where(Order.status_token == status_token)
    elif share_token is not None:
        query = query.where(Order.share_token == share_token)
    else:
        return None
    row = (await session.execute(query)).first()
    return PageKey(*row) if row else None


async def page_key_by_id(session: AsyncSession, *, order_id: int) -> PageKey | None:
    """The key of an order's page now (a live stream re-reads it after missing news)."""
    query = select(
        Order.id, Order.shop_id, Order.version, Shop.version, Order.locale, Shop.default_locale
    ).join(Shop, Shop.id == Order.shop_id)
    row = (await session.execute(query.where(Order.id == order_id))).first()
    return PageKey(*row) if row else None


def shop_data(shop: Shop, base_url: str) -> ShopData:
    return ShopData(
        handle=shop.handle,
        name=shop.name,
        logo_url=f"{base_url}/media/{shop.logo_path}" if shop.logo_path else None,
        accent_color=shop.accent_color,
        contact_email=shop.contact_email,
        website_url=shop.website_url,
        timezone=shop.timezone,
        default_locale=shop.default_locale,
    )


async def load_page(
    session: AsyncSession, *, order_id: int, base_url: str
) -> tuple[OrderData, ShopData]:
    """Everything the order's page shows, for any viewer (the view builder filters)."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(
            selectinload(Order.line_items),
            selectinload(Order.fulfillments).selectinload(Fulfillment.items),
        )
    )
    if order is None:
        raise NotFound("no such order")
    shop = await session.get_one(Shop, order.shop_id)
    live = [f for f in order.fulfillments if f.cancelled_at is None]
    events: dict[int, list[EventData]] = {f.id: [] for f in live}
    if live:
        rows = await session.scalars(
            select(TrackingEvent).where(TrackingEvent.fulfillment_id.in_(list(events)))
        )
        for e in rows:
            events[e.fulfillment_id].append(
                EventData(
                    id=e.id,
                    status=EventStatus(e.status),
                    occurred_at=e.occurred_at,
                    message=e.message,
                    city=e.city,
                    region=e.region,
                    country_code=e.country_code,
                    latitude=e.latitude,
                    longitude=e.longitude,
                )
            )
    messages = await session.scalars(
        select(PageMessage)
        .where(
            PageMessage.shop_id == order.shop_id,
            PageMessage.active.is_(True),
            (PageMessage.order_id.is_(None)) | (PageMessage.order_id == order.id),
        )
        .order_by(PageMessage.order_id.is_not(None), PageMessage.position, PageMessage.id)
    )
    shipments = []
    for f in live:
        carrier = get_carrier(f.carrier_code)
        shipments.append(
            ShipmentData(
                id=f.id,
                carrier_code=f.carrier_code,
                carrier_name=carrier.name if carrier and carrier.code != "other" else None,
                tracking_number=f.tracking_number,
                tracking_url=_tracking_url(f, order),
                live_tracking=bool(carrier and carrier.live),
                estimated_delivery=f.estimated_delivery,
                first_estimated_delivery=f.first_estimated_delivery,
                created_at=f.created_at,
                items=[(i.line_item_id, i.quantity) for i in f.items],
                events=events[f.id],
            )
        )
    data = OrderData(
        id=order.id,
        number=order.number,
        status_token=order.status_token,
        share_token=order.share_token,
        currency=order.currency,
        locale=order.locale,
        created_at=order.created_at,
        first_name=order.customer_first_name,
        last_name=order.customer_last_name,
        email=order.email,
        phone=order.phone,
        update_email=order.update_email,
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        payment_method=order.payment_method,
        payment_brand=order.payment_brand,
        payment_last4=order.payment_last4,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        total=order.total,
        fulfillment_status=order.fulfillment_status,
        delivery_status=order.delivery_status,
        items=[
            ItemData(
                id=i.id,
                title=i.title,
                variant=i.variant,
                quantity=i.quantity,
                unit_price=i.unit_price,
                image_url=i.image_url,
            )
            for i in order.line_items
        ],
        shipments=shipments,
        messages=[
            MessageData(
                placement=m.placement,
                html=render_markdown(m.body_markdown),
                statuses=m.statuses,
                locale=m.locale,
            )
            for m in messages
        ],
    )
    return data, shop_data(shop, base_url)


def _tracking_url(fulfillment: Fulfillment, order: Order) -> str | None:
    from orderstatus.carriers.registry import tracking_link

    if not fulfillment.tracking_number and not fulfillment.tracking_url:
        return None
    address = order.shipping_address
    return tracking_link(
        fulfillment.carrier_code,
        fulfillment.tracking_number or "",
        postcode=address.get("zip"),
        country=address.get("country_code"),
        locale=order.locale,
        merchant_url=fulfillment.tracking_url,
    )


def _same_email(stored: str | None, given: str) -> bool:
    if stored is None:
        return False
    try:
        candidate = normalize_email(given)
    except ValueError:
        return False
    return hmac.compare_digest(stored.encode(), candidate.encode())


async def check_owner(session: AsyncSession, *, order_id: int, number: str, email: str) -> bool:
    """Whether the pair proves ownership: the order's number and its checkout e-mail
    (or the e-mail the customer opted in with)."""
    order = await session.get(Order, order_id)
    if order is None:
        return False
    try:
        same_number = normalize_order_number(number) == order.number
    except ValueError:
        same_number = False
    emails = [order.email, order.update_email]
    return same_number and any(_same_email(e, email) for e in emails)


async def lookup(
    session: AsyncSession, *, shop_handle: str, number: str, email: str
) -> Order | None:
    """The order a customer asks for by number and e-mail, or None (whatever was wrong)."""
    try:
        wanted = normalize_order_number(number)
    except ValueError:
        return None
    order = await session.scalar(
        select(Order)
        .join(Shop, Shop.id == Order.shop_id)
        .where(Shop.handle == shop_handle, Order.number == wanted)
    )
    if order is None or not any(_same_email(e, email) for e in (order.email, order.update_email)):
        return None
    return order


async def create_share_link(session: AsyncSession, *, order_id: int) -> str:
    """The order's share token, made now if it has none."""
    order = await session.get_one(Order, order_id, with_for_update=True)
    if order.share_token:
        return order.share_token
    token = new_token()
    await bump_order(session, order_id, share_token=token)
    session.add(
        Activity(
            shop_id=order.shop_id,
            order_id=order_id,
            kind="share_created",
            actor="customer",
            message="Customer created a share link",
        )
    )
    return token


async def revoke_share_link(session: AsyncSession, *, order_id: int) -> None:
    order = await session.get_one(Order, order_id, with_for_update=True)
    if order.share_token is None:
        return
    await bump_order(session, order_id, share_token=None)
    session.add(
        Activity(
            shop_id=order.shop_id,
            order_id=order_id,
            kind="share_revoked",
            actor="customer",
            message="Customer revoked the share link",
        )
    )


async def opt_in_email(session: AsyncSession, *, order_id: int, email: str) -> str:
    """Store the address a phone-only customer wants shipping updates at."""
    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise Invalid(f"email {exc}", fields={"email": str(exc)}) from None
    order = await session.get_one(Order, order_id, with_for_update=True)
    await bump_order(session, order_id, update_email=address)
    session.add(
        Activity(
            shop_id=order.shop_id,
            order_id=order_id,
            kind="updates_opt_in",
            actor="customer",
            message="Customer asked for shipping updates by e-mail",
        )
    )
    return address

"""The customer's side of an order: load its page, prove ownership, share, opt in."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BindParameter, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from orderstatus.carriers.registry import get_carrier
from orderstatus.db.engine import note_streams_ended
from orderstatus.db.models import (
    Activity,
    Fulfillment,
    FulfillmentItem,
    LineItem,
    Order,
    PageMessage,
    Shop,
    TrackingEvent,
)
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.inputs import (
    contact_forms,
    locale_country,
    normalize_email,
    normalize_order_number,
)
from orderstatus.domain.markdown import render_markdown
from orderstatus.domain.media import page_image_url
from orderstatus.domain.retention import ANONYMISED_NAME
from orderstatus.domain.statuses import EventStatus
from orderstatus.domain.view import (
    EventData,
    ItemData,
    MessageData,
    OrderData,
    ShipmentData,
    ShopData,
)
from orderstatus.realtime.hub import share_tag
from orderstatus.services.orders import bump_order
from orderstatus.services.predictions import known_lanes, lane_of, usual_delivery
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
    # An anonymised order has no page: its links answer as unknown ones.
    query = query.where(Order.customer_first_name != ANONYMISED_NAME)
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
    query = query.where(Order.id == order_id, Order.customer_first_name != ANONYMISED_NAME)
    row = (await session.execute(query)).first()
    return PageKey(*row) if row else None


def shop_data(shop: Shop | Any, base_url: str) -> ShopData:
    """From a Shop or a row of the shops table."""
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


_ORDERS = cast(Table, Order.__table__)
_SHOPS = cast(Table, Shop.__table__)
_LINES = cast(Table, LineItem.__table__)
_SHIPMENTS = cast(Table, Fulfillment.__table__)
_SHIPPED = cast(Table, FulfillmentItem.__table__)
_EVENTS = cast(Table, TrackingEvent.__table__)
_MESSAGES = cast(Table, PageMessage.__table__)
_ORDER: BindParameter[int] = bindparam("order_id")

# A page is read on every change for every open stream's order: plain statements, built
# once, each row straight into the view builder's data (no ORM objects in between).
_PAGE_ORDER = select(_ORDERS).where(_ORDERS.c.id == _ORDER)
_PAGE_SHOP = select(_SHOPS).where(_SHOPS.c.id == bindparam("shop_id"))
_PAGE_LINES = (
    select(
        _LINES.c.id,
        _LINES.c.title,
        _LINES.c.variant,
        _LINES.c.quantity,
        _LINES.c.unit_price,
        _LINES.c.image_url,
    )
    .where(_LINES.c.order_id == _ORDER)
    .order_by(_LINES.c.position)
)
_PAGE_SHIPMENTS = (
    select(
        _SHIPMENTS.c.id,
        _SHIPMENTS.c.carrier_code,
        _SHIPMENTS.c.tracking_number,
        _SHIPMENTS.c.tracking_url,
        _SHIPMENTS.c.estimated_delivery,
        _SHIPMENTS.c.first_estimated_delivery,
        _SHIPMENTS.c.created_at,
        _SHIPPED.c.line_item_id,
        _SHIPPED.c.quantity,
    )
    .outerjoin(_SHIPPED, _SHIPPED.c.fulfillment_id == _SHIPMENTS.c.id)
    .where(_SHIPMENTS.c.order_id == _ORDER, _SHIPMENTS.c.cancelled_at.is_(None))
    .order_by(_SHIPMENTS.c.id, _SHIPPED.c.id)
)
"""A row per shipped item (one, without item, for a shipment of none)."""
_PAGE_EVENTS = (
    select(
        _EVENTS.c.fulfillment_id,
        _EVENTS.c.id,
        _EVENTS.c.status,
        _EVENTS.c.occurred_at,
        _EVENTS.c.message,
        _EVENTS.c.city,
        _EVENTS.c.region,
        _EVENTS.c.country_code,
        _EVENTS.c.latitude,
        _EVENTS.c.longitude,
    )
    .join(_SHIPMENTS, _SHIPMENTS.c.id == _EVENTS.c.fulfillment_id)
    .where(_SHIPMENTS.c.order_id == _ORDER, _SHIPMENTS.c.cancelled_at.is_(None))
)
_PAGE_MESSAGES = (
    select(
        _MESSAGES.c.placement,
        _MESSAGES.c.body_markdown,
        _MESSAGES.c.statuses,
        _MESSAGES.c.locale,
        _MESSAGES.c.order_id,
    )
    .where(
        _MESSAGES.c.shop_id == bindparam("shop_id"),
        _MESSAGES.c.active.is_(True),
        _MESSAGES.c.order_id.is_(None) | (_MESSAGES.c.order_id == _ORDER),
    )
    .order_by(_MESSAGES.c.order_id.is_not(None), _MESSAGES.c.position, _MESSAGES.c.id)
)


class PageParts:
    """The parts of pages that rarely change, kept between reads of the same orders: a
    shop's data by its version, an order's line items (never changed after checkout)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.shops: dict[tuple[int, int], ShopData] = {}
        self.items: dict[int, list[ItemData]] = {}

    def keep_shop(self, key: tuple[int, int], shop: ShopData) -> None:
        self.shops = {k: v for k, v in self.shops.items() if k[0] != key[0]}
        self.shops[key] = shop

    def keep_items(self, order_id: int, items: list[ItemData]) -> None:
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[order_id] = items


def _first_country(events: list[EventData]) -> str | None:
    """Where the carrier first scanned the parcel, if it said."""
    placed = [e for e in events if e.country_code]
    return min(placed, key=lambda e: (e.occurred_at, e.id)).country_code if placed else None


async def load_page(
    session: AsyncSession | AsyncConnection,
    *,
    order_id: int,
    base_url: str,
    parts: PageParts | None = None,
    shop_version: int | None = None,
) -> tuple[OrderData, ShopData]:
    """Everything the order's page shows, for any viewer (the view builder filters).

    ``parts``: kept parts to reuse (the shop's when ``shop_version`` says which)."""
    which = {"order_id": order_id}
    order = (await session.execute(_PAGE_ORDER, which)).first()
    if order is None or order.customer_first_name == ANONYMISED_NAME:
        # An anonymised order has no page, even where a cache still knew its token.
        raise NotFound("no such order")
    shop_key = (order.shop_id, shop_version if shop_version is not None else -1)
    shop = parts.shops.get(shop_key) if parts else None
    if shop is None:
        row = (await session.execute(_PAGE_SHOP, {"shop_id": order.shop_id})).one()
        shop = shop_data(row, base_url)
        if parts and shop_version is not None and row.version == shop_version:
            parts.keep_shop(shop_key, shop)
    items = parts.items.get(order_id) if parts else None
    if items is None:
        items = [
            ItemData(
                id=i.id,
                title=i.title,
                variant=i.variant,
                quantity=i.quantity,
                unit_price=i.unit_price,
                image_url=page_image_url(i.image_url, base_url),
            )
            for i in await session.execute(_PAGE_LINES, which)
        ]
        if parts:
            parts.keep_items(order_id, items)
    events: dict[int, list[EventData]] = {}
    for e in await session.execute(_PAGE_EVENTS, which):
        events.setdefault(e.fulfillment_id, []).append(
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
    rows: dict[int, Any] = {}
    shipped: dict[int, list[tuple[int, int]]] = {}
    for f in await session.execute(_PAGE_SHIPMENTS, which):
        rows.setdefault(f.id, f)
        items_of = shipped.setdefault(f.id, [])
        if f.line_item_id is not None:
            items_of.append((f.line_item_id, f.quantity))
    lanes = {
        f.id: lane_of(f.carrier_code, _first_country(events.get(f.id, [])), order.shipping_address)
        for f in rows.values()
    }
    known = await known_lanes(session, [lane for lane in lanes.values() if lane is not None])
    shipments = []
    for f in rows.values():
        carrier = get_carrier(f.carrier_code)
        shipments.append(
            ShipmentData(
                id=f.id,
                carrier_code=f.carrier_code,
                carrier_name=carrier.name if carrier and carrier.code != "other" else None,
                tracking_number=f.tracking_number,
                tracking_url=_tracking_url(
                    f.carrier_code,
                    f.tracking_number,
                    f.tracking_url,
                    order.shipping_address,
                    order.locale,
                ),
                live_tracking=bool(carrier and carrier.live),
                estimated_delivery=f.estimated_delivery,
                first_estimated_delivery=f.first_estimated_delivery,
                created_at=f.created_at,
                items=shipped[f.id],
                events=events.get(f.id, []),
                usual=usual_delivery(lanes[f.id], f.created_at, known),
            )
        )
    messages = await session.execute(_PAGE_MESSAGES, which | {"shop_id": order.shop_id})
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
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        taxes_included=order.taxes_included,
        total=order.total,
        fulfillment_status=order.fulfillment_status,
        delivery_status=order.delivery_status,
        items=items,
        shipments=shipments,
        cancelled_at=order.cancelled_at,
        messages=[
            MessageData(
                placement=m.placement,
                html=render_markdown(m.body_markdown),
                statuses=m.statuses,
                locale=m.locale,
                for_this_order=m.order_id is not None,
            )
            for m in messages
        ],
    )
    return data, shop


def _tracking_url(
    carrier_code: str | None,
    tracking_number: str | None,
    merchant_url: str | None,
    address: dict[str, Any],
    locale: str | None,
) -> str | None:
    from orderstatus.carriers.registry import tracking_link

    if not tracking_number and not merchant_url:
        return None
    return tracking_link(
        carrier_code,
        tracking_number or "",
        postcode=address.get("zip"),
        country=address.get("country_code"),
        locale=locale,
        merchant_url=merchant_url,
    )


def _same(stored: str | None, candidates: frozenset[str]) -> bool:
    if stored is None:
        return False
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(stored.encode(), candidate.encode())
    return found


def guess_subject(order_id: int) -> str:
    """What guesses at an order's second factor count against: the order itself, however
    it was named (number, or any other identifier a form accepts) and through which form."""
    return f"order:{order_id}"


@dataclass(frozen=True, slots=True)
class ClaimedOrder:
    """What a sign-in form learns of the order it names."""

    id: int
    status_token: str
    email: str | None
    update_email: str | None
    phone: str | None
    shipping_country: str | None
    """Where a phone number typed without +country is read first."""

    @classmethod
    def of(cls, order: Order) -> ClaimedOrder:
        return cls(
            order.id,
            order.status_token,
            order.email,
            order.update_email,
            order.phone,
            (order.shipping_address or {}).get("country_code"),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """An order as a sign-in form names it, before its second factor is checked.

    ``subject`` is what failed guesses count against: the matched order, or for a number
    that matches none the number as the matcher reads it (so an unknown order is limited
    like a known one and the limit tells nothing); None for what can never match."""

    order: ClaimedOrder | None
    subject: str | None
    shop_locale: str | None = None

    def proven_by(self, contact: str) -> bool:
        """Whether ``contact`` is the order's checkout e-mail, the e-mail the customer
        opted in with, or its checkout phone number (typed as people write it, read in
        the shipping country or the shop's)."""
        order = self.order
        if order is None:
            return False
        regions = (order.shipping_country, locale_country(self.shop_locale))
        given = contact_forms(contact, regions)
        return any(_same(c, given) for c in (order.email, order.update_email, order.phone))


async def claim_by_number(session: AsyncSession, *, shop_handle: str, number: str) -> Claim:
    """The order of a shop that a typed order number names."""
    try:
        wanted = normalize_order_number(number)
    except ValueError:
        return Claim(None, None)
    row = (
        await session.execute(
            select(Order, Shop.default_locale)
            .join(Shop, Shop.id == Order.shop_id)
            .where(Shop.handle == shop_handle, Order.number == wanted)
        )
    ).first()
    if row is None:
        return Claim(None, f"number:{shop_handle}:{wanted}")
    return Claim(ClaimedOrder.of(row[0]), guess_subject(row[0].id), row[1])


async def check_owner(session: AsyncSession, *, order_id: int, number: str, contact: str) -> bool:
    """Whether the pair proves ownership: the order's number and its checkout e-mail or
    phone number (or the e-mail the customer opted in with)."""
    order = await session.get(Order, order_id)
    if order is None:
        return False
    try:
        same_number = normalize_order_number(number) == order.number
    except ValueError:
        same_number = False
    shop_locale = await session.scalar(select(Shop.default_locale).where(Shop.id == order.shop_id))
    claim = Claim(ClaimedOrder.of(order), guess_subject(order.id), shop_locale)
    return same_number and claim.proven_by(contact)


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
    note_streams_ended(session, share_tag(order.share_token))
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


@dataclass(frozen=True, slots=True)
class AppManifest:
    """What the page's web app manifest says: nothing the public view does not show."""

    order_name: str
    shop_name: str
    accent_color: str
    logo_url: str | None


async def app_manifest(session: AsyncSession, *, order_id: int) -> AppManifest | None:
    row = (
        await session.execute(
            select(Order.number, Shop.name, Shop.accent_color, Shop.logo_path)
            .join(Shop, Shop.id == Order.shop_id)
            .where(Order.id == order_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return AppManifest(
        order_name=f"#{row.number}",
        shop_name=row.name,
        accent_color=row.accent_color,
        logo_url=f"/media/{row.logo_path}" if row.logo_path else None,
    )

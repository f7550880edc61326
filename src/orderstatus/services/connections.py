"""Shop platform connections: making them, and applying what their webhooks say.

A connector (``orderstatus.connectors``) turns a delivery into a
:class:`~orderstatus.connectors.PlatformOrder`; :func:`apply_many` applies it with the
services every order goes through (create the order, fulfil, record tracking events), so
an order from a platform is like any other: its messages, its page, its admin.

Deliveries converge: a repeat (the platform's delivery id, seen before) changes nothing,
an older version of an order than the one applied changes none of its fields, shipments
are matched by the platform's ids and their statuses are tracking events (sorted by the
carrier's time, as all events are), and a deleted order stays cancelled.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from orderstatus.connectors import PlatformOrder, Shipment, registry
from orderstatus.db.engine import note_order_changed
from orderstatus.db.models import (
    Activity,
    Connection,
    ConnectionDelivery,
    Fulfillment,
    LineItem,
    Order,
    Shop,
)
from orderstatus.domain.admin import TrackingInput
from orderstatus.domain.errors import Conflict, DomainError, Invalid, Malformed, NotFound
from orderstatus.domain.inputs import (
    FulfillmentInput,
    OrderInput,
    TrackingEventInput,
    normalize_order_number,
)
from orderstatus.domain.statuses import EventStatus, FulfillmentStatus
from orderstatus.services import writeback
from orderstatus.services.fulfillments import (
    cancel_fulfillment,
    create_fulfillment,
    refresh_order_summary,
    update_tracking,
)
from orderstatus.services.orders import create_order, fulfilled_quantities, live_fulfillments
from orderstatus.services.tracking import EventItem, record_events

log = logging.getLogger(__name__)

PLATFORMS = tuple(registry())
RECENT = 20
"""Deliveries the admin lists per connection."""
DELETED = "deleted"
UNMATCHED = "unmatched"
GONE = datetime(9999, 12, 31, tzinfo=UTC)
"""The version time of an order deleted on its platform: no version of it is newer."""


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A connection as the CLI and the admin show it (the secret is the merchant's to
    copy into the platform)."""

    platform: str
    path: str
    secret: str
    shop_url: str | None
    write_back: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    platform: str
    topic: str
    result: str
    detail: str | None
    order_number: str | None
    order_id: int | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """Where a connection's webhooks go and how they are checked."""

    shop_id: int
    connection_id: int
    secret: str
    shop_url: str | None
    write_back: bool = False
    """The connection has credentials to write the page link back to new orders."""


@dataclass(frozen=True, slots=True)
class ConnectorDelivery:
    """One authenticated, parsed delivery to apply."""

    target: Target
    platform: str
    topic: str
    delivery_id: str | None
    order: PlatformOrder | None


@dataclass(frozen=True, slots=True)
class Applied:
    result: str
    """applied, duplicate (a repeat), unchanged (an older version), unmatched (about an
    order never seen, which it cannot create), ignored (a topic of no use to us)."""
    order_number: str | None = None


def write_back_credentials(
    *, api_key: str | None = None, api_secret: str | None = None, api_token: str | None = None
) -> dict[str, str] | None:
    """The credentials the page link is written back to the platform with (None: none)."""
    found = {
        k: v.strip()
        for k, v in (("key", api_key), ("secret", api_secret), ("token", api_token))
        if v and v.strip()
    }
    return found or None


def path(platform: str, handle: str) -> str:
    return f"/connect/{platform}/{handle}"


def _record(connection: Connection, handle: str) -> ConnectionRecord:
    return ConnectionRecord(
        platform=connection.platform,
        path=path(connection.platform, handle),
        secret=connection.secret,
        shop_url=connection.shop_url,
        write_back=bool(connection.credentials),
        created_at=connection.created_at,
    )


async def create_connection(
    session: AsyncSession,
    *,
    shop: Shop,
    platform: str,
    secret: str | None = None,
    shop_url: str | None = None,
    credentials: dict[str, Any] | None = None,
) -> ConnectionRecord:
    """Connect a platform (or change an existing connection: a new secret, shop URL or
    write-back credentials; what is not given stays)."""
    if platform not in PLATFORMS:
        raise Invalid(
            f"platform must be one of {', '.join(PLATFORMS)}", fields={"platform": "unknown"}
        )
    if secret is not None and not 16 <= len(secret) <= 255:
        raise Invalid("the secret must be 16 to 255 characters", fields={"secret": "length"})
    if platform == "saleor" and not (shop_url or await _has_url(session, shop.id, platform)):
        raise Invalid(
            "Saleor needs the instance's API URL (its keys are read from it)",
            fields={"shop_url": "required"},
        )
    if shop_url is not None and not shop_url.startswith(("https://", "http://")):
        raise Invalid("the shop URL must start with https://", fields={"shop_url": "scheme"})
    connection = await session.scalar(
        select(Connection).where(Connection.shop_id == shop.id, Connection.platform == platform)
    )
    if connection is None:
        connection = Connection(
            shop_id=shop.id,
            platform=platform,
            secret=secret or secrets.token_urlsafe(32),
            shop_url=shop_url,
            credentials=credentials,
            created_at=datetime.now(UTC),
        )
        session.add(connection)
    else:
        connection.secret = secret or connection.secret
        connection.shop_url = shop_url or connection.shop_url
        connection.credentials = credentials or connection.credentials
    await session.flush()
    return _record(connection, shop.handle)


async def _has_url(session: AsyncSession, shop_id: int, platform: str) -> bool:
    found = await session.scalar(
        select(Connection.shop_url).where(
            Connection.shop_id == shop_id, Connection.platform == platform
        )
    )
    return bool(found)


async def remove_connection(session: AsyncSession, *, shop_id: int, platform: str) -> None:
    await session.execute(
        delete(Connection).where(Connection.shop_id == shop_id, Connection.platform == platform)
    )


async def list_connections(session: AsyncSession, *, shop_id: int) -> list[ConnectionRecord]:
    handle = await session.scalar(select(Shop.handle).where(Shop.id == shop_id))
    if handle is None:
        raise NotFound("no such shop")
    rows = await session.scalars(
        select(Connection).where(Connection.shop_id == shop_id).order_by(Connection.platform)
    )
    return [_record(row, handle) for row in rows]


async def connect(
    *,
    session: AsyncSession,
    shop_id: int,
    actor: str,
    platform: str,
    secret: str | None = None,
    shop_url: str | None = None,
    credentials: dict[str, Any] | None = None,
) -> ConnectionRecord:
    """:func:`create_connection` for the admin (its ``save`` shape)."""
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("no such shop")
    made = await create_connection(
        session,
        shop=shop,
        platform=platform,
        secret=secret,
        shop_url=shop_url,
        credentials=credentials,
    )
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=None,
            kind="connection_saved",
            actor=actor,
            message=f"{platform} connection saved",
        )
    )
    return made


async def disconnect(*, session: AsyncSession, shop_id: int, actor: str, platform: str) -> None:
    await remove_connection(session, shop_id=shop_id, platform=platform)
    session.add(
        Activity(
            shop_id=shop_id,
            order_id=None,
            kind="connection_removed",
            actor=actor,
            message=f"{platform} connection removed",
        )
    )


async def recent_deliveries(session: AsyncSession, *, shop_id: int) -> list[DeliveryRecord]:
    """The last deliveries of each of the shop's connections, newest first."""
    rows = await session.execute(
        select(ConnectionDelivery, Connection.platform, Order.number)
        .join(Connection, Connection.id == ConnectionDelivery.connection_id)
        .outerjoin(Order, Order.id == ConnectionDelivery.order_id)
        .where(ConnectionDelivery.shop_id == shop_id)
        .order_by(ConnectionDelivery.id.desc())
        .limit(RECENT * len(PLATFORMS))
    )
    return [
        DeliveryRecord(
            platform=platform,
            topic=delivery.topic,
            result=delivery.result,
            detail=delivery.detail,
            order_number=number,
            order_id=delivery.order_id,
            received_at=delivery.received_at,
        )
        for delivery, platform, number in rows
    ]


async def target(session: AsyncSession, *, handle: str, platform: str) -> Target | None:
    row = (
        await session.execute(
            select(
                Shop.id,
                Connection.id,
                Connection.secret,
                Connection.shop_url,
                Connection.credentials,
            )
            .join(Connection, Connection.shop_id == Shop.id)
            .where(Shop.handle == handle, Connection.platform == platform)
        )
    ).first()
    return Target(row[0], row[1], row[2], row[3], bool(row[4])) if row else None


async def note_refused(
    session: AsyncSession, *, target: Target, topic: str, delivery_id: str | None, reason: str
) -> None:
    """Remember an authenticated delivery that could not be read (the admin lists it)."""
    session.add(
        ConnectionDelivery(
            shop_id=target.shop_id,
            connection_id=target.connection_id,
            delivery_id=None,
            topic=topic[:64],
            result="malformed",
            detail=reason[:255],
            received_at=datetime.now(UTC),
        )
    )


async def note_test(
    session: AsyncSession, *, target: Target, result: str, detail: str | None
) -> None:
    session.add(
        ConnectionDelivery(
            shop_id=target.shop_id,
            connection_id=target.connection_id,
            topic="test",
            result=result,
            detail=detail[:255] if detail else None,
            received_at=datetime.now(UTC),
        )
    )


class _Refused(Exception):
    """A delivery of a batch was refused: the batch is applied again one by one, so
    that the refused one leaves nothing of itself behind."""


async def apply_many(
    session: AsyncSession, deliveries: list[ConnectorDelivery]
) -> list[Applied | DomainError]:
    """Apply the deliveries in the caller's transaction. A refused delivery fails the
    whole transaction: alone, with its own error (nothing of it is written); in a
    batch, with :class:`_Refused`, which makes the batcher apply each alone."""
    results: list[Applied | DomainError] = []
    rows: list[ConnectionDelivery] = []
    batch = await _prefetch(session, deliveries)
    for delivery in deliveries:
        try:
            applied, row = await _apply(session, delivery, batch)
        except DomainError:
            if len(deliveries) == 1:
                raise
            raise _Refused from None
        results.append(applied)
        if row is not None:
            rows.append(row)
    # Written together, at the end: one statement for the batch. A repeat of a delivery
    # in the same batch breaks the unique id, and the batch is applied one by one.
    session.add_all(rows)
    try:
        await session.flush()
    except IntegrityError:
        if len(deliveries) == 1:
            # The same delivery, applied meanwhile by another process: the platform's
            # retry is answered as the repeat it then is.
            raise Conflict("this delivery is being applied; send it again") from None
        raise _Refused from None
    return results


async def apply(session: AsyncSession, delivery: ConnectorDelivery) -> Applied:
    """Apply one delivery (see the module's docstring); raises Malformed for an order
    that is not one we can keep."""
    [result] = await apply_many(session, [delivery])
    assert isinstance(result, Applied)
    return result


async def _apply(
    session: AsyncSession, delivery: ConnectorDelivery, batch: _Batch
) -> tuple[Applied, ConnectionDelivery | None]:
    target_ = delivery.target
    if delivery.delivery_id is not None:
        key = (target_.connection_id, delivery.delivery_id[:255])
        if key in batch.seen:
            return Applied("duplicate"), None
        batch.seen.add(key)
    order: Order | None = None
    pending = None
    if delivery.order is None:
        outcome = Applied("ignored")
    else:
        outcome, order = await _apply_order(session, delivery, delivery.order, batch)
        if outcome.result == UNMATCHED and delivery.order.shipments:
            pending = [_shipment_json(s) for s in delivery.order.shipments]
    row = ConnectionDelivery(
        shop_id=target_.shop_id,
        connection_id=target_.connection_id,
        delivery_id=delivery.delivery_id[:255] if delivery.delivery_id else None,
        topic=delivery.topic[:64],
        result=outcome.result,
        platform_order_id=delivery.order.platform_id if delivery.order else None,
        pending=pending,
        order_id=order.id if order is not None else None,
        received_at=datetime.now(UTC),
    )
    return outcome, row


OrderKey = tuple[int, str, str]
"""(shop, platform, the platform's order id)."""


@dataclass(slots=True)
class _Batch:
    """What a batch of deliveries reads up front, in two queries for the whole batch."""

    seen: set[tuple[int, str]]
    """(connection, delivery id) of the deliveries received before."""
    orders: dict[OrderKey, Order]
    """The batch's orders that exist, locked, with their items."""


def _order_query() -> Any:
    return (
        select(Order)
        .options(joinedload(Order.line_items))
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )


async def _prefetch(session: AsyncSession, deliveries: list[ConnectorDelivery]) -> _Batch:
    batch = _Batch(set(), {})
    ids = {d.delivery_id[:255] for d in deliveries if d.delivery_id}
    if ids:
        rows = await session.execute(
            select(ConnectionDelivery.connection_id, ConnectionDelivery.delivery_id).where(
                ConnectionDelivery.connection_id.in_({d.target.connection_id for d in deliveries}),
                ConnectionDelivery.delivery_id.in_(ids),
            )
        )
        batch.seen = {(row[0], row[1]) for row in rows if row[1] is not None}
    keys = {(d.target.shop_id, d.platform, d.order.platform_id) for d in deliveries if d.order}
    if keys:
        found = await session.scalars(
            _order_query().where(
                Order.shop_id.in_({k[0] for k in keys}),
                Order.platform.in_({k[1] for k in keys}),
                Order.platform_order_id.in_({k[2] for k in keys}),
            )
        )
        for order in found.unique():
            assert order.platform is not None and order.platform_order_id is not None
            key = (order.shop_id, order.platform, order.platform_order_id)
            if key in keys:
                batch.orders[key] = order
    return batch


async def _find(session: AsyncSession, batch: _Batch, key: OrderKey) -> Order | None:
    """The order with its items, and its shipments when it has any (most updates come
    before anything is shipped: nothing more to read)."""
    order = batch.orders.pop(key, None)  # read again by a later delivery of the batch
    if order is None:
        order = (
            (
                await session.scalars(
                    _order_query().where(
                        Order.shop_id == key[0],
                        Order.platform == key[1],
                        Order.platform_order_id == key[2],
                    )
                )
            )
            .unique()
            .one_or_none()
        )
    if order is None:
        return None
    if order.fulfillment_status == FulfillmentStatus.UNFULFILLED.value:
        # Nothing shipped (cancelled shipments aside, which the rules of an update do not
        # look at; :func:`_ship` reads them all).
        set_committed_value(order, "fulfillments", [])
        return order
    return await _load(session, order)


def _order_input(fields: dict[str, Any]) -> OrderInput:
    """The platform's order as an API order; a phone the platform let through that is
    not a phone number is left out when there is an e-mail to reach the customer."""
    try:
        return OrderInput.model_validate(fields)
    except ValidationError as exc:
        phone_only = all(e["loc"][:1] == ("phone",) for e in exc.errors())
        if phone_only and fields.get("email"):
            return _order_input({k: v for k, v in fields.items() if k != "phone"})
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "order"
        raise Malformed(f"{where}: {first['msg']}") from None


async def _apply_order(
    session: AsyncSession,
    delivery: ConnectorDelivery,
    platform_order: PlatformOrder,
    batch: _Batch,
) -> tuple[Applied, Order | None]:
    shop_id = delivery.target.shop_id
    platform = delivery.platform
    actor = platform
    order = await _find(session, batch, (shop_id, platform, platform_order.platform_id))
    if order is None:
        if platform_order.deleted:
            return Applied(DELETED), None  # remembered: the order stays cancelled if it comes
        if platform_order.order is None:
            return Applied(UNMATCHED), None
        order = await _create(session, delivery, platform_order)
        result = "applied"
        early = await _pending(session, delivery, platform_order.platform_id)
        if early:
            platform_order = replace(platform_order, shipments=early + platform_order.shipments)
    else:
        changed = False
        newer = platform_order.updated_at is not None and (
            order.platform_updated_at is None
            or platform_order.updated_at > order.platform_updated_at
        )
        if newer and platform_order.order is not None:
            data = _order_input(platform_order.order)
            changed |= await _update(session, order, data, platform_order)
            order.platform_updated_at = platform_order.updated_at
        if platform_order.deleted and order.platform_updated_at != GONE:
            order.platform_updated_at = GONE
            changed = True
        if (platform_order.deleted or (newer and platform_order.cancelled)) and (
            order.cancelled_at is None
        ):
            order.cancelled_at = datetime.now(UTC)
            session.add(
                Activity(
                    shop_id=shop_id,
                    order_id=order.id,
                    kind="order_cancelled",
                    actor=actor,
                    message=f"Order cancelled in {platform}",
                )
            )
            changed = True
        elif newer and not platform_order.cancelled and order.cancelled_at is not None:
            order.cancelled_at = None  # restored on the platform
            changed = True
        if changed:
            order.version += 1
            note_order_changed(session, order.id, order.version)
        result = "applied" if changed or newer else "unchanged"
    shipped = await _ship(session, delivery, order, platform_order.shipments)
    if shipped and result == "unchanged":
        result = "applied"
    return Applied(result, order.number), order


async def _create(
    session: AsyncSession, delivery: ConnectorDelivery, platform_order: PlatformOrder
) -> Order:
    assert platform_order.order is not None
    fields = dict(platform_order.order)
    shop = await session.get_one(Shop, delivery.target.shop_id)
    number = fields.get("number")
    if number is not None:
        try:
            taken = await session.scalar(
                select(Order.id).where(
                    Order.shop_id == shop.id, Order.number == normalize_order_number(str(number))
                )
            )
        except ValueError:
            taken = True
        if taken is not None:
            # The shop's own numbering (or another platform) has it: ours stands in.
            fields.pop("number")
    data = _order_input(fields)
    try:
        order = await create_order(session=session, shop=shop, data=data, actor=delivery.platform)
    except Invalid as exc:
        raise Malformed(exc.message) from None
    order.platform = delivery.platform
    order.platform_order_id = platform_order.platform_id
    order.platform_updated_at = platform_order.updated_at
    for item, platform_id in zip(order.line_items, platform_order.line_ids, strict=False):
        item.platform_id = platform_id[:64]
    deleted = await session.scalar(
        select(ConnectionDelivery.id).where(
            ConnectionDelivery.connection_id == delivery.target.connection_id,
            ConnectionDelivery.platform_order_id == platform_order.platform_id,
            ConnectionDelivery.result == DELETED,
        )
    )
    if deleted is not None:
        order.platform_updated_at = GONE
    if platform_order.cancelled or deleted is not None:
        order.cancelled_at = datetime.now(UTC)
    if delivery.target.write_back:
        writeback.queue(
            session,
            shop_id=shop.id,
            connection_id=delivery.target.connection_id,
            order_id=order.id,
        )
    await session.flush()
    return order


async def _update(
    session: AsyncSession, order: Order, data: OrderInput, platform_order: PlatformOrder
) -> bool:
    """Bring the order's fields and items to the platform's newer version; whether
    anything a customer could see changed."""
    try:
        # Every connector says whether the platform's prices include tax.
        totals = data.checked_totals(taxes_included=False)
    except Invalid as exc:
        raise Malformed(exc.message) from None
    values: dict[str, Any] = {
        "email": data.email,
        "phone": data.phone,
        "locale": data.locale or order.locale,
        "customer_first_name": data.customer.first_name,
        "customer_last_name": data.customer.last_name,
        "shipping_address": data.shipping_address.model_dump(exclude_none=True),
        "billing_address": (
            data.billing_address.model_dump(exclude_none=True) if data.billing_address else None
        ),
        "payment_method": data.payment.method,
        "subtotal": totals.subtotal,
        "shipping_total": totals.shipping,
        "discount_total": totals.discount,
        "tax_total": totals.tax,
        "taxes_included": totals.taxes_included,
        "total": totals.total,
    }
    changed = False
    for name, value in values.items():
        if getattr(order, name) != value:
            setattr(order, name, value)
            changed = True
    shipped = fulfilled_quantities(order)
    by_id = {item.platform_id: item for item in order.line_items if item.platform_id}
    wanted = set()
    position = len(order.line_items)
    for line, platform_id in zip(data.line_items, platform_order.line_ids, strict=False):
        wanted.add(platform_id)
        item = by_id.get(platform_id)
        if item is None:
            position += 1
            item = LineItem(
                shop_id=order.shop_id,
                order_id=order.id,
                position=position,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.price,
                platform_id=platform_id[:64],
            )
            session.add(item)
            order.line_items.append(item)
            changed = True
        quantity = max(line.quantity, shipped.get(item.id, 0))
        for name, value in (
            ("title", line.title),
            ("variant", line.variant),
            ("sku", line.sku),
            ("quantity", quantity),
            ("unit_price", line.price),
        ):
            if getattr(item, name) != value:
                setattr(item, name, value)
                changed = True
    for item in list(order.line_items):
        if item.platform_id and item.platform_id not in wanted and not shipped.get(item.id):
            order.line_items.remove(item)
            await session.delete(item)
            changed = True
    if changed:
        refresh_order_summary(order)
    return changed


async def _ship(
    session: AsyncSession, delivery: ConnectorDelivery, order: Order, shipments: list[Shipment]
) -> bool:
    """Create, correct or cancel the order's shipments as the platform has them, and
    record where the platform says each parcel is; whether anything changed."""
    if not shipments:
        return False
    shop_id = order.shop_id
    platform = delivery.platform
    changed = False
    events: list[EventItem] = []
    for reported in shipments:
        shipment = replace(reported, platform_id=reported.platform_id[:64])
        current = await _load(session, order)
        existing = next(
            (f for f in current.fulfillments if f.platform_id == shipment.platform_id), None
        )
        if existing is None:
            if shipment.cancelled or current.cancelled_at is not None:
                continue
            existing = await _new_shipment(session, delivery, current, shipment)
            if existing is None:
                continue
            changed = True
        elif existing.cancelled_at is not None:
            continue
        elif shipment.cancelled:
            await cancel_fulfillment(
                session=session,
                shop_id=shop_id,
                order_id=order.id,
                fulfillment_id=existing.id,
                actor=platform,
            )
            changed = True
            continue
        elif shipment.tracking_number and (
            existing.tracking_number != _normal(shipment.tracking_number)
        ):
            await _retrack(session, delivery, order, existing, shipment)
            changed = True
        if shipment.status is not None and shipment.status_at is not None:
            try:
                data = TrackingEventInput(
                    status=shipment.status,
                    occurred_at=shipment.status_at,
                    external_id=f"{shipment.platform_id}:{shipment.status.value}"[:64],
                )
            except ValidationError:
                continue  # a time in the future: the status stays as it was
            events.append(EventItem(shop_id, existing.id, data, platform))
    if events:
        recorded = await record_events(session=session, items=events)
        changed |= any(not isinstance(r, DomainError) and r.created for r in recorded)
    return changed


def _shipment_json(shipment: Shipment) -> dict[str, Any]:
    fields = asdict(shipment)
    fields["status"] = shipment.status.value if shipment.status else None
    fields["status_at"] = shipment.status_at.isoformat() if shipment.status_at else None
    return fields


def _shipment_from_json(fields: dict[str, Any]) -> Shipment:
    return Shipment(
        **{
            **fields,
            "status": EventStatus(fields["status"]) if fields.get("status") else None,
            "status_at": (
                datetime.fromisoformat(fields["status_at"]) if fields.get("status_at") else None
            ),
        }
    )


async def _pending(
    session: AsyncSession, delivery: ConnectorDelivery, platform_order_id: str
) -> list[Shipment]:
    """Shipments reported before their order came, oldest first."""
    rows = await session.scalars(
        select(ConnectionDelivery.pending)
        .where(
            ConnectionDelivery.connection_id == delivery.target.connection_id,
            ConnectionDelivery.platform_order_id == platform_order_id,
            ConnectionDelivery.result == UNMATCHED,
            ConnectionDelivery.pending.is_not(None),
        )
        .order_by(ConnectionDelivery.id)
    )
    return [_shipment_from_json(fields) for row in rows for fields in row or []]


def _normal(number: str) -> str:
    return "".join(number.split()).upper()


async def _load(session: AsyncSession, order: Order) -> Order:
    found = await session.scalar(
        select(Order)
        .where(Order.id == order.id)
        .options(
            selectinload(Order.line_items),
            selectinload(Order.fulfillments).selectinload(Fulfillment.items),
        )
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def _new_shipment(
    session: AsyncSession, delivery: ConnectorDelivery, order: Order, shipment: Shipment
) -> Fulfillment | None:
    shipped = fulfilled_quantities(order)
    left = {item.id: item.quantity - shipped[item.id] for item in order.line_items}
    lines: list[dict[str, int]] | None = None
    if shipment.items is not None:
        by_platform = {item.platform_id: item.id for item in order.line_items if item.platform_id}
        lines = []
        for platform_id, quantity in shipment.items.items():
            item_id = by_platform.get(platform_id)
            if item_id is not None and left[item_id] > 0:
                lines.append({"id": item_id, "quantity": min(quantity, left[item_id])})
    if (lines is not None and not lines) or (
        lines is None and not any(v > 0 for v in left.values())
    ):
        # Nothing left to ship: a parcel's tracking for a shipment made without any.
        untracked = [f for f in live_fulfillments(order) if f.platform_id and not f.tracking_number]
        if untracked and shipment.tracking_number:
            await _retrack(session, delivery, order, untracked[0], shipment)
            return untracked[0]
        return None
    try:
        data = FulfillmentInput.model_validate(
            {
                "line_items": lines,
                "carrier": shipment.carrier[:64] if shipment.carrier else None,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Malformed(f"shipment {shipment.platform_id}: {first['msg']}") from None
    fulfillment = await create_fulfillment(
        session=session,
        shop_id=order.shop_id,
        order_id=order.id,
        data=data,
        actor=delivery.platform,
    )
    fulfillment.platform_id = shipment.platform_id[:64]
    await session.flush()
    return fulfillment


async def _retrack(
    session: AsyncSession,
    delivery: ConnectorDelivery,
    order: Order,
    fulfillment: Fulfillment,
    shipment: Shipment,
) -> None:
    try:
        data = TrackingInput.model_validate(
            {
                "carrier": shipment.carrier[:64] if shipment.carrier else None,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Malformed(f"shipment {shipment.platform_id}: {first['msg']}") from None
    await update_tracking(
        session=session,
        shop_id=order.shop_id,
        order_id=order.id,
        fulfillment_id=fulfillment.id,
        data=data,
        actor=delivery.platform,
        notify=True,
    )

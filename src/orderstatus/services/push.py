"""The customer's devices that get pushes about an order (Web Push): turning them on and
off from the page, and how the channel fares for the admin."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.db.models import Activity, Notification, Order, PushSubscription
from orderstatus.domain.errors import Invalid
from orderstatus.domain.notifications import Channel
from orderstatus.domain.push import MAX_DEVICES, check_endpoint
from orderstatus.notify.webpush import valid_keys


async def subscribe(
    session: AsyncSession,
    *,
    order_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    locale: str | None,
    allow_private: bool = False,
) -> int:
    """Remember a device for the order's pushes (again: its keys are renewed); its id."""
    endpoint = check_endpoint(endpoint, allow_private=allow_private)
    p256dh, auth = p256dh.strip(), auth.strip()
    if len(p256dh) > 128 or len(auth) > 64 or not valid_keys(p256dh, auth):
        raise Invalid("the subscription's keys are not valid", fields={"keys": "invalid"})
    order = await session.get_one(Order, order_id, with_for_update=True)
    device = await session.scalar(
        select(PushSubscription).where(
            PushSubscription.order_id == order_id, PushSubscription.endpoint == endpoint
        )
    )
    if device is not None:
        device.p256dh, device.auth, device.locale = p256dh, auth, locale
        await session.flush()
        return device.id
    kept = (
        await session.scalars(
            select(PushSubscription.id)
            .where(PushSubscription.order_id == order_id)
            .order_by(PushSubscription.id.desc())
        )
    ).all()
    if len(kept) >= MAX_DEVICES:
        await session.execute(
            delete(PushSubscription).where(PushSubscription.id.in_(kept[MAX_DEVICES - 1 :]))
        )
    device = PushSubscription(
        shop_id=order.shop_id,
        order_id=order_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        locale=locale,
    )
    session.add(device)
    await session.flush()
    session.add(
        Activity(
            shop_id=order.shop_id,
            order_id=order_id,
            kind="push_on",
            actor="customer",
            message=f"Customer turned on notifications on a device (device {device.id})",
            data={"device_id": device.id},
        )
    )
    return device.id


async def unsubscribe(session: AsyncSession, *, order_id: int, endpoint: str) -> bool:
    """Forget a device; whether it was known."""
    device = await session.scalar(
        select(PushSubscription).where(
            PushSubscription.order_id == order_id, PushSubscription.endpoint == endpoint.strip()
        )
    )
    if device is None:
        return False
    await session.delete(device)
    session.add(
        Activity(
            shop_id=device.shop_id,
            order_id=order_id,
            kind="push_off",
            actor="customer",
            message=f"Customer turned off notifications on a device (device {device.id})",
            data={"device_id": device.id},
        )
    )
    return True


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """One channel of a shop's messages, for the admin's notification settings."""

    channel: str
    sent: int = 0
    failed: int = 0
    held: int = 0
    waiting: int = 0
    devices: int | None = None
    """Push only: devices that currently get the shop's pushes."""


async def channel_counts(session: AsyncSession, *, shop_id: int) -> dict[str, ChannelCounts]:
    """Messages by channel and state, and the push devices, of one shop."""
    counts: dict[str, dict[str, int]] = {c.value: {} for c in Channel}
    rows = await session.execute(
        select(Notification.channel, Notification.state, func.count())
        .where(Notification.shop_id == shop_id)
        .group_by(Notification.channel, Notification.state)
    )
    for channel, state, count in rows:
        counts.setdefault(channel, {})[state] = int(count)
    devices = await session.scalar(
        select(func.count())
        .select_from(PushSubscription)
        .where(PushSubscription.shop_id == shop_id)
    )
    return {
        channel: ChannelCounts(
            channel=channel,
            sent=by_state.get("sent", 0),
            failed=by_state.get("failed", 0),
            held=by_state.get("held", 0),
            waiting=by_state.get("pending", 0) + by_state.get("sending", 0),
            devices=int(devices or 0) if channel == Channel.PUSH.value else None,
        )
        for channel, by_state in counts.items()
    }

"""The demo's orders each tell one story in one order of time, and the page's dates agree
with it: what the admin's history says happened when, and what the progress bar shows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Fulfillment, Notification, Order, TrackingEvent
from orderstatus.domain.statuses import Step
from orderstatus.domain.view import Viewer, build_view
from orderstatus.services import demo, status_pages


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_every_demo_order_tells_one_consistent_story(
    database: Database, settings: Settings
) -> None:
    await demo.seed(database, secret_key=settings.secret_key, base_url=settings.base_url)
    async with database.read() as session:
        orders = (await session.scalars(select(Order).order_by(Order.id))).all()
        assert len(orders) >= 10
        for order in orders:
            placed = _utc(order.created_at)
            activities = (
                await session.scalars(select(Activity).where(Activity.order_id == order.id))
            ).all()
            created = [a for a in activities if a.kind == "order_created"]
            assert [_utc(a.created_at) for a in created] == [placed], order.number
            assert all(_utc(a.created_at) >= placed for a in activities), order.number
            queued = (
                await session.scalars(select(Notification).where(Notification.order_id == order.id))
            ).all()
            assert all(_utc(n.created_at) >= placed for n in queued), order.number
            shipments = (
                await session.scalars(select(Fulfillment).where(Fulfillment.order_id == order.id))
            ).all()
            for shipment in shipments:
                events = (
                    await session.scalars(
                        select(TrackingEvent).where(TrackingEvent.fulfillment_id == shipment.id)
                    )
                ).all()
                times = sorted(_utc(e.occurred_at) for e in events)
                assert placed < _utc(shipment.created_at), order.number
                assert not times or _utc(shipment.created_at) <= times[0], order.number
            data, shop = await status_pages.load_page(
                session, order_id=order.id, base_url=settings.base_url
            )
            view = build_view(data, shop, Viewer.OWNER, locale="en")
            for s, shipment_data in zip(view.shipments, data.shipments, strict=True):
                dates = {step.step: step.reached_at for step in s.steps}
                first = min((e.occurred_at for e in shipment_data.events), default=None)
                # "On its way" is the first update (a label counts), else the creation.
                assert dates[Step.IN_TRANSIT] == (first or shipment_data.created_at)
                assert dates[Step.CONFIRMED] == order.created_at
                reached = [d for d in dates.values() if d is not None]
                assert reached == sorted(reached), order.number

"""The carrier poller against a local carrier API and a real database (SQLite and
PostgreSQL): what lands, what is asked, and when it asks again."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("karrio.sdk", reason="carrier polling: pip install -e '.[carriers]'")

from sqlalchemy import func, select, update

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.db.engine import Database
from orderstatus.db.models import Fulfillment, Order, Shop, TrackingEvent
from orderstatus.domain.errors import Invalid, NotFound
from orderstatus.domain.inputs import FulfillmentInput, OrderInput
from orderstatus.services.accounts import create_shop
from orderstatus.services.carrier_accounts import (
    delete_carrier_account,
    list_carrier_accounts,
    set_carrier_account,
)
from orderstatus.services.fulfillments import create_fulfillment
from orderstatus.services.orders import create_order
from orderstatus.services.polling import (
    ERROR_INTERVAL,
    FIRST_INTERVAL,
    JITTER,
    MAX_INTERVAL,
    PollOptions,
    PollReport,
    poll_once,
    polling_unavailable,
    run_poller,
)
from tests.carriers.carrier_server import (
    CarrierServer,
    Scan,
    dhl_shipments,
    fedex_track,
    serve,
    ups_shipment,
    ups_unavailable,
)
from tests.factories import order_payload

UPS = {"client_id": "acme-ups-client-0001", "client_secret": "ups-secret-Zq8!kd02"}
FEDEX = {"track_api_key": "acme-fedex-key-0001", "track_secret_key": "fedex-secret-Xy71"}
DHL = {"consumer_key": "dhl-api-key-Wm3Pq9sLr2"}

START = (datetime.now(UTC) - timedelta(days=3)).replace(tzinfo=None, second=0, microsecond=0)


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


JOURNEY = [
    Scan(
        hours(0),
        ("M", "MP"),
        "pre-transit",
        "OC",
        "Shipper created a label, the carrier has not received the package yet.",
        country="US",
    ),
    Scan(hours(5), ("P", "PU"), "transit", "PU", "Pickup Scan", "Louisville", "KY", "40213", "US"),
    Scan(
        hours(9),
        ("I", "DP"),
        "transit",
        "DP",
        "Departed from Facility",
        "Louisville",
        "KY",
        "40213",
        "US",
    ),
    Scan(
        hours(20),
        ("I", "AR"),
        "transit",
        "AR",
        "Arrived at Facility",
        "Chicago",
        "IL",
        "60638",
        "US",
    ),
    Scan(
        hours(30),
        ("I", "OT"),
        "transit",
        "OD",
        "Out For Delivery Today",
        "Chicago",
        "IL",
        "60638",
        "US",
    ),
    Scan(hours(34), ("D", "KB"), "delivered", "DL", "Delivered", "Chicago", "IL", "60638", "US"),
]
UPS_STATUSES = [
    "confirmed",
    "carrier_picked_up",
    "in_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
]
DELIVERY_DATE = (START + timedelta(days=2)).strftime("%Y%m%d")


@pytest.fixture
async def carrier() -> AsyncIterator[CarrierServer]:
    async with serve() as server:
        server.ups_clients[UPS["client_id"]] = UPS["client_secret"]
        server.fedex_clients[FEDEX["track_api_key"]] = FEDEX["track_secret_key"]
        server.dhl_keys.add(DHL["consumer_key"])
        yield server


@pytest.fixture
def options(carrier: CarrierServer) -> PollOptions:
    urls = {name: carrier.url for name in ("ups", "fedex", "dhl_universal")}
    return PollOptions(server_urls=urls, rng=random.Random(7), request_timeout=20)


async def new_shop(database: Database, handle: str) -> int:
    async with database.write() as session:
        shop = await create_shop(
            session=session, handle=handle, name=handle.title(), currency="NOK"
        )
        return shop.id


async def ship(database: Database, shop_id: int, carrier: str, number: str | None) -> int:
    """An order of the shop, all of it shipped with one carrier."""
    async with database.write() as session:
        shop = await session.get_one(Shop, shop_id)
        order = await create_order(
            session=session,
            shop=shop,
            data=OrderInput.model_validate(order_payload()),
            actor="test",
        )
        fulfillment = await create_fulfillment(
            session=session,
            shop_id=shop_id,
            order_id=order.id,
            data=FulfillmentInput(carrier=carrier, tracking_number=number),
            actor="test",
        )
        await session.flush()
        return fulfillment.id


async def add_account(
    database: Database, shop_id: int, carrier: str, credentials: dict[str, str]
) -> None:
    async with database.write() as session:
        await set_carrier_account(
            session, shop_id=shop_id, carrier=carrier, credentials=credentials
        )


async def fulfillment(database: Database, fulfillment_id: int) -> Fulfillment:
    async with database.read() as session:
        return await session.get_one(Fulfillment, fulfillment_id)


async def event_statuses(database: Database, fulfillment_id: int) -> list[str]:
    async with database.read() as session:
        rows = await session.scalars(
            select(TrackingEvent.status)
            .where(TrackingEvent.fulfillment_id == fulfillment_id)
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        )
        return list(rows)


async def poll_when_due(
    database: Database, fulfillment_id: int, options: PollOptions
) -> tuple[PollReport, Fulfillment]:
    """Poll at the moment the shipment is next due, and read it back."""
    before = await fulfillment(database, fulfillment_id)
    assert before.next_poll_at is not None
    report = await poll_once(database, now=before.next_poll_at, options=options)
    return report, await fulfillment(database, fulfillment_id)


def gap(row: Fulfillment) -> timedelta:
    assert row.next_poll_at is not None and row.last_polled_at is not None
    return row.next_poll_at - row.last_polled_at


def test_polling_is_available_with_the_extra() -> None:
    assert polling_unavailable() is None


async def test_a_ups_journey_lands_in_order_and_ends_delivered(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    shipped = await ship(database, shop, "ups", "1Z999AA10123456784")
    number = "1Z999AA10123456784"
    now = datetime.now(UTC)
    published: list[dict[int, int]] = []

    async def publish(changed: dict[int, int]) -> None:
        published.append(changed)

    options.publish = publish

    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:4], delivery_date=DELIVERY_DATE))
    report = await poll_once(database, now=now, options=options)
    assert (report.polled, report.changed, report.new_events, report.errors) == (1, 1, 4, {})
    assert await event_statuses(database, shipped) == UPS_STATUSES[:4]
    row = await fulfillment(database, shipped)
    assert row.status == "in_transit"
    assert row.estimated_delivery is not None
    assert row.estimated_delivery.strftime("%Y%m%d") == DELIVERY_DATE
    assert carrier.seen[-1].credential == UPS["client_id"]

    async with database.read() as session:
        first = await session.scalar(
            select(TrackingEvent)
            .where(TrackingEvent.fulfillment_id == shipped, TrackingEvent.city.is_not(None))
            .order_by(TrackingEvent.occurred_at)
            .limit(1)
        )
    assert first is not None
    assert (first.city, first.region, first.postal_code, first.country_code) == (
        "Louisville",
        "KY",
        "40213",
        "US",
    )
    assert first.source == "karrio:ups"
    assert first.message == "Pickup Scan"
    assert first.occurred_at == hours(5).replace(tzinfo=UTC)

    # Not due yet: nobody is asked.
    asked = len(carrier.asked())
    assert (await poll_once(database, now=now + timedelta(minutes=1), options=options)).polled == 0
    assert len(carrier.asked()) == asked

    # The same answer again adds nothing.
    report, row = await poll_when_due(database, shipped, options)
    assert (report.polled, report.new_events) == (1, 0)
    assert await event_statuses(database, shipped) == UPS_STATUSES[:4]

    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:5], delivery_date=DELIVERY_DATE))
    report, row = await poll_when_due(database, shipped, options)
    assert report.new_events == 1
    assert row.status == "out_for_delivery"

    carrier.ups[number] = (200, ups_shipment(number, JOURNEY, delivery_date=DELIVERY_DATE))
    report, row = await poll_when_due(database, shipped, options)
    assert report.new_events == 1
    assert row.status == "delivered"
    assert await event_statuses(database, shipped) == UPS_STATUSES
    async with database.read() as session:
        order = await session.scalar(
            select(Order).join(Fulfillment).where(Fulfillment.id == shipped)
        )
    assert order is not None and order.delivery_status == "delivered"
    # Open pages were told after each poll that brought news, with the page's version.
    assert [list(p) for p in published] == [[order.id]] * 3
    versions = [p[order.id] for p in published]
    assert versions == sorted(set(versions)) and versions[-1] == order.version

    # Delivered shipments are never asked about again.
    asked = len(carrier.asked())
    later = datetime.now(UTC) + timedelta(days=3)
    assert (await poll_once(database, now=later, options=options)).polled == 0
    assert len(carrier.asked()) == asked


async def test_back_off_grows_while_nothing_changes_and_further_after_errors(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    number = "1Z999AA10123456785"
    shipped = await ship(database, shop, "ups", number)
    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:3], delivery_date=DELIVERY_DATE))

    await poll_once(database, now=datetime.now(UTC), options=options)
    row = await fulfillment(database, shipped)
    assert FIRST_INTERVAL * (1 - JITTER) <= gap(row) <= FIRST_INTERVAL * (1 + JITTER)

    gaps = [gap(row)]
    for _ in range(7):
        report, row = await poll_when_due(database, shipped, options)
        assert (report.polled, report.new_events) == (1, 0)
        gaps.append(gap(row))
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps[:5]))
    assert gaps[3] > 4 * FIRST_INTERVAL
    assert max(gaps) <= MAX_INTERVAL * (1 + JITTER)
    assert gaps[-1] >= MAX_INTERVAL * (1 - JITTER)

    # News brings the next poll close again.
    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:4], delivery_date=DELIVERY_DATE))
    report, row = await poll_when_due(database, shipped, options)
    assert report.new_events == 1
    assert gap(row) <= FIRST_INTERVAL * (1 + JITTER)

    # The carrier fails: each failure in a row waits longer, and is reported.
    carrier.ups[number] = (500, ups_unavailable())
    failures = []
    for expected in (1, 2, 3):
        report, row = await poll_when_due(database, shipped, options)
        assert row.poll_failures == expected
        assert "190001" in report.errors[shipped]
        failures.append(gap(row))
    assert failures[0] >= ERROR_INTERVAL * (1 - JITTER) > FIRST_INTERVAL * (1 + JITTER)
    assert failures[0] < failures[1] < failures[2]

    # A carrier that answers garbage is a failure too, not news.
    carrier.ups[number] = (502, "<html>Bad Gateway</html>")
    report, row = await poll_when_due(database, shipped, options)
    assert row.poll_failures == 4 and shipped in report.errors

    # Back to normal: the failures are forgotten.
    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:4], delivery_date=DELIVERY_DATE))
    report, row = await poll_when_due(database, shipped, options)
    assert report.errors == {}
    assert row.poll_failures == 0
    assert await event_statuses(database, shipped) == UPS_STATUSES[:4]


async def test_one_failing_shipment_does_not_stop_the_others(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    failing = await ship(database, shop, "ups", "1Z999AA10000000001")
    fine = await ship(database, shop, "ups", "1Z999AA10000000002")
    carrier.ups["1Z999AA10000000001"] = (500, ups_unavailable())
    carrier.ups["1Z999AA10000000002"] = (
        200,
        ups_shipment("1Z999AA10000000002", JOURNEY[:2], delivery_date=DELIVERY_DATE),
    )

    report = await poll_once(database, now=datetime.now(UTC), options=options)

    assert report.polled == 2
    assert set(report.errors) == {failing}
    assert await event_statuses(database, fine) == UPS_STATUSES[:2]
    assert await event_statuses(database, failing) == []


async def test_an_unknown_tracking_number_is_not_an_error(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    await add_account(database, shop, "dhl_universal", DHL)
    ups_parcel = await ship(database, shop, "ups", "1Z999AA19999999999")
    dhl_parcel = await ship(database, shop, "deutsche_post", "00340434161094042557")

    report = await poll_once(database, now=datetime.now(UTC), options=options)

    assert (report.polled, report.not_found, report.errors) == (2, 2, {})
    for shipped in (ups_parcel, dhl_parcel):
        row = await fulfillment(database, shipped)
        assert (row.status, row.poll_failures) == ("in_transit", 0)
        assert gap(row) <= FIRST_INTERVAL * (1 + JITTER)
        assert await event_statuses(database, shipped) == []


async def test_only_shops_with_credentials_are_asked_and_only_for_those_carriers(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    acme = await new_shop(database, "acme")
    other = await new_shop(database, "other")
    await add_account(database, acme, "ups", UPS)
    ours = await ship(database, acme, "ups", "1Z999AA10000000010")
    await ship(database, acme, "fedex", "794698765430")  # no FedEx account at acme
    await ship(database, acme, "ups", None)  # nothing to ask about
    await ship(database, acme, "posten_norge", "LA123456789NO")  # no connector
    cancelled = await ship(database, acme, "ups", "1Z999AA10000000011")
    await ship(database, other, "ups", "1Z999AA10000000012")  # no account at other
    async with database.write() as session:
        await session.execute(
            update(Fulfillment)
            .where(Fulfillment.id == cancelled)
            .values(cancelled_at=datetime.now(UTC))
        )

    report = await poll_once(database, now=datetime.now(UTC), options=options)

    assert report.polled == 1
    assert carrier.asked() == ["1Z999AA10000000010"]
    assert [s.credential for s in carrier.seen] == [UPS["client_id"]]
    assert (await fulfillment(database, ours)).last_polled_at is not None

    # Once the other shop has its own account, its shipment is asked about with its own
    # credentials.
    carrier.ups_clients["other-ups-client-0002"] = "other-secret-0002"
    await add_account(
        database,
        other,
        "ups",
        {"client_id": "other-ups-client-0002", "client_secret": "other-secret-0002"},
    )
    report = await poll_once(database, now=datetime.now(UTC), options=options)
    assert report.polled == 1
    assert carrier.seen[-1].tracking_number == "1Z999AA10000000012"
    assert carrier.seen[-1].credential == "other-ups-client-0002"


async def test_wrong_credentials_back_off_until_they_are_replaced(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", {**UPS, "client_secret": "wrong"})
    number = "1Z999AA10000000020"
    shipped = await ship(database, shop, "ups", number)
    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:2], delivery_date=DELIVERY_DATE))

    report = await poll_once(database, now=datetime.now(UTC), options=options)
    assert "250002" in report.errors[shipped]
    assert carrier.asked() == []
    row = await fulfillment(database, shipped)
    assert row.poll_failures == 1

    await add_account(database, shop, "ups", UPS)
    row = await fulfillment(database, shipped)
    assert (row.poll_failures, row.next_poll_at) == (0, None)
    report = await poll_once(database, now=datetime.now(UTC), options=options)
    assert (report.errors, report.new_events) == ({}, 2)


async def test_a_dhl_journey_through_the_unified_api(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "deutsche_post", DHL)
    number = "00340434161094042557"
    shipped = await ship(database, shop, "deutsche_post", number)
    scans = [
        Scan(hours(0), ("M", "MP"), "pre-transit", "OC", "The shipment has been prepared"),
        Scan(
            hours(6),
            ("I", "AR"),
            "transit",
            "AR",
            "Arrived at the parcel center",
            "Bonn",
            country="Germany",
        ),
        Scan(
            hours(8),
            ("I", "AR"),
            "unknown",
            "AR",
            "Additional information",
            "Bonn",
            country="Germany",
        ),
        Scan(hours(30), ("D", "KB"), "delivered", "DL", "Delivered", "Berlin", country="Germany"),
    ]
    estimate = (START + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    carrier.dhl[number] = (200, dhl_shipments(number, scans[:3], estimate=estimate))

    report = await poll_once(database, now=datetime.now(UTC), options=options)
    assert (report.polled, report.new_events, report.errors) == (1, 2, {})
    # "unknown" scans say nothing about progress: they are not recorded as a delay.
    assert await event_statuses(database, shipped) == ["confirmed", "in_transit"]
    assert carrier.seen[-1].credential == DHL["consumer_key"]
    async with database.read() as session:
        place = (
            await session.execute(
                select(TrackingEvent.city, TrackingEvent.country_code, TrackingEvent.source).where(
                    TrackingEvent.fulfillment_id == shipped, TrackingEvent.status == "in_transit"
                )
            )
        ).one()
    assert tuple(place) == ("Bonn", "DE", "karrio:dhl_universal")

    carrier.dhl[number] = (200, dhl_shipments(number, scans, estimate=estimate))
    report, row = await poll_when_due(database, shipped, options)
    assert report.new_events == 1
    assert row.status == "delivered"


async def test_a_fedex_journey(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "fedex", FEDEX)
    number = "794698765430"
    shipped = await ship(database, shop, "fedex", number)
    carrier.fedex[number] = (200, fedex_track(number, JOURNEY))

    report = await poll_once(database, now=datetime.now(UTC), options=options)

    assert (report.polled, report.new_events, report.errors) == (1, 6, {})
    assert await event_statuses(database, shipped) == UPS_STATUSES
    assert (await fulfillment(database, shipped)).status == "delivered"
    assert carrier.seen[-1].credential == FEDEX["track_api_key"]


async def test_credentials_are_never_listed_in_full(database: Database) -> None:
    shop = await new_shop(database, "acme")
    other = await new_shop(database, "other")
    await add_account(database, shop, "ups", {**UPS, "account_number": "A1B2C3"})
    await add_account(database, shop, "dhl_express", DHL)
    await add_account(database, other, "fedex", FEDEX)

    async with database.read() as session:
        views = await list_carrier_accounts(session, shop_id=shop)

    assert [v.carrier for v in views] == ["dhl_universal", "ups"]
    text = repr(views)
    for secret in [*UPS.values(), *DHL.values(), "A1B2C3", *FEDEX.values()]:
        assert secret not in text
    ups = views[1]
    assert ups.credentials == {
        "account_number": "••••",
        "client_id": "••••0001",
        "client_secret": "••••",
    }
    assert views[0].credentials == {"consumer_key": "••••"}
    assert "dhl_express" in views[0].carriers

    async with database.write() as session:
        with pytest.raises(Invalid):
            await set_carrier_account(session, shop_id=shop, carrier="ups", credentials={})
        with pytest.raises(Invalid):
            await set_carrier_account(
                session, shop_id=shop, carrier="ups", credentials={**UPS, "password": "x"}
            )
        with pytest.raises(Invalid):
            await set_carrier_account(
                session, shop_id=shop, carrier="posten_norge", credentials=DHL
            )

    async with database.write() as session:
        await delete_carrier_account(session, shop_id=shop, carrier="ups")
    async with database.write() as session:
        with pytest.raises(NotFound):
            await delete_carrier_account(session, shop_id=shop, carrier="ups")
    async with database.read() as session:
        assert [v.carrier for v in await list_carrier_accounts(session, shop_id=shop)] == [
            "dhl_universal"
        ]


async def test_a_deleted_account_stops_polling(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    await ship(database, shop, "ups", "1Z999AA10000000030")
    async with database.write() as session:
        await delete_carrier_account(session, shop_id=shop, carrier="ups")

    assert (await poll_once(database, now=datetime.now(UTC), options=options)).polled == 0
    assert carrier.asked() == []


async def test_the_worker_loop_polls_until_stopped(
    database: Database, carrier: CarrierServer, options: PollOptions
) -> None:
    shop = await new_shop(database, "acme")
    await add_account(database, shop, "ups", UPS)
    number = "1Z999AA10000000040"
    shipped = await ship(database, shop, "ups", number)
    carrier.ups[number] = (200, ups_shipment(number, JOURNEY[:3], delivery_date=DELIVERY_DATE))
    stop = asyncio.Event()

    task = asyncio.create_task(
        run_poller(database, stop, interval=0.05, options=options, gazetteer=Gazetteer({}))
    )
    for _ in range(400):
        if await event_statuses(database, shipped):
            break
        await asyncio.sleep(0.05)
    stop.set()
    async with asyncio.timeout(20):
        await task

    assert await event_statuses(database, shipped) == UPS_STATUSES[:3]
    assert carrier.asked() == [number]
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(TrackingEvent)) == 3

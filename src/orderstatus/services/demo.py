"""The demo shop: orders in every status, made through the same services as real ones."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, update

from orderstatus.carriers.simulator import live_order
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, ApiKey, Notification, Order, Shop, StaffUser
from orderstatus.domain.delivery import add_business_days, counts_business_days
from orderstatus.domain.inputs import FulfillmentInput, OrderInput, TrackingEventInput
from orderstatus.domain.money import OrderTotals, precision
from orderstatus.domain.statuses import EventStatus
from orderstatus.services.accounts import create_api_key, create_shop, create_staff
from orderstatus.services.fulfillments import create_fulfillment
from orderstatus.services.insights import add_page_counts, refresh_daily
from orderstatus.services.orders import create_order
from orderstatus.services.predictions import refresh_lanes
from orderstatus.services.security import api_key_digest, derived_secret
from orderstatus.services.stalls import learn_silences, stall_pass
from orderstatus.services.tracking import record_event
from orderstatus.services.webhooks import set_webhook_secret

DEMO_HANDLE = "demo"
DEMO_STAFF_EMAIL = "staff@demo.example"


@dataclass(frozen=True, slots=True)
class Product:
    slug: str
    title: str
    variant: str
    sku: str
    price: Decimal

    def image_url(self, base_url: str) -> str:
        return f"{base_url}/static/products/{self.slug}.svg"


CATALOG: dict[str, Product] = {
    p.slug: p
    for p in (
        Product("mug", "Stoneware mug", "Fjord blue", "MUG-FB", Decimal("249.00")),
        Product("scarf", "Wool scarf", "Heather grey", "SCF-HG", Decimal("599.00")),
        Product("socks", "Hiking socks", "Size 40-43", "SCK-4043", Decimal("149.00")),
        Product("candle", "Beeswax candle", "Set of 4", "CND-4", Decimal("189.00")),
        Product("blanket", "Knitted blanket", "Natural", "BLK-NAT", Decimal("1290.00")),
    )
}
"""What the demo storefront sells (any shop's storefront shows it)."""

SHIPPING = Decimal("99.00")
"""The demo's flat shipping price."""
VAT_RATE = Decimal("0.25")
"""Norway's standard VAT, charged on the demo's goods."""


def demo_totals(subtotal: Decimal, currency: str, *, taxes_included: bool) -> OrderTotals:
    """What a demo checkout charges: the goods, flat shipping and VAT on the goods, which
    is part of the prices when the shop's prices include tax, else added to them."""
    quantum = Decimal(1).scaleb(-precision(currency))
    if taxes_included:
        tax = (subtotal * VAT_RATE / (1 + VAT_RATE)).quantize(quantum, ROUND_HALF_UP)
        total = subtotal + SHIPPING
    else:
        tax = (subtotal * VAT_RATE).quantize(quantum, ROUND_HALF_UP)
        total = subtotal + SHIPPING + tax
    return OrderTotals(subtotal, SHIPPING, Decimal(0), tax, total, taxes_included)


def totals_payload(totals: OrderTotals) -> dict[str, Any]:
    """Totals as a checkout sends them (OrderInput's ``totals``)."""
    return {
        "subtotal": str(totals.subtotal),
        "shipping": str(totals.shipping),
        "discount": str(totals.discount),
        "tax": str(totals.tax),
        "taxes_included": totals.taxes_included,
        "total": str(totals.total),
    }


# (city, region, postcode, country, latitude, longitude)
_PLACES = {
    "oslo": ("Oslo", "Oslo", "0150", "NO", 59.9139, 10.7522),
    "bergen": ("Bergen", "Vestland", "5003", "NO", 60.3913, 5.3221),
    "trondheim": ("Trondheim", "Trøndelag", "7011", "NO", 63.4305, 10.3951),
    "gothenburg": ("Gothenburg", "Västra Götaland", "411 04", "SE", 57.7089, 11.9746),
    "copenhagen": ("Copenhagen", "Capital Region", "1550", "DK", 55.6761, 12.5683),
    "louisville": ("Louisville", "KY", "40201", "US", 38.2527, -85.7585),
}


@dataclass(frozen=True, slots=True)
class DemoShop:
    shop_handle: str
    api_key: str
    staff_email: str
    staff_password: str
    webhook_secret: str
    """The demo shop's EasyPost webhook secret, used by the simulated carrier."""
    orders: list[tuple[str, str, str]]
    """(order name, what it shows, status token)"""


def demo_api_key(secret_key: str) -> str:
    return "os_demo_" + derived_secret(secret_key, "demo-api-key")[:32]


def demo_webhook_secret(secret_key: str) -> str:
    return derived_secret(secret_key, "demo-easypost-webhook")[:32]


def demo_password(secret_key: str) -> str:
    return derived_secret(secret_key, "demo-staff-password")[:16]


def _order(
    number: str,
    first: str,
    last: str,
    items: list[tuple[str, int]],
    *,
    email: str | None = None,
    phone: str | None = None,
    city: str = "oslo",
    locale: str = "en",
    base_url: str,
) -> OrderInput:
    place = _PLACES[city]
    address = {
        "name": f"{first} {last}",
        "address1": f"{(len(first) * 7) % 90 + 1} Demo Street",
        "city": place[0],
        "zip": place[2],
        "country_code": place[3],
    }
    subtotal = sum((CATALOG[key].price * qty for key, qty in items), Decimal(0))
    data: dict[str, Any] = {
        "number": number,
        "email": email,
        "phone": phone,
        "locale": locale,
        "currency": "NOK",
        "customer": {"first_name": first, "last_name": last},
        "shipping_address": address,
        "payment": {"method": "card", "brand": "Visa", "last4": "4242"},
        "line_items": [
            {
                "title": CATALOG[key].title,
                "variant": CATALOG[key].variant,
                "sku": CATALOG[key].sku,
                "quantity": qty,
                "price": str(CATALOG[key].price),
                "image_url": CATALOG[key].image_url(base_url),
            }
            for key, qty in items
        ],
        "totals": totals_payload(demo_totals(subtotal, "NOK", taxes_included=True)),
    }
    return OrderInput.model_validate(data)


def _event(
    status: EventStatus, hours_ago: float, place: str | None, message: str, now: datetime
) -> TrackingEventInput:
    location = None
    if place:
        city, region, postcode, country, lat, lon = _PLACES[place]
        location = {
            "city": city,
            "region": region,
            "zip": postcode,
            "country_code": country,
            "latitude": lat,
            "longitude": lon,
        }
    return TrackingEventInput.model_validate(
        {
            "status": status,
            "occurred_at": now - timedelta(hours=hours_ago),
            "message": message,
            "location": location,
        }
    )


S = EventStatus
_JOURNEY: list[tuple[EventStatus, float, str | None, str]] = [
    (S.LABEL_PURCHASED, 50, "oslo", "Shipping label created"),
    (S.CARRIER_PICKED_UP, 46, "oslo", "Picked up by the carrier"),
    (S.IN_TRANSIT, 30, "trondheim", "Arrived at the sorting facility"),
    (S.OUT_FOR_DELIVERY, 6, "bergen", "Out for delivery"),
    (S.DELIVERED, 2, "bergen", "Delivered to the front door"),
]


def _journey_until(last: EventStatus) -> list[tuple[EventStatus, float, str | None, str]]:
    steps = []
    for step in _JOURNEY:
        steps.append(step)
        if step[0] is last:
            break
    return steps


# (number, first, last, items, contact, what it shows, shipments)
# shipments: list of (items, carrier, tracking, url, events)
def _scenarios() -> list[dict[str, Any]]:
    ups, bring, postnord = "ups", "bring", "postnord"
    return [
        {
            "number": "1001",
            "who": ("Kari", "Nordmann"),
            "items": [("mug", 2)],
            "shows": "Confirmed, nothing shipped yet",
            "shipments": [],
        },
        {
            "number": "1002",
            "who": ("Ola", "Hansen"),
            "items": [("scarf", 1)],
            "shows": "On its way",
            "city": "bergen",
            "shipments": [(None, bring, "370722150004528013", None, _journey_until(S.IN_TRANSIT))],
        },
        {
            "number": "1003",
            "who": ("Ingrid", "Berg"),
            "items": [("blanket", 1)],
            "shows": "Out for delivery",
            "city": "bergen",
            "shipments": [
                (None, bring, "370722150004528020", None, _journey_until(S.OUT_FOR_DELIVERY))
            ],
        },
        {
            "number": "1004",
            "who": ("Lars", "Johansen"),
            "items": [("candle", 2)],
            "shows": "Delivered",
            "city": "bergen",
            "shipments": [(None, bring, "370722150004528037", None, _journey_until(S.DELIVERED))],
        },
        {
            "number": "1005",
            "who": ("Nora", "Lie"),
            "items": [("socks", 3)],
            "shows": "Delivery attempted",
            "city": "bergen",
            "shipments": [
                (
                    None,
                    bring,
                    "370722150004528044",
                    None,
                    [
                        *_journey_until(S.OUT_FOR_DELIVERY),
                        (
                            S.ATTEMPTED_DELIVERY,
                            3,
                            "bergen",
                            "Nobody home. We will try again tomorrow.",
                        ),
                    ],
                )
            ],
        },
        {
            "number": "1006",
            "who": ("Emma", "Dahl"),
            "items": [("mug", 1), ("scarf", 1), ("blanket", 1)],
            "shows": "Three shipments, two carriers: 1 of 3 delivered",
            "city": "bergen",
            "shipments": [
                ([0], ups, "1Z999AA10123456784", None, _journey_until(S.DELIVERED)),
                ([1], ups, "1Z999AA10123456791", None, _journey_until(S.OUT_FOR_DELIVERY)),
                ([2], postnord, "00370722150004528051", None, _journey_until(S.IN_TRANSIT)),
            ],
        },
        {
            "number": "1007",
            "who": ("Jonas", "Bakke"),
            "items": [("candle", 1)],
            "shows": "Local delivery (no live tracking)",
            "shipments": [
                (None, "other", "LOCAL-2231", "https://delivery.example.com/track/LOCAL-2231", [])
            ],
        },
        {
            "number": "1008",
            "who": ("Sofie", "Moe"),
            "items": [("socks", 1)],
            "phone_only": True,
            "shows": "Phone-only customer, on its way",
            "shipments": [
                (None, postnord, "00370722150004528068", None, _journey_until(S.IN_TRANSIT))
            ],
        },
        {
            "number": "1009",
            "who": ("Henrik", "Strand"),
            "items": [("mug", 1), ("socks", 2)],
            "shows": "Partly shipped",
            "city": "trondheim",
            "shipments": [([0], bring, "370722150004528075", None, _journey_until(S.IN_TRANSIT))],
        },
        {
            "number": "1010",
            "who": ("Maja", "Solberg"),
            "items": [("scarf", 1)],
            "shows": "Delayed",
            "city": "copenhagen",
            "shipments": [
                (
                    None,
                    postnord,
                    "00370722150004528082",
                    None,
                    [
                        *_journey_until(S.IN_TRANSIT),
                        (S.DELAYED, 10, "gothenburg", "Delayed by weather"),
                    ],
                )
            ],
        },
        {
            "number": "1011",
            "who": ("Emil", "Haugen"),
            "items": [("blanket", 1)],
            "shows": "Ready for pickup",
            "city": "trondheim",
            "shipments": [
                (
                    None,
                    bring,
                    "370722150004528099",
                    None,
                    [
                        *_journey_until(S.IN_TRANSIT),
                        (
                            S.READY_FOR_PICKUP,
                            5,
                            "trondheim",
                            "Ready for pickup at the service point",
                        ),
                    ],
                )
            ],
        },
        {
            "number": "1012",
            "who": ("Ida", "Lunde"),
            "items": [("mug", 4)],
            "shows": "Problem with delivery",
            "city": "bergen",
            "shipments": [
                (
                    None,
                    ups,
                    "1Z999AA10123456805",
                    None,
                    [
                        *_journey_until(S.IN_TRANSIT),
                        (S.FAILURE, 12, "louisville", "Damaged in transit"),
                    ],
                )
            ],
        },
        {
            "number": "1013",
            "who": ("Magnus", "Eide"),
            "items": [("candle", 3)],
            "shows": "Returned to sender",
            "shipments": [
                (
                    None,
                    bring,
                    "370722150004528105",
                    None,
                    [
                        *_journey_until(S.IN_TRANSIT),
                        (S.RETURNED_TO_SENDER, 8, "oslo", "Returned: address unknown"),
                    ],
                )
            ],
        },
        {
            "number": "1014",
            "who": ("Sofie", "Strand"),
            "items": [("scarf", 1)],
            "shows": "No recent updates (the carrier has gone quiet)",
            "city": "bergen",
            "shipments": [
                (
                    None,
                    bring,
                    "370722150004528112",
                    None,
                    [
                        *_journey_until(S.IN_TRANSIT),
                        (S.NO_RECENT_UPDATES, 1, None, "No news from the carrier for a while"),
                    ],
                )
            ],
        },
        {
            "number": "1015",
            "who": ("Tobias", "Vik"),
            "items": [("blanket", 1)],
            "shows": "No recent updates, found by the stall watch",
            "city": "copenhagen",
            "placed_days": 6,
            "shipments": [
                (
                    None,
                    postnord,
                    "00370722150004528129",
                    None,
                    [
                        (S.CARRIER_PICKED_UP, 120, "oslo", "Picked up by the carrier"),
                        (S.IN_TRANSIT, 100, "gothenburg", "Arrived at the terminal"),
                    ],
                )
            ],
        },
    ]


async def seed(database: Database, *, secret_key: str, base_url: str) -> DemoShop:
    """Create the demo shop once; later calls only report what is there."""
    api_key = demo_api_key(secret_key)
    password = demo_password(secret_key)
    now = datetime.now(UTC)
    created = False
    async with database.write() as session:
        shop = await session.scalar(select(Shop).where(Shop.handle == DEMO_HANDLE))
        if shop is None:
            shop = await create_shop(
                session=session, handle=DEMO_HANDLE, name="Fjord & Wool", currency="NOK"
            )
            shop.contact_email = "hello@demo.example"
            shop.taxes_included = True
            shop.timezone = "Europe/Oslo"
            created = True
            await _seed_history(session, shop, now, base_url)
            for index, spec in enumerate(_scenarios()):
                await _seed_order(session, shop, spec, now, index, base_url)
        # The one shop where strangers are meant to place orders (off for real shops).
        shop.storefront_enabled = True
        if not await session.scalar(select(StaffUser.id).where(StaffUser.shop_id == shop.id)):
            await create_staff(
                session=session, shop=shop, email=DEMO_STAFF_EMAIL, password=password, name="Demo"
            )
        if not await session.scalar(
            select(ApiKey.id).where(ApiKey.digest == api_key_digest(api_key))
        ):
            await create_api_key(session=session, shop=shop, name="demo", key=api_key)
        webhook_secret = await set_webhook_secret(
            session, shop_id=shop.id, source="easypost", secret=demo_webhook_secret(secret_key)
        )
        rows = (
            await session.execute(
                select(Order.number, Order.status_token)
                .where(Order.shop_id == shop.id)
                .order_by(Order.id)
            )
        ).all()
    if created:
        # What the worker would find within minutes, found now: the stalled shipment,
        # the lanes' usual transit times.
        await stall_pass(database, await learn_silences(database, now=now), now=now)
        await refresh_lanes(database, now=now)
        await refresh_daily(database, now=now)
    shows = {spec["number"]: spec["shows"] for spec in _scenarios()}
    return DemoShop(
        shop_handle=DEMO_HANDLE,
        api_key=api_key,
        staff_email=DEMO_STAFF_EMAIL,
        staff_password=password,
        webhook_secret=webhook_secret,
        orders=[(f"#{n}", shows[n], token) for n, token in rows if n in shows],
    )


async def place_live_order(database: Database, *, base_url: str) -> tuple[int, str]:
    """A fresh order for the demo carrier to ship: (its id, its status token)."""
    data = OrderInput.model_validate(live_order(base_url))
    async with database.write() as session:
        shop = await session.scalar(select(Shop).where(Shop.handle == DEMO_HANDLE))
        if shop is None:
            raise LookupError("seed the demo shop first")
        order = await create_order(session=session, shop=shop, data=data, actor="demo")
        return order.id, order.status_token


async def _seed_order(
    session: Any, shop: Shop, spec: dict[str, Any], now: datetime, index: int, base_url: str
) -> None:
    first, last = spec["who"]
    slug = first.lower()
    data = _order(
        spec["number"],
        first,
        last,
        spec["items"],
        email=None if spec.get("phone_only") else f"{slug}@demo.example",
        phone=f"+47 4000 {1000 + index:04d}" if spec.get("phone_only") else None,
        city=spec.get("city", "oslo"),
        base_url=base_url,
    )
    # One story per order, told in one order of time: placed three days ago or so (the
    # newest last), a shipment fulfilled a quarter of an hour before its label was bought,
    # then the carrier's updates. What was recorded along the way (the activity log, the
    # messages queued) is dated when it happened in that story, not when the demo started.
    placed = now - timedelta(days=spec.get("placed_days", 3), hours=len(_scenarios()) - index)
    mark = await _high_water(session)
    order = await create_order(session=session, shop=shop, data=data, actor="demo")
    order.created_at = placed
    await session.flush()
    await _backdate(session, order.id, mark, placed)
    for items, carrier, tracking, url, events in spec["shipments"]:
        chosen = (
            None
            if items is None
            else [
                {"id": order.line_items[i].id, "quantity": order.line_items[i].quantity}
                for i in items
            ]
        )
        first_update = max((e[1] for e in events), default=FIRST_UPDATE_HOURS)
        fulfilled = now - timedelta(hours=first_update, minutes=15)
        mark = await _high_water(session)
        fulfillment = await create_fulfillment(
            session=session,
            shop_id=shop.id,
            order_id=order.id,
            data=FulfillmentInput.model_validate(
                {
                    "line_items": chosen,
                    "carrier": carrier,
                    "tracking_number": tracking,
                    "tracking_url": url,
                    "notify_customer": False,
                }
            ),
            actor="demo",
        )
        fulfillment.created_at = fulfilled
        await session.flush()
        await _backdate(session, order.id, mark, fulfilled)
        for status, hours_ago, place, message in events:
            mark = await _high_water(session)
            await record_event(
                session=session,
                shop_id=shop.id,
                fulfillment_id=fulfillment.id,
                data=_event(status, hours_ago, place, message, now),
                source="demo",
            )
            await _backdate(session, order.id, mark, now - timedelta(hours=hours_ago))


HISTORY_ORDERS = 64
"""Delivered orders of the last months: enough on Bring to Bergen (and to Norway) for the
page to predict a delivery, and for the Insights page to have something to say."""

# (carrier, city, how many of each HISTORY_LANES-long round)
_HISTORY_LANES = (
    ("bring", "bergen"),
    ("bring", "oslo"),
    ("bring", "bergen"),
    ("postnord", "copenhagen"),
    ("bring", "bergen"),
    ("bring", "trondheim"),
    ("ups", "louisville"),
    ("bring", "bergen"),
)
_HISTORY_NAMES = (
    ("Astrid", "Holm"),
    ("Erik", "Lund"),
    ("Sara", "Nilsen"),
    ("Jakob", "Aas"),
    ("Thea", "Berge"),
    ("Filip", "Ruud"),
    ("Julie", "Foss"),
    ("Oskar", "Dale"),
)


async def _seed_history(session: Any, shop: Shop, now: datetime, base_url: str) -> None:
    """Delivered orders of the last 75 days, through the same services, dated as they
    happened: picked up the day after the order, in transit the next day, delivered after
    1 to 5 business days (a few later than the carrier's first estimate). Their messages
    went out (one in twenty failed), and most customers looked at their page."""
    rng = random.Random(20261203)  # noqa: S311 (made-up history, the same every time)
    products = list(CATALOG)
    for index in range(HISTORY_ORDERS):
        carrier, city = _HISTORY_LANES[index % len(_HISTORY_LANES)]
        first, last = _HISTORY_NAMES[index % len(_HISTORY_NAMES)]
        phone_only = index % 9 == 4
        placed = now - timedelta(days=75) + timedelta(hours=index * 22 + rng.randint(0, 6))
        data = _order(
            f"{901 + index}",
            first,
            last,
            [(products[index % len(products)], 1 + index % 2)],
            email=None if phone_only else f"{first.lower()}.{index}@demo.example",
            phone=f"+47 4100 {2000 + index:04d}" if phone_only else None,
            city=city,
            base_url=base_url,
        )
        mark = await _high_water(session)
        order = await create_order(session=session, shop=shop, data=data, actor="demo")
        order.created_at = placed
        await session.flush()
        await _backdate(session, order.id, mark, placed)
        shipped = placed + timedelta(hours=20)
        mark = await _high_water(session)
        fulfillment = await create_fulfillment(
            session=session,
            shop_id=shop.id,
            order_id=order.id,
            data=FulfillmentInput.model_validate(
                {"carrier": carrier, "tracking_number": f"H{index:06d}DEMO"}
            ),
            actor="demo",
        )
        fulfillment.created_at = shipped
        await session.flush()
        await _backdate(session, order.id, mark, shipped)
        business = counts_business_days(carrier)
        took = rng.choice((1, 2, 2, 2, 3, 3, 3, 3, 4, 5))
        promised = rng.choice((3, 3, 4))
        day = shipped.date()
        arrives = add_business_days(day, took) if business else day + timedelta(days=took)
        estimate = add_business_days(day, promised) if business else day + timedelta(promised)
        delivered = datetime.combine(arrives, time(13, rng.randint(0, 59)), tzinfo=UTC)
        steps = [
            (S.CARRIER_PICKED_UP, shipped + timedelta(hours=2), "oslo", estimate),
            (S.IN_TRANSIT, shipped + timedelta(hours=14), "oslo", None),
            (S.DELIVERED, delivered, city, None),
        ]
        words = {S.CARRIER_PICKED_UP: "Picked up", S.IN_TRANSIT: "In transit"}
        for status, at, place, expected in steps:
            hours_ago = (now - at).total_seconds() / 3600
            event = _event(status, hours_ago, place, words.get(status, "Delivered"), now)
            if expected is not None:
                event = event.model_copy(
                    update={"estimated_delivery": datetime.combine(expected, time(18), UTC)}
                )
            mark = await _high_water(session)
            await record_event(
                session=session,
                shop_id=shop.id,
                fulfillment_id=fulfillment.id,
                data=event,
                source="demo",
            )
            await _backdate(session, order.id, mark, at)
        # The customer's visits: most open the page from the shipping e-mail (or text)
        # before it arrives, a few only after.
        visits: dict[tuple[int, int, date, str], int] = {}
        if index % 10 < 7:
            via = "click_sms" if phone_only else "click_email"
            visits[(shop.id, order.id, shipped.date(), via)] = 1
            visits[(shop.id, order.id, shipped.date(), "view")] = 1 + index % 3
        if index % 4 == 0:
            visits[(shop.id, order.id, arrives, "view")] = 1
        await add_page_counts(session, visits)
        failed = index % 20 == 7
        await session.execute(
            update(Notification)
            .where(Notification.order_id == order.id)
            .values(
                state="failed" if failed else "sent",
                sent_at=None if failed else Notification.created_at,
                attempts=1,
                last_error="550 mailbox unavailable" if failed else None,
            )
        )


FIRST_UPDATE_HOURS = 50
"""How long ago a demo shipment's carrier first reported (a label bought)."""


async def _high_water(session: Any) -> tuple[int, int]:
    """The newest activity and message so far: what a step of the story adds comes after."""
    activity = await session.scalar(select(func.max(Activity.id)))
    message = await session.scalar(select(func.max(Notification.id)))
    return activity or 0, message or 0


async def _backdate(session: Any, order_id: int, mark: tuple[int, int], at: datetime) -> None:
    """Date what one step of the story recorded for the order at the story's time."""
    await session.execute(
        update(Activity)
        .where(Activity.order_id == order_id, Activity.id > mark[0])
        .values(created_at=at)
    )
    await session.execute(
        update(Notification)
        .where(Notification.order_id == order_id, Notification.id > mark[1])
        .values(created_at=at, next_attempt_at=at)
    )

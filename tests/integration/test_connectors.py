"""Shop platform connectors end to end: each platform's documented payloads, signed as it
signs them, in order, then shuffled and repeated, end in the same order page."""

from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from orderstatus.config import Settings
from orderstatus.connectors import jwks
from orderstatus.db.engine import Database
from orderstatus.db.models import ConnectionDelivery, Fulfillment, Notification, Order
from orderstatus.services.connections import create_connection
from orderstatus.services.orders import get_shop
from tests.conftest import ShopClient
from tests.connectors import samples
from tests.connectors.samples import Delivery
from tests.integration.helpers import row_counts

PLATFORMS = ["woocommerce", "shopify", "saleor"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The Saleor instances here are on 127.0.0.1: calling them is allowed in these tests
    (and refused by default, as a test below shows)."""
    return settings.model_copy(update={"webhooks_allow_private": True})


@dataclass
class Keys:
    current: samples.SaleorInstance


@pytest.fixture
def keys() -> Keys:
    return Keys(samples.SaleorInstance())


@pytest.fixture
async def instance(keys: Keys) -> AsyncIterator[tuple[samples.SaleorInstance, str]]:
    """A Saleor instance's JWKS served on 127.0.0.1; yields the key and the API URL."""
    key = keys.current

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(keys.current.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield key, f"http://127.0.0.1:{port}/graphql/"
    await runner.cleanup()


@pytest.fixture
async def connected(
    api: ShopClient, database: Database, instance: tuple[samples.SaleorInstance, str]
) -> ShopClient:
    async with database.write() as session:
        shop = await get_shop(session, "acme")
        for platform in PLATFORMS:
            await create_connection(
                session,
                shop=shop,
                platform=platform,
                secret=samples.SECRET,
                shop_url=instance[1] if platform == "saleor" else None,
            )
    return api


def life(platform: str, instance: samples.SaleorInstance, variant: int = 0) -> list[Delivery]:
    if platform == "woocommerce":
        return samples.woocommerce_life(727 + variant)
    if platform == "shopify":
        return samples.shopify_life(820982911946154508 + variant)
    return samples.saleor_life(instance, f"T3JkZXI6{variant}")


async def post(http: httpx.AsyncClient, platform: str, delivery: Delivery) -> httpx.Response:
    return await http.post(
        f"/connect/{platform}/acme", content=delivery.body, headers=delivery.headers
    )


async def snapshot(database: Database, platform: str) -> list[dict[str, Any]]:
    """What the customer's page shows of each order from the platform (ids left out)."""
    async with database.read() as session:
        orders = (
            await session.scalars(
                select(Order)
                .where(Order.platform == platform)
                .order_by(Order.platform_order_id)
                .options(
                    selectinload(Order.line_items),
                    selectinload(Order.fulfillments).selectinload(Fulfillment.items),
                )
            )
        ).all()
        shots = []
        for order in orders:
            titles = {item.id: item.title for item in order.line_items}
            shots.append(
                {
                    "email": order.email,
                    "phone": order.phone,
                    "name": (order.customer_first_name, order.customer_last_name),
                    "address": order.shipping_address,
                    "totals": [
                        f"{v:.2f}"
                        for v in (
                            order.subtotal,
                            order.shipping_total,
                            order.discount_total,
                            order.tax_total,
                            order.total,
                        )
                    ]
                    + [order.taxes_included, order.currency],
                    "items": [
                        (i.title, i.variant, i.sku, i.quantity, f"{i.unit_price:.2f}")
                        for i in order.line_items
                    ],
                    "fulfillment_status": order.fulfillment_status,
                    "delivery_status": order.delivery_status,
                    "cancelled": order.cancelled_at is not None,
                    "shipments": sorted(
                        (
                            f.carrier_code,
                            f.tracking_number,
                            f.status,
                            f.cancelled_at is not None,
                            tuple(sorted((titles[i.line_item_id], i.quantity) for i in f.items)),
                        )
                        for f in order.fulfillments
                    ),
                }
            )
        return shots


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_orders_life_on_each_platform_reaches_its_page(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    for delivery in life(platform, instance[0]):
        response = await post(connected.http, platform, delivery)
        assert response.status_code == 200, response.text
        # Saleor's ORDER_FULFILLED repeats FULFILLMENT_CREATED's order: nothing new.
        assert response.json()["result"] in ("applied", "unchanged"), response.json()
    [shot] = await snapshot(database, platform)
    expected = EXPECTED[platform]
    for key, value in expected.items():
        assert shot[key] == value, (key, shot[key])
    async with database.read() as session:
        kinds = sorted(
            (n.kind, n.channel)
            for n in await session.scalars(select(Notification).order_by(Notification.id))
        )
    # The customer's contacts decide the channel, as for any order.
    assert ("order_confirmation", "email") in kinds, kinds
    assert any(kind.startswith("shipping") or "fulfil" in kind for kind, _ in kinds), kinds


EXPECTED: dict[str, dict[str, Any]] = {
    "woocommerce": {
        "email": "ola@example.com",
        "phone": "+4791300000",
        "totals": ["700.00", "99.00", "50.00", "162.25", "911.25", False, "NOK"],
        "items": [
            ("Woo Single #1", None, "WOO-1", 2, "200.00"),
            ("Ship Your Idea - Color: Black", None, None, 1, "300.00"),
        ],
        "fulfillment_status": "fulfilled",
        "cancelled": False,
        "shipments": [
            (
                "postnord_norway",
                "00370712345678901234",
                "in_transit",
                False,
                (("Ship Your Idea - Color: Black", 1), ("Woo Single #1", 2)),
            )
        ],
    },
    "shopify": {
        "email": "jon@example.com",
        "name": ("Jon", "Snow"),
        "totals": ["198.00", "10.00", "10.00", "15.04", "213.04", False, "USD"],
        "items": [("IPod Nano - 8GB", "Pink", "IPOD2008PINK", 1, "199.00")],
        "fulfillment_status": "fulfilled",
        "delivery_status": "delivered",
        "shipments": [("ups", "1Z2345", "delivered", False, (("IPod Nano - 8GB", 1),))],
    },
    "saleor": {
        "email": "anna.hansen@example.com",
        "phone": "+4791234567",
        "totals": ["400.00", "62.50", "0.00", "92.50", "462.50", True, "NOK"],
        "items": [
            ("Apple Juice", "1l", "JUICE-1L", 3, "50.00"),
            ("Monospace Tee", "M", "TEE-M", 1, "250.00"),
        ],
        "fulfillment_status": "fulfilled",
        "shipments": [
            (
                None,
                "70730259304981041",
                "in_transit",
                False,
                (("Apple Juice", 3), ("Monospace Tee", 1)),
            )
        ],
    },
}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_shuffled_and_repeated_deliveries_end_in_the_same_state(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    """A property of the connectors, as of the carriers' events: any order and any
    repeats of the same deliveries give the state the deliveries in order give."""
    for delivery in life(platform, instance[0]):
        assert (await post(connected.http, platform, delivery)).status_code == 200
    [in_order] = await snapshot(database, platform)
    rng = random.Random(18)
    for variant in range(1, 7):
        deliveries = life(platform, instance[0], variant)
        shuffled = deliveries + rng.choices(deliveries, k=rng.randint(1, 4))
        rng.shuffle(shuffled)
        for delivery in shuffled:
            response = await post(connected.http, platform, delivery)
            assert response.status_code == 200, response.text
        shots = await snapshot(database, platform)
        assert len(shots) == variant + 1
        for shot in shots:
            assert shot == in_order, (variant, [d.headers for d in shuffled])


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_bad_signature_is_refused_and_changes_nothing(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    first = life(platform, instance[0])[0]
    before = await row_counts(database)
    tampered = Delivery(first.body.replace(b"example.com", b"example.org"), first.headers)
    unsigned = Delivery(
        first.body,
        {
            k: v
            for k, v in first.headers.items()
            if "signature" not in k.lower() and "hmac" not in k.lower()
        },
    )
    for delivery in (tampered, unsigned):
        response = await post(connected.http, platform, delivery)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "bad_signature"
    # A shop without the connection answers the same.
    response = await connected.http.post(
        f"/connect/{platform}/nosuchshop", content=first.body, headers=first.headers
    )
    assert response.status_code == 401
    assert await row_counts(database) == before


async def test_a_saleor_signature_by_another_key_is_refused(
    connected: ShopClient, database: Database, instance: tuple[samples.SaleorInstance, str]
) -> None:
    stranger = samples.SaleorInstance(kid=instance[0].kid)
    first = samples.saleor_life(stranger)[0]
    response = await post(connected.http, "saleor", first)
    assert response.status_code == 401


async def test_a_saleor_instance_that_rotates_its_key_is_heard(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = samples.saleor_life(instance[0])[0]
    assert (await post(connected.http, "saleor", first)).status_code == 200  # keys kept
    keys.current = samples.SaleorInstance(kid="instance-key-2")
    rotated = samples.saleor_life(keys.current)[1]
    # A key not kept is looked up again, but not more than once in a while.
    assert (await post(connected.http, "saleor", rotated)).status_code == 401
    monkeypatch.setattr(jwks, "REFETCH_SECONDS", 0.0)
    assert (await post(connected.http, "saleor", rotated)).status_code == 200


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_malformed_delivery_is_refused_and_listed(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    first = life(platform, instance[0])[0]
    data = json.loads(first.body)
    if platform == "saleor":
        data["order"]["lines"] = "none"
        broken = samples.saleor("order_created", data, instance[0])
    elif platform == "shopify":
        data["line_items"][0]["quantity"] = "many"
        broken = samples.shopify("orders/create", data, "broken-1")
    else:
        data["line_items"] = []
        broken = samples.woocommerce("order.created", data, "broken-1")
    response = await post(connected.http, platform, broken)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed"
    not_json = Delivery(b"{", broken.headers)
    if platform == "saleor":
        not_json = Delivery(b"{", {**broken.headers, "Saleor-Signature": instance[0].sign(b"{")})
    else:
        name = "X-WC-Webhook-Signature" if platform == "woocommerce" else "X-Shopify-Hmac-Sha256"
        not_json = Delivery(b"{", {**broken.headers, name: samples._hmac64(b"{", samples.SECRET)})
    assert (await post(connected.http, platform, not_json)).status_code == 400
    async with database.read() as session:
        results = (await session.scalars(select(ConnectionDelivery.result))).all()
        assert results == ["malformed", "malformed"]
        assert not (await session.scalars(select(Order))).all()


async def test_woocommerce_ping_answers_when_the_webhook_is_saved(connected: ShopClient) -> None:
    response = await connected.http.post(
        "/connect/woocommerce/acme",
        content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


async def test_an_update_for_an_order_never_seen_creates_it(
    connected: ShopClient, database: Database
) -> None:
    deliveries = samples.woocommerce_life(900)
    response = await post(connected.http, "woocommerce", deliveries[2])
    assert response.status_code == 200
    [shot] = await snapshot(database, "woocommerce")
    assert shot["fulfillment_status"] == "fulfilled"
    # The older versions that come later change nothing.
    for delivery in deliveries[:2]:
        assert (await post(connected.http, "woocommerce", delivery)).json()["result"] == "unchanged"
    assert await snapshot(database, "woocommerce") == [shot]


@pytest.mark.parametrize(
    "order",
    [
        ["created", "cancelled", "deleted"],
        ["deleted", "cancelled", "created"],
        ["cancelled", "created"],
    ],
)
async def test_a_cancelled_or_deleted_woocommerce_order_stays_cancelled(
    connected: ShopClient, database: Database, order: list[str]
) -> None:
    placed = samples.fixture("woocommerce_order")
    cancelled = {**placed, "status": "cancelled", "date_modified_gmt": "2026-12-01T10:00:00"}
    bodies = {
        "created": samples.woocommerce("order.created", placed, "c1"),
        "cancelled": samples.woocommerce("order.updated", cancelled, "c2"),
        "deleted": samples.woocommerce("order.deleted", {"id": placed["id"]}, "c3"),
    }
    for name in order:
        response = await post(connected.http, "woocommerce", bodies[name])
        assert response.status_code == 200, response.text
    [shot] = await snapshot(database, "woocommerce")
    assert shot["cancelled"] is True
    async with database.read() as session:
        token = await session.scalar(select(Order.status_token))
    page = await connected.http.get(f"/orders/{token}")
    assert page.status_code == 200
    assert "Order cancelled" in page.text


async def test_completed_without_tracking_is_fulfilled_without_tracking(
    connected: ShopClient, database: Database
) -> None:
    placed = samples.fixture("woocommerce_order")
    completed = {**placed, "status": "completed", "date_modified_gmt": "2026-12-01T10:00:00"}
    response = await post(
        connected.http, "woocommerce", samples.woocommerce("order.updated", completed, "d1")
    )
    assert response.status_code == 200
    [shot] = await snapshot(database, "woocommerce")
    assert shot["fulfillment_status"] == "fulfilled"
    assert [s[:2] for s in shot["shipments"]] == [(None, None)]
    # Tracking added later (Shipment Tracking) lands on that shipment.
    tracked = {
        **completed,
        "date_modified_gmt": "2026-12-01T11:00:00",
        "meta_data": [{"id": 1, "key": "_wc_shipment_tracking_items", "value": samples.TRACKING}],
    }
    await post(connected.http, "woocommerce", samples.woocommerce("order.updated", tracked, "d2"))
    [shot] = await snapshot(database, "woocommerce")
    assert [s[1] for s in shot["shipments"]] == ["00370712345678901234"]


JUNK: list[Any] = [
    None,
    "",
    -1,
    0,
    10**30,
    "1e400",
    "NaN",
    "x" * 300,
    [],
    {},
    [{}],
    True,
    "2026-13-45T99:99:99",
    "\u00e6\u00f8\u00e5",
]


def _mutate(data: Any, rng: random.Random) -> Any:
    """The payload with one value somewhere replaced by junk."""
    if isinstance(data, dict) and data:
        key = rng.choice(list(data))
        copy_ = dict(data)
        copy_[key] = rng.choice(JUNK) if rng.random() < 0.4 else _mutate(data[key], rng)
        return copy_
    if isinstance(data, list) and data:
        index = rng.randrange(len(data))
        copy_l = list(data)
        copy_l[index] = _mutate(data[index], rng)
        return copy_l
    return rng.choice(JUNK)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_any_signed_payload_gets_a_clear_answer_never_a_5xx(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    rng = random.Random(f"junk-{platform}")
    deliveries = life(platform, instance[0])
    for attempt in range(60):
        original = rng.choice(deliveries)
        data = _mutate(json.loads(original.body), rng)
        if platform == "woocommerce":
            topic = original.headers["X-WC-Webhook-Topic"]
            delivery = samples.woocommerce(topic, data, f"junk-{attempt}")
        elif platform == "shopify":
            delivery = samples.shopify(original.headers["X-Shopify-Topic"], data, f"junk-{attempt}")
        else:
            delivery = samples.saleor(original.headers["Saleor-Event"], data, instance[0])
        response = await post(connected.http, platform, delivery)
        assert response.status_code < 500, (data, response.text)
        if response.status_code != 200:
            assert response.json()["error"]["code"] in ("malformed", "invalid", "conflict")


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_the_same_delivery_at_once_is_applied_once(
    connected: ShopClient,
    database: Database,
    instance: tuple[samples.SaleorInstance, str],
    platform: str,
) -> None:
    first = life(platform, instance[0])[0]
    answers = await asyncio.gather(*(post(connected.http, platform, first) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    results = sorted(a.json()["result"] for a in answers)
    assert results == ["applied"] + ["duplicate"] * 5
    assert len(await snapshot(database, platform)) == 1


async def test_a_saleor_instance_on_a_private_address_is_not_called(
    instance: tuple[samples.SaleorInstance, str],
) -> None:
    """Its keys are fetched as every call to an address a merchant chose: public
    addresses only unless the operator allows private ones."""
    _key, url = instance
    assert await jwks.JwksCache().get(url) is None
    allowed = jwks.JwksCache(functools.partial(jwks.fetch, allow_private=True))
    found = await allowed.get(url)
    assert found is not None and found["keys"]

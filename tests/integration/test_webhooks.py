"""Carrier webhooks end to end: signatures, parsing, matching, every status, replays."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import secrets
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from orderstatus.carriers.sources import custom as custom_source
from orderstatus.carriers.sources import registry
from orderstatus.db.engine import Database
from orderstatus.db.models import Notification
from orderstatus.domain.statuses import EventStatus, StatusPoint, derive_status
from orderstatus.services.webhooks import set_webhook_secret
from tests.carriers import samples
from tests.conftest import ShopClient, run_sync
from tests.integration.helpers import create_order, fulfil, row_counts

SECRET = "whsec_" + "x" * 32
SOURCES = list(samples.BUILDERS)


def signed(source: str, body: bytes, secret: str = SECRET) -> dict[str, Any]:
    """Headers and query a provider would send with this body."""
    if source == "easypost":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"headers": {"X-Hmac-Signature": f"hmac-sha256-hex={digest}"}, "params": {}}
    if source == "aftership":
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        return {"headers": {"aftership-hmac-sha256": digest.decode()}, "params": {}}
    if source == "shippo":
        return {"headers": {}, "params": {"token": secret}}
    return {"headers": {"X-Orderstatus-Signature": custom_source.sign(body, secret)}, "params": {}}


async def post(http: httpx.AsyncClient, source: str, body: bytes, **sign: Any) -> httpx.Response:
    how = sign or signed(source, body)
    return await http.post(
        f"/webhooks/{source}/acme",
        content=body,
        headers={"Content-Type": "application/json", **how["headers"]},
        params=how["params"],
    )


async def secrets_for_all(database: Database, shop_id: int) -> None:
    async with database.write() as session:
        for source in SOURCES:
            await set_webhook_secret(session, shop_id=shop_id, source=source, secret=SECRET)


async def shipment(api: ShopClient, number: str) -> dict[str, Any]:
    order = await create_order(api.http)
    return await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number=number)


async def status(api: ShopClient, order_id: int) -> dict[str, Any]:
    body: dict[str, Any] = (await api.http.get(f"/api/v1/orders/{order_id}/status")).json()
    return body["fulfillments"][0]


@pytest.mark.parametrize("source", SOURCES)
async def test_each_source_drives_a_shipment_through_every_status_it_knows(
    api: ShopClient, database: Database, source: str
) -> None:
    await secrets_for_all(database, api.shop_id)
    journeys = [
        samples.JOURNEY_HOME,
        samples.JOURNEY_LOST,
        samples.JOURNEY_BACK,
        samples.JOURNEY_COLLECTED,
        samples.JOURNEY_QUIET,
    ]
    seen: set[str] = set()
    for index, journey in enumerate(journeys):
        steps = [s for s in journey if s[0] in samples.EXPRESSIBLE[source]]
        number = f"1Z{source.upper()[:3]}{index:03d}X"
        fulfillment = await shipment(api, number)
        for upto in range(1, len(steps) + 1):
            body = samples.BUILDERS[source](number, steps[:upto])
            response = await post(api.http, source, body)
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == 1, response.json()
            current = await status(api, fulfillment["order_id"])
            assert current["status"] == steps[upto - 1][0], (source, steps[upto - 1])
            seen.add(current["status"])
        events = (await status(api, fulfillment["order_id"]))["events"]
        assert len(events) == len(steps)
    expected = samples.EXPRESSIBLE[source] & {s.value for s in EventStatus}
    assert seen == expected - {"label_printed", "confirmed"}


async def test_places_and_the_estimate_reach_the_page(api: ShopClient, database: Database) -> None:
    await secrets_for_all(database, api.shop_id)
    fulfillment = await shipment(api, "1ZMAP0001")
    await post(api.http, "easypost", samples.easypost("1ZMAP0001", samples.JOURNEY_HOME[:5]))
    current = await status(api, fulfillment["order_id"])
    bergen = current["events"][0]["location"]
    assert bergen["city"] == "BERGEN" and round(bergen["latitude"], 1) == 60.4
    assert current["estimated_delivery"] == samples.iso(72)


@pytest.mark.parametrize("source", SOURCES)
async def test_a_tampered_or_missing_signature_is_refused(
    api: ShopClient, database: Database, source: str
) -> None:
    await secrets_for_all(database, api.shop_id)
    await shipment(api, "1ZTAMPER01")
    body = samples.BUILDERS[source]("1ZTAMPER01", samples.JOURNEY_HOME[:3])
    before = await row_counts(database)
    wrong = signed(source, body, secret="not-the-secret-" + "y" * 20)
    assert (await post(api.http, source, body, **wrong)).status_code == 401
    if source != "shippo":  # Shippo's URL token authenticates the sender, not the body
        tampered = body.replace(b"Oslo", b"Oslp").replace(b"OSLO", b"OSLP")
        assert (await post(api.http, source, tampered, **signed(source, body))).status_code == 401
    response = await post(api.http, source, body, headers={}, params={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert await row_counts(database) == before


async def test_an_old_custom_signature_cannot_be_replayed(
    api: ShopClient, database: Database
) -> None:
    await secrets_for_all(database, api.shop_id)
    body = samples.custom("1ZOLD0001", samples.JOURNEY_HOME[:2])
    stale = custom_source.sign(body, SECRET, timestamp=1_600_000_000)
    response = await post(
        api.http, "custom", body, headers={"X-Orderstatus-Signature": stale}, params={}
    )
    assert response.status_code == 401
    assert "five minutes" in response.json()["error"]["message"]


async def test_a_custom_signature_time_in_other_digits_is_401(
    api: ShopClient, database: Database
) -> None:
    await secrets_for_all(database, api.shop_id)
    body = samples.custom("1ZODD0001", samples.JOURNEY_HOME[:1])
    before = await row_counts(database)
    response = await api.http.post(
        "/webhooks/custom/acme",
        content=body,
        headers={"X-Orderstatus-Signature": "t=\xb2\xb3,v1=00".encode("latin-1")},
    )
    assert response.status_code == 401, response.text
    assert await row_counts(database) == before


async def test_no_secret_unknown_shop_or_source(api: ShopClient) -> None:
    body = samples.easypost("1Z1", samples.JOURNEY_HOME[:1])
    assert (await post(api.http, "easypost", body)).status_code == 401
    response = await api.http.post("/webhooks/easypost/no-such-shop", content=body)
    assert response.status_code == 401
    assert (await api.http.post("/webhooks/pigeon/acme", content=body)).status_code == 404
    wrong_method = await api.http.get("/webhooks/easypost/acme")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("source", SOURCES)
async def test_an_unknown_shop_is_answered_like_a_bad_signature(
    api: ShopClient, database: Database, source: str
) -> None:
    """The answer does not tell which shop handles exist, nor which have a secret."""
    body = samples.BUILDERS[source]("1ZORACLE01", samples.JOURNEY_HOME[:2])
    guess = signed(source, body, secret="a-guessed-secret-" + "z" * 20)

    async def answer(handle: str) -> tuple[int, Any]:
        response = await api.http.post(
            f"/webhooks/{source}/{handle}",
            content=body,
            headers={"Content-Type": "application/json", **guess["headers"]},
            params=guess["params"],
        )
        return response.status_code, response.json()

    no_secret = await answer("acme")
    unknown = await answer("no-such-shop")
    await secrets_for_all(database, api.shop_id)
    bad_signature = await answer("acme")
    assert bad_signature[0] == 401
    assert unknown == bad_signature
    assert no_secret == bad_signature


@pytest.mark.parametrize(
    ("source", "body", "says"),
    [
        ("easypost", b"{not json", "not JSON"),
        ("easypost", b'{"object": "Event", "description": "tracker.updated"}', "result"),
        ("aftership", b'{"msg": {"tracking_number": "1Z", "checkpoints": "nope"}}', "checkpoints"),
        (
            "custom",
            b'{"tracking_number": "1Z9", "events": [{"status": "teleported",'
            b' "occurred_at": "2026-11-20T10:00:00Z"}]}',
            "status",
        ),
    ],
)
async def test_a_malformed_body_is_400_with_the_reason(
    api: ShopClient, database: Database, source: str, body: bytes, says: str
) -> None:
    await secrets_for_all(database, api.shop_id)
    response = await post(api.http, source, body)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]


async def test_an_oversized_body_is_413(api: ShopClient, database: Database) -> None:
    await secrets_for_all(database, api.shop_id)
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert (await post(api.http, "easypost", body)).status_code == 413


async def test_an_unknown_tracking_number_is_acknowledged(
    api: ShopClient, database: Database
) -> None:
    await secrets_for_all(database, api.shop_id)
    before = await row_counts(database)
    response = await post(
        api.http, "aftership", samples.aftership("NOSUCH123", samples.JOURNEY_HOME)
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 0, "unmatched": ["NOSUCH123"]}
    assert await row_counts(database) == before


async def test_another_shops_shipment_is_never_touched(
    api: ShopClient, other_api: ShopClient, database: Database
) -> None:
    await secrets_for_all(database, api.shop_id)
    order = await create_order(other_api.http)
    await fulfil(other_api.http, order, [(0, 1)], tracking_number="1ZOTHER01")
    response = await post(api.http, "custom", samples.custom("1ZOTHER01", samples.JOURNEY_HOME))
    assert response.json()["unmatched"] == ["1ZOTHER01"]


async def test_a_replayed_delivery_changes_nothing(api: ShopClient, database: Database) -> None:
    await secrets_for_all(database, api.shop_id)
    fulfillment = await shipment(api, "1ZREPLAY1")
    body = samples.shippo("1ZREPLAY1", samples.JOURNEY_HOME[:4])
    assert (await post(api.http, "shippo", body)).json()["accepted"] == 4
    before = await row_counts(database)
    again = await post(api.http, "shippo", body)
    assert again.json() == {"accepted": 0, "duplicates": 4, "unmatched": []}
    assert await row_counts(database) == before
    assert (await status(api, fulfillment["order_id"]))["status"] == "delayed"


@pytest.mark.parametrize("source", SOURCES)
def test_shuffled_and_repeated_deliveries_end_in_the_same_state(
    database_url: str, source: str
) -> None:
    """Property: whatever order the provider's webhooks arrive in, and however often,
    the shipment ends where the carrier's own history says."""
    module = registry()[source]
    steps = [s for s in samples.JOURNEY_HOME if s[0] in samples.EXPRESSIBLE[source]]
    bodies = [samples.BUILDERS[source]("1ZPROP", steps[:n]) for n in range(1, len(steps) + 1)]
    updates = [module.parse(b) for b in bodies]
    expected = derive_status(StatusPoint(EventStatus(s), samples.at(h)) for s, h, _c, _k in steps)

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(st.integers(min_value=0, max_value=len(bodies) - 1), min_size=1, max_size=12),
        st.randoms(use_true_random=False),
    )
    def check(picks: list[int], rnd: random.Random) -> None:
        deliveries = [updates[i] for i in picks] + [updates[-1]]
        rnd.shuffle(deliveries)
        final = run_sync(_deliver(database_url, source, deliveries))
        assert final == expected.value

    check()


async def _deliver(database_url: str, source: str, deliveries: list[Any]) -> str:
    from orderstatus.db.models import Fulfillment
    from orderstatus.domain.inputs import FulfillmentInput, OrderInput
    from orderstatus.services import accounts, fulfillments, orders, webhooks
    from tests.factories import order_payload

    database = Database(database_url)
    try:
        async with database.write() as session:
            shop = await accounts.create_shop(
                session=session, handle=f"p{secrets.token_hex(6)}", name="P", currency="NOK"
            )
            order = await orders.create_order(
                session=session,
                shop=shop,
                data=OrderInput.model_validate(order_payload()),
                actor="test",
            )
            fulfillment = await fulfillments.create_fulfillment(
                session=session,
                shop_id=shop.id,
                order_id=order.id,
                data=FulfillmentInput(tracking_number="1ZPROP", carrier="ups"),
                actor="test",
            )
        for updates in deliveries:
            async with database.write() as session:
                await webhooks.ingest(
                    session=session, shop_id=shop.id, source=source, updates=updates
                )
        async with database.read() as session:
            stored = await session.get_one(Fulfillment, fulfillment.id)
            return stored.status
    finally:
        await database.dispose()


def test_payload_samples_are_json() -> None:
    for source, build in samples.BUILDERS.items():
        assert json.loads(build("1Z", samples.JOURNEY_HOME))
        assert source in registry()


async def test_webhooks_arriving_together_each_get_their_own_answer(
    api: ShopClient, database: Database
) -> None:
    """Webhooks that arrive at once are written together; each sender still hears what
    became of its own, and the same delivery sent twice at once counts once."""
    await secrets_for_all(database, api.shop_id)
    numbers = [f"1ZTOGETHER{n}" for n in range(6)]
    shipments = [await shipment(api, number) for number in numbers]
    bodies = [samples.easypost(number, samples.JOURNEY_HOME[:3]) for number in numbers]
    unknown = samples.easypost("1ZNOBODY99", samples.JOURNEY_HOME[:2])
    answers = await asyncio.gather(
        *(post(api.http, "easypost", body) for body in bodies + bodies + [unknown])
    )
    assert all(a.status_code == 200 for a in answers)
    replies = [a.json() for a in answers]
    for n in range(len(numbers)):
        pair = (replies[n], replies[n + len(numbers)])
        assert sum(r["accepted"] for r in pair) == 3
        assert sum(r["duplicates"] for r in pair) == 3
        assert all(r["unmatched"] == [] for r in pair)
    assert replies[-1] == {"accepted": 0, "duplicates": 0, "unmatched": ["1ZNOBODY99"]}
    for fulfillment in shipments:
        current = await status(api, fulfillment["order_id"])
        assert current["status"] == "in_transit" and len(current["events"]) == 3


async def test_a_bad_new_event_refuses_its_whole_delivery_and_only_that(
    api: ShopClient, database: Database
) -> None:
    """Events are validated when they are new: one bad event refuses its webhook (nothing
    of it is kept), while a webhook written in the same transaction is recorded."""
    await secrets_for_all(database, api.shop_id)
    bad_one, good_one = await shipment(api, "1ZBAD00001"), await shipment(api, "1ZGOOD0001")
    bad = json.loads(samples.custom("1ZBAD00001", samples.JOURNEY_HOME[:3]))
    bad["events"][2]["location"] = {"city": "Oslo", "latitude": 59.9}  # no longitude
    good = samples.custom("1ZGOOD0001", samples.JOURNEY_HOME[:3])
    refused, recorded = await asyncio.gather(
        post(api.http, "custom", json.dumps(bad).encode()), post(api.http, "custom", good)
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "malformed"
    assert "latitude and longitude" in refused.json()["error"]["message"]
    assert recorded.json() == {"accepted": 3, "duplicates": 0, "unmatched": []}
    assert (await status(api, bad_one["order_id"]))["events"] == []
    assert len((await status(api, good_one["order_id"]))["events"]) == 3


async def test_a_new_estimate_alone_moves_the_page(api: ShopClient, database: Database) -> None:
    await secrets_for_all(database, api.shop_id)
    fulfillment = await shipment(api, "1ZLATER001")
    body = samples.easypost("1ZLATER001", samples.JOURNEY_HOME[:3])
    await post(api.http, "easypost", body)
    order = (await api.http.get(f"/api/v1/orders/{fulfillment['order_id']}")).json()
    later = json.loads(body)
    later["result"]["est_delivery_date"] = samples.iso(96)
    again = await post(api.http, "easypost", json.dumps(later).encode())
    assert again.json() == {"accepted": 0, "duplicates": 3, "unmatched": []}
    assert (await status(api, fulfillment["order_id"]))["estimated_delivery"] == samples.iso(96)
    page = await api.http.get(order["status_page_url"])
    assert "Leveringsdatoen er endret" in page.text  # the order is in Norwegian


async def test_a_secret_changed_elsewhere_works_at_once(
    api: ShopClient, database: Database
) -> None:
    """Secrets are kept for a few seconds per process; a webhook signed with a secret set
    meanwhile (by another process) is still accepted at once."""
    await secrets_for_all(database, api.shop_id)
    await shipment(api, "1ZROTATE01")
    body = samples.easypost("1ZROTATE01", samples.JOURNEY_HOME[:2])
    assert (await post(api.http, "easypost", body)).status_code == 200
    new = "whsec_" + "n" * 32
    async with database.write() as session:
        await set_webhook_secret(session, shop_id=api.shop_id, source="easypost", secret=new)
    later = samples.easypost("1ZROTATE01", samples.JOURNEY_HOME[:3])
    response = await post(api.http, "easypost", later, **signed("easypost", later, secret=new))
    assert response.status_code == 200 and response.json()["accepted"] == 1
    wrong = signed("easypost", later, secret="whsec_" + "w" * 32)
    assert (await post(api.http, "easypost", later, **wrong)).status_code == 401


async def test_an_aftership_coordinate_and_estimate_reach_the_page(
    api: ShopClient, database: Database
) -> None:
    await secrets_for_all(database, api.shop_id)
    fulfillment = await shipment(api, "1ZCOORD001")
    body = json.loads(samples.aftership("1ZCOORD001", samples.JOURNEY_HOME[:3]))
    tracking = body["msg"]
    del tracking["expected_delivery"]
    tracking["latest_estimated_delivery"] = {
        "type": "specific",
        "source": "Carrier EDD",
        "datetime": "2026-11-20",
        "datetime_min": None,
        "datetime_max": None,
    }
    last = tracking["checkpoints"][-1]
    last |= {"city": "Springfield", "country_iso3": "USA"}
    last["coordinate"] = {"latitude": 39.7817, "longitude": -89.6501}
    response = await post(api.http, "aftership", json.dumps(body).encode())
    assert response.status_code == 200, response.text
    current = await status(api, fulfillment["order_id"])
    where = current["events"][0]["location"]
    assert (where["city"], where["latitude"], where["longitude"]) == (
        "Springfield",
        39.7817,
        -89.6501,
    )
    assert current["estimated_delivery"].startswith("2026-11-20")
    order = (await api.http.get(f"/api/v1/orders/{fulfillment['order_id']}")).json()
    page = await api.http.get(order["status_page_url"])
    assert "20. nov" in page.text  # the order is in Norwegian; the day is kept


async def _kinds(database: Database, order_id: int) -> list[str]:
    async with database.read() as session:
        found = await session.scalars(
            select(Notification.kind).where(Notification.order_id == order_id)
        )
        return sorted(found)


@pytest.mark.parametrize("source", ["aftership", "easypost", "shippo"])
async def test_a_carrier_gone_quiet_is_no_recent_updates_without_alarm(
    api: ShopClient, database: Database, source: str
) -> None:
    await secrets_for_all(database, api.shop_id)
    english = await create_order(api.http, locale="en")
    norwegian = await create_order(api.http, locale="nb")
    for order, number in ((english, "1ZQUIET001"), (norwegian, "1ZQUIET002")):
        await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number=number)
    before = await _kinds(database, english["id"])
    for number in ("1ZQUIET001", "1ZQUIET002"):
        body = samples.BUILDERS[source](number, samples.JOURNEY_QUIET)
        assert (await post(api.http, source, body)).status_code == 200

    assert (await status(api, english["id"]))["status"] == "no_recent_updates"
    assert await _kinds(database, english["id"]) == before  # nothing sent to the customer
    listed = await api.http.get("/api/v1/orders", params={"status": "no_recent_updates"})
    assert {o["id"] for o in listed.json()["orders"]} == {english["id"], norwegian["id"]}

    page = (await api.http.get(english["status_page_url"])).text
    assert "No recent updates" in page
    assert "The carrier has not reported anything new for a while." in page
    assert "alert-no_recent_updates" in page
    assert "Problem with delivery" not in page and "Something went wrong" not in page
    side = (await api.http.get(norwegian["status_page_url"])).text
    assert "Ingen nye oppdateringer" in side
    assert "Transportøren har ikke meldt noe nytt på en stund." in side

"""Every status value a provider documents becomes one of ours, value by value.

The tables live in one data file (``carriers/mappings.json``) and in the README; these
tests run each value through the provider's real parser, check that the tables hold the
provider's documented vocabulary (no more, no less), and that the README shows them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from orderstatus.carriers.sources import registry
from orderstatus.domain.statuses import EventStatus

TABLES: dict[str, Any] = json.loads(
    (resources.files("orderstatus.carriers") / "mappings.json").read_text("utf-8")
)
README = (Path(__file__).parents[2] / "README.md").read_text("utf-8")

# The providers' documented vocabularies: EasyPost's API reference and client libraries,
# Shippo's tracking event definitions (status per substatus), AfterShip's Tag enum (its
# official SDK) and subtags.
DOCUMENTED: dict[str, dict[str, set[str]]] = {
    "easypost": {
        "status": {
            "unknown",
            "pre_transit",
            "in_transit",
            "out_for_delivery",
            "delivered",
            "available_for_pickup",
            "return_to_sender",
            "failure",
            "cancelled",
            "error",
        },
        "detail": {
            "address_correction",
            "arrived_at_destination",
            "arrived_at_facility",
            "arrived_at_pickup_location",
            "awaiting_information",
            "cancelled",
            "damaged",
            "delayed",
            "delivery_exception",
            "departed_facility",
            "departed_origin_facility",
            "expired",
            "failure",
            "held",
            "in_transit",
            "label_created",
            "lost",
            "missorted",
            "out_for_delivery",
            "received_at_destination_facility",
            "received_at_origin_facility",
            "refused",
            "return",
            "status_update",
            "transferred_to_destination_carrier",
            "transit_exception",
            "unknown",
            "weather_delay",
        },
    },
    "shippo": {
        "status": {"UNKNOWN", "PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE"},
        "detail": {
            "information_received",
            "address_issue",
            "contact_carrier",
            "delayed",
            "delivery_attempted",
            "delivery_rescheduled",
            "delivery_scheduled",
            "location_inaccessible",
            "notice_left",
            "out_for_delivery",
            "package_accepted",
            "package_arrived",
            "package_damaged",
            "package_departed",
            "package_forwarded",
            "package_held",
            "package_processed",
            "package_processing",
            "pickup_available",
            "reschedule_delivery",
            "delivered",
            "return_to_sender",
            "package_unclaimed",
            "package_undeliverable",
            "package_disposed",
            "package_lost",
            "other",
        },
    },
    "aftership": {
        "status": {
            "Pending",
            "InfoReceived",
            "InTransit",
            "OutForDelivery",
            "AttemptFail",
            "Delivered",
            "AvailableForPickup",
            "Exception",
            "Expired",
        },
        "detail": {
            *(f"Delivered_{n:03d}" for n in range(1, 6)),
            *(f"AttemptFail_{n:03d}" for n in range(1, 4)),
            *(f"InTransit_{n:03d}" for n in range(1, 10)),
            *(f"OutForDelivery_{n:03d}" for n in (1, 3, 4)),
            *(f"Exception_{n:03d}" for n in [*range(1, 14), *range(16, 22)]),
            "AvailableForPickup_001",
            "InfoReceived_001",
            "Pending_001",
            "Expired_001",
        },
    },
}

# Shippo documents each substatus under one status; a webhook carries both.
SHIPPO_STATUS_OF = {
    "information_received": "PRE_TRANSIT",
    "delivered": "DELIVERED",
    "return_to_sender": "RETURNED",
    "package_unclaimed": "RETURNED",
    "package_undeliverable": "FAILURE",
    "package_disposed": "FAILURE",
    "package_lost": "FAILURE",
    "other": "UNKNOWN",
}


def body(provider: str, status: str, detail: str | None, message: str = "Scanned") -> bytes:
    """A one-event webhook of ``provider`` the way it sends it."""
    when = "2026-11-16T07:30:00Z"
    if provider == "easypost":
        item = {
            "object": "TrackingDetail",
            "message": message,
            "description": "",
            "status": status,
            "status_detail": detail,
            "datetime": when,
            "source": "USPS",
            "tracking_location": {"city": "OSLO", "country": "NO", "state": None, "zip": None},
        }
        tracker = {
            "id": "trk_1",
            "object": "Tracker",
            "tracking_code": "9400100000000000000000",
            "status": status,
            "status_detail": detail,
            "carrier": "USPS",
            "tracking_details": [item],
        }
        event = {"id": "evt_1", "object": "Event", "description": "tracker.updated"}
        return json.dumps({**event, "result": tracker}).encode()
    if provider == "shippo":
        track = {
            "object_id": "st_1",
            "status": status,
            "status_details": message,
            "status_date": when,
            "substatus": {"code": detail, "text": detail, "action_required": False}
            if detail
            else None,
            "location": {"city": "Oslo", "state": None, "zip": None, "country": "NO"},
        }
        data = {"carrier": "usps", "tracking_number": "9400100000000000000000"}
        data |= {"tracking_status": track, "tracking_history": []}
        return json.dumps({"event": "track_updated", "test": True, "data": data}).encode()
    checkpoint = {
        "checkpoint_time": "2026-11-16T08:30:00+01:00",
        "message": message,
        "city": "Oslo",
        "country_region": "NOR",
        "tag": status,
        "subtag": detail,
    }
    tracking = {"id": "as_1", "tracking_number": "1Z999", "slug": "ups", "tag": status}
    tracking["checkpoints"] = [checkpoint]
    return json.dumps({"event": "tracking_update", "msg": tracking}).encode()


def parsed(raw: bytes, provider: str) -> list[EventStatus]:
    [update] = registry()[provider].parse(raw)
    return [e.validated().status for e in update.events]


def _companion(provider: str, detail: str) -> str:
    """The status that documented payloads send beside a detail value."""
    if provider == "easypost":
        return "in_transit"
    if provider == "shippo":
        return SHIPPO_STATUS_OF.get(detail, "TRANSIT")
    return detail.split("_")[0]


CASES = [
    pytest.param(provider, field, value, ours, id=f"{provider}-{field}-{value}")
    for provider, table in TABLES.items()
    for field in ("status", "detail")
    for value, ours in table[field].items()
]


@pytest.mark.parametrize(("provider", "field", "value", "ours"), CASES)
def test_a_documented_value_becomes_our_status(
    provider: str, field: str, value: str, ours: str | None
) -> None:
    table = TABLES[provider]
    if field == "status":
        assert ours is not None, "every status has a status of ours"
        raw = body(provider, value, None)
        expected = EventStatus(ours)
    else:
        status = _companion(provider, value)
        raw = body(provider, status, value)
        decisive = status in table["decisive_statuses"]
        expected = EventStatus(table["status"][status] if decisive or ours is None else ours)
    assert parsed(raw, provider) == [expected]


@pytest.mark.parametrize("provider", list(TABLES))
def test_each_table_holds_exactly_the_documented_values(provider: str) -> None:
    assert set(TABLES[provider]["status"]) == DOCUMENTED[provider]["status"]
    assert set(TABLES[provider]["detail"]) == DOCUMENTED[provider]["detail"]


def readme_table(provider: str) -> str:
    """The README's table for one provider, from the data file."""
    table = TABLES[provider]
    lines = [
        f"| {table['status_field']} / {table['detail_field']} | becomes |",
        "| --- | --- |",
    ]
    lines += [f"| `{value}` | `{ours}` |" for value, ours in table["status"].items()]
    lines += [
        f"| {table['detail_field']} `{value}` | `{ours}` |"
        for value, ours in table["detail"].items()
        if ours is not None
    ]
    rest = ", ".join(f"`{value}`" for value, ours in table["detail"].items() if ours is None)
    lines.append(f"| {table['detail_field']} {rest} | as its {table['status_field']} |")
    return "\n".join(lines)


@pytest.mark.parametrize("provider", list(TABLES))
def test_the_readme_shows_every_table(provider: str) -> None:
    assert readme_table(provider) in README, readme_table(provider)


# --- what real shipments send ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "message"),
    [
        ("in_transit", "delivery_exception", "Delivery attempted - no access to location"),
        ("failure", "delivery_exception", "Notice Left (No Authorized Recipient Available)"),
        ("out_for_delivery", "delivery_exception", "Customer not available"),
        ("failure", "failure", "Delivery Attempted"),
        ("in_transit", "status_update", "Notice left, we will try again tomorrow"),
    ],
)
def test_an_easypost_missed_delivery_is_a_delivery_attempt(
    status: str, detail: str, message: str
) -> None:
    assert parsed(body("easypost", status, detail, message), "easypost") == [
        EventStatus.ATTEMPTED_DELIVERY
    ]


def test_an_easypost_failure_without_an_attempt_stays_a_failure() -> None:
    raw = body("easypost", "failure", "lost", "Package lost in transit")
    assert parsed(raw, "easypost") == [EventStatus.FAILURE]
    raw = body("easypost", "failure", "failure", "Shipment cancelled by sender")
    assert parsed(raw, "easypost") == [EventStatus.FAILURE]


@pytest.mark.parametrize(
    ("provider", "status", "detail"),
    [
        ("easypost", "error", None),
        ("easypost", "unknown", "unknown"),
        ("easypost", "in_transit", "expired"),
        ("aftership", "Expired", "Expired_001"),
        ("shippo", "UNKNOWN", "other"),
    ],
)
def test_silence_is_not_a_problem_with_the_delivery(
    provider: str, status: str, detail: str | None
) -> None:
    assert parsed(body(provider, status, detail), provider) == [EventStatus.NO_RECENT_UPDATES]


def _aftership_estimate(**fields: Any) -> datetime | None:
    raw = json.loads(body("aftership", "InTransit", "InTransit_001"))
    raw["msg"] |= fields
    [update] = registry()["aftership"].parse(json.dumps(raw).encode())
    return update.estimated_delivery


def test_the_aftership_estimate_is_the_latest_then_the_carriers_then_the_old_field() -> None:
    day = datetime(2026, 11, 20, 12, tzinfo=UTC)
    latest = {"type": "specific", "datetime": "2026-11-20", "datetime_max": None}
    a_range = {"type": "range", "datetime": None, "datetime_min": "2026-11-18"}
    a_range["datetime_max"] = "2026-11-20"
    courier = {"estimated_delivery_date": "2026-11-21"}
    old = "2026-11-22T10:00:00+01:00"
    assert _aftership_estimate(latest_estimated_delivery=latest) == day
    assert _aftership_estimate(latest_estimated_delivery=a_range) == day
    assert _aftership_estimate(
        latest_estimated_delivery=None,
        courier_estimated_delivery_date=courier,
        expected_delivery=old,
    ) == day + timedelta(days=1)
    assert _aftership_estimate(expected_delivery=old) == datetime(2026, 11, 22, 9, tzinfo=UTC)
    assert _aftership_estimate() is None


def test_an_aftership_coordinate_wins_over_the_place_name() -> None:
    raw = json.loads(body("aftership", "InTransit", "InTransit_003"))
    raw["msg"]["checkpoints"][0]["coordinate"] = {"latitude": 60.39, "longitude": 5.32}
    [update] = registry()["aftership"].parse(json.dumps(raw).encode())
    location = update.events[0].validated().location
    assert location is not None
    assert (location.city, location.latitude, location.longitude) == ("Oslo", 60.39, 5.32)
    for nonsense in ({"latitude": 91, "longitude": 5}, {"latitude": "x", "longitude": 5}, []):
        raw["msg"]["checkpoints"][0]["coordinate"] = nonsense
        [update] = registry()["aftership"].parse(json.dumps(raw).encode())
        location = update.events[0].validated().location
        assert location is not None and location.latitude is None

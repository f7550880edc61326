"""How karrio's tracking events become ours (no karrio needed: the poller hands in dicts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderstatus.carriers.connectors import (
    CONNECTOR_OF_CARRIER,
    CONNECTORS,
    KARRIO_STATUSES,
    carrier_time,
    connector_for,
    event_input,
    parse_location,
)
from orderstatus.carriers.registry import get_carrier
from orderstatus.domain.statuses import EventStatus

UPS = CONNECTORS["ups"]
DHL = CONNECTORS["dhl_universal"]


def karrio_event(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "date": "2026-11-20",
        "time": "14:29 PM",
        "timestamp": "2026-11-20T14:29:00.000Z",
        "description": "Arrived at Facility",
        "location": "Chicago, IL, 60638, US",
        "code": "AR",
        "status": "in_transit",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def test_every_connector_serves_carriers_we_know() -> None:
    for code, name in CONNECTOR_OF_CARRIER.items():
        assert get_carrier(code) is not None, code
        assert connector_for(code) is CONNECTORS[name]
    assert connector_for("DHL_Universal") is DHL
    assert connector_for("posten_norge") is None


def test_every_karrio_status_has_a_meaning() -> None:
    assert KARRIO_STATUSES["picked_up"] is EventStatus.CARRIER_PICKED_UP
    assert KARRIO_STATUSES["delivery_failed"] is EventStatus.ATTEMPTED_DELIVERY
    assert KARRIO_STATUSES["unknown"] is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, EventStatus.FAILURE),
        ("carrier_parcel_lost", EventStatus.FAILURE),
        ("customs_delay", EventStatus.DELAYED),
        ("weather_delay", EventStatus.DELAYED),
        ("consignee_not_home", EventStatus.ATTEMPTED_DELIVERY),
    ],
)
def test_a_hold_is_told_by_its_reason(reason: str | None, expected: EventStatus) -> None:
    event = karrio_event(code="XX", status="on_hold", reason=reason)
    data = event_input(UPS, event, tracking_number="1Z1")
    assert data is not None and data.status is expected


def test_the_connectors_code_table_wins_over_karrios_coarse_status() -> None:
    def ups_codes(code: str) -> str | None:
        return {"OT": "out_for_delivery"}.get(code)

    event = karrio_event(code="OT", status="in_transit", description="Out For Delivery Today")
    data = event_input(UPS, event, tracking_number="1Z1", code_status=ups_codes)
    assert data is not None and data.status is EventStatus.OUT_FOR_DELIVERY


def test_scans_that_say_nothing_are_dropped() -> None:
    assert (
        event_input(
            DHL, karrio_event(code="unknown", status="delivery_delayed"), tracking_number="1"
        )
        is None
    )
    assert event_input(UPS, karrio_event(code=None, status=None), tracking_number="1") is None
    assert event_input(UPS, karrio_event(date=None, timestamp=None), tracking_number="1") is None
    pre = event_input(DHL, karrio_event(code="pre-transit", status=None), tracking_number="1")
    assert pre is not None and pre.status is EventStatus.CONFIRMED


def test_a_scan_in_the_future_is_dropped() -> None:
    soon = datetime.now(UTC) + timedelta(days=3)
    event = karrio_event(timestamp=soon.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    assert event_input(UPS, event, tracking_number="1Z1") is None


def test_karrios_z_is_not_taken_for_utc() -> None:
    data = event_input(UPS, karrio_event(), tracking_number="1Z1")
    assert data is not None
    assert data.occurred_at == datetime(2026, 11, 20, 14, 29)
    assert data.occurred_at.tzinfo is None
    assert carrier_time({"date": "2026-11-20", "time": "07:13 AM"}) == datetime(2026, 11, 20, 7, 13)
    assert carrier_time({"date": "2026-11-20"}) == datetime(2026, 11, 20)
    assert carrier_time({"date": "soon"}) is None


def test_the_same_scan_gets_the_same_id_and_another_scan_another() -> None:
    first = event_input(UPS, karrio_event(), tracking_number="1Z1")
    again = event_input(UPS, karrio_event(), tracking_number="1Z1")
    other = event_input(UPS, karrio_event(time="14:30 PM", timestamp=None), tracking_number="1Z1")
    assert first is not None and again is not None and other is not None
    assert first.external_id == again.external_id != other.external_id


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Wayne, NJ, 07470, US", ("Wayne", "NJ", "07470", "US")),
        ("SEATTLE, WA, 98101, US", ("Seattle", "WA", "98101", "US")),
        ("Oderweg 2, AMSTERDAM", ("Amsterdam", None, None, None)),
        ("Leipzig, Germany", ("Leipzig", None, None, "DE")),
        ("56003, US", (None, None, "56003", "US")),
    ],
)
def test_karrios_one_line_places_are_taken_apart(text: str, place: tuple[str | None, ...]) -> None:
    location = parse_location({"location": text})
    assert location is not None
    assert (location.city, location.region, location.zip, location.country_code) == place


def test_a_scan_without_a_place_has_no_location() -> None:
    assert parse_location({}) is None
    located = parse_location({"location": "Bergen, NO", "latitude": 60.39, "longitude": 5.32})
    assert located is not None and (located.latitude, located.longitude) == (60.39, 5.32)

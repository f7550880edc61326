"""The carrier connectors the poller can use, and how their answers become our events.

Every connector has the same shape: which of our carriers it tracks, the credentials it
needs, the carrier's message codes that mean "no such number yet", and the few event
codes whose status the connector's own table gets wrong. Adding a carrier means adding
one entry, not learning a new one.

Nothing here imports karrio: the admin can store credentials and these rules can be
tested on the base install. The poller hands in karrio's answers as plain dicts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from babel import Locale
from pydantic import ValidationError

from orderstatus.domain.inputs import LocationInput, TrackingEventInput, normalize_country
from orderstatus.domain.statuses import EventStatus


@dataclass(frozen=True, slots=True)
class Connector:
    """One karrio connector as the poller and the admin see it."""

    name: str
    """karrio's carrier name; also what a carrier account is stored under."""
    label: str
    carriers: tuple[str, ...]
    """Our carrier codes whose shipments it can track."""
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    """Fields that are identifiers rather than secrets: a listing may show their end."""
    defaults: Mapping[str, str] = field(default_factory=dict)
    """Settings karrio insists on that the tracking API never uses."""
    not_found: frozenset[str] = frozenset()
    """Message codes meaning the carrier does not know the number (yet): not a failure."""
    code_statuses: Mapping[str, str] = field(default_factory=dict)
    """Event codes whose karrio status is missing or misleading, by karrio status name."""

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


CONNECTORS: dict[str, Connector] = {
    connector.name: connector
    for connector in (
        Connector(
            name="ups",
            label="UPS",
            carriers=("ups",),
            required=("client_id", "client_secret"),
            optional=("account_number",),
            hints=("client_id", "account_number"),
            not_found=frozenset({"TW0001", "TW0002"}),
        ),
        Connector(
            name="fedex",
            label="FedEx",
            carriers=("fedex",),
            required=("track_api_key", "track_secret_key"),
            hints=("track_api_key",),
            not_found=frozenset({"TRACKING.TRACKINGNUMBER.NOTFOUND"}),
        ),
        Connector(
            name="dhl_universal",
            label="DHL (Shipment Tracking - Unified)",
            carriers=("dhl_express", "dhl_ecommerce_us", "deutsche_post"),
            required=("consumer_key",),
            optional=("consumer_secret",),
            defaults={"consumer_secret": ""},
            not_found=frozenset({"404"}),
            # The Unified API's classes; karrio has no entry for "pre-transit" and reads
            # "unknown" (a scan it could not classify) as a delay, which would alarm people.
            code_statuses={"pre-transit": "pending", "unknown": "unknown"},
        ),
    )
}

CONNECTOR_OF_CARRIER: dict[str, str] = {
    code: connector.name for connector in CONNECTORS.values() for code in connector.carriers
}


def connector_for(name: str) -> Connector | None:
    """The connector by its own name or by one of our carrier codes it serves."""
    key = name.strip().lower()
    return CONNECTORS.get(key) or CONNECTORS.get(CONNECTOR_OF_CARRIER.get(key, ""))


KARRIO_STATUSES: dict[str, EventStatus | None] = {
    "pending": EventStatus.CONFIRMED,
    "picked_up": EventStatus.CARRIER_PICKED_UP,
    "in_transit": EventStatus.IN_TRANSIT,
    "out_for_delivery": EventStatus.OUT_FOR_DELIVERY,
    "delivery_failed": EventStatus.ATTEMPTED_DELIVERY,
    "delivery_delayed": EventStatus.DELAYED,
    "ready_for_pickup": EventStatus.READY_FOR_PICKUP,
    "delivered": EventStatus.DELIVERED,
    "on_hold": EventStatus.FAILURE,
    "cancelled": EventStatus.FAILURE,
    "return_to_sender": EventStatus.RETURNED_TO_SENDER,
    "unknown": None,
}
"""karrio's ``TrackingStatus`` names → ours; None means the scan changes nothing."""

DELAY_REASONS = frozenset(
    {
        "customs_delay",
        "customs_documentation",
        "customs_duties_unpaid",
        "customs_inspection",
        "weather_delay",
        "natural_disaster",
        "force_majeure",
        "carrier_not_enough_time",
        "carrier_capacity_exceeded",
        "carrier_mechanical_delay",
        "carrier_vehicle_issue",
        "carrier_sorting_error",
        "parcel_being_researched",
        "regulatory_hold",
    }
)
MISSED_DELIVERY_REASONS = frozenset(
    {
        "consignee_not_home",
        "consignee_not_available",
        "consignee_business_closed",
        "consignee_access_restricted",
        "consignee_safe_place_unavailable",
    }
)


def event_status(status: str | None, reason: str | None) -> EventStatus | None:
    """Our status for a karrio status and incident reason.

    karrio puts every hold under ``on_hold``; a parcel held in customs or by a storm is
    late, not lost, and one held because nobody was home is a missed delivery, so the
    reason decides what the customer is told.
    """
    if status is None:
        return None
    if status == "on_hold":
        if reason in DELAY_REASONS:
            return EventStatus.DELAYED
        if reason in MISSED_DELIVERY_REASONS:
            return EventStatus.ATTEMPTED_DELIVERY
    return KARRIO_STATUSES.get(status)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def carrier_time(event: Mapping[str, Any]) -> datetime | None:
    """The scan's wall-clock time, without a zone.

    karrio writes every connector's local scan time with a ``Z`` it did not earn, so the
    zone is dropped here and the recording service reads the time where the scan was made.
    """
    stamp = event.get("timestamp")
    if isinstance(stamp, str) and len(stamp) >= 19:
        try:
            return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            pass
    day = event.get("date")
    if not isinstance(day, str):
        return None
    try:
        when = datetime.strptime(day[:10], "%Y-%m-%d")
    except ValueError:
        return None
    clock = _CLOCK.match(str(event.get("time") or ""))
    if clock and int(clock[1]) < 24 and int(clock[2]) < 60:
        when = when.replace(hour=int(clock[1]), minute=int(clock[2]))
    return when


@cache
def _country_names() -> dict[str, str]:
    return {name.casefold(): code for code, name in Locale("en").territories.items()}


def _country(value: str) -> str | None:
    """An ISO code from "US" or "Germany"; None for anything else (a city, a street)."""
    if len(value) == 2:
        try:
            return normalize_country(value)
        except ValueError:
            return None
    code = _country_names().get(value.casefold())
    return code if code and len(code) == 2 and code.isalpha() else None


def parse_location(event: Mapping[str, Any]) -> LocationInput | None:
    """A place from karrio's one-line location ("Wayne, NJ, 07470, US", "Oderweg 2,
    AMSTERDAM"): city, region, postcode and country where they can be told apart."""
    text = event.get("location")
    parts = [p.strip() for p in str(text or "").split(",") if p.strip()]
    country = _country(parts[-1]) if parts else None
    if country:
        parts.pop()
    postcode = parts.pop() if parts and any(c.isdigit() for c in parts[-1]) else None
    region = None
    if len(parts) >= 2 and parts[-1].isalpha() and len(parts[-1]) <= 3:
        region = parts.pop()
    city = parts[-1] if parts else None
    if city and city.isupper():
        city = city.title()
    latitude, longitude = event.get("latitude"), event.get("longitude")
    values: dict[str, Any] = {
        "city": city,
        "region": region,
        "zip": postcode[:64] if postcode else None,
        "country_code": country,
    }
    if latitude is not None and longitude is not None:
        values |= {"latitude": latitude, "longitude": longitude}
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        return None
    try:
        return LocationInput(**values)
    except ValidationError:
        values.pop("latitude", None)
        values.pop("longitude", None)
        return LocationInput(**values) if values else None


def external_id(tracking_number: str, event: Mapping[str, Any]) -> str:
    """The same scan always gets the same id (carriers give none), so a repeat dedupes."""
    parts = [
        tracking_number,
        event.get("code"),
        event.get("timestamp") or f"{event.get('date')} {event.get('time')}",
        event.get("description"),
        event.get("location"),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:40]


def event_input(
    connector: Connector,
    event: Mapping[str, Any],
    *,
    tracking_number: str,
    code_status: Callable[[str], str | None] = lambda _code: None,
    estimated_delivery: datetime | None = None,
) -> TrackingEventInput | None:
    """One karrio ``TrackingEvent`` (as a dict) as our event, or None when it tells us
    nothing: an unclassified scan, or one without a usable time.

    The status comes first from our corrections for the connector, then from the
    connector's own code table (``code_status``), then from karrio's event status: the
    UPS parser reads the activity class before its code, which turns "Out for delivery"
    into "in transit".
    """
    code = str(event.get("code") or "")
    status_name = connector.code_statuses.get(code) if code else None
    if status_name is None and code:
        status_name = code_status(code)
    if status_name is None:
        status_name = event.get("status")
    status = event_status(status_name, event.get("reason"))
    occurred_at = carrier_time(event)
    if status is None or occurred_at is None:
        return None
    message = " ".join(str(event.get("description") or "").split())[:2000] or None
    try:
        return TrackingEventInput(
            status=status,
            occurred_at=occurred_at,
            message=message,
            location=parse_location(event),
            external_id=external_id(tracking_number, event),
            estimated_delivery=estimated_delivery,
        )
    except ValidationError:
        return None


def delivery_estimate(details: Mapping[str, Any]) -> datetime | None:
    """karrio's delivery estimate (a date) as a datetime, or None."""
    value = details.get("estimated_delivery")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d")
    except ValueError:
        return None

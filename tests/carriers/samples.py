"""Real-shaped webhook bodies of each tracking source, built from one journey.

A journey is a list of (our status, hours after the start, city, country); each builder
writes the history up to a point the way that provider sends it (every webhook repeats
the whole history, as the providers do).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)

Step = tuple[str, float, str | None, str | None]

JOURNEY_HOME: list[Step] = [
    ("label_purchased", 0, None, None),
    ("carrier_picked_up", 5, "Louisville", "US"),
    ("in_transit", 20, "Oslo", "NO"),
    ("delayed", 30, "Oslo", "NO"),
    ("out_for_delivery", 44, "Bergen", "NO"),
    ("attempted_delivery", 50, "Bergen", "NO"),
    ("ready_for_pickup", 60, "Bergen", "NO"),
    ("delivered", 70, "Bergen", "NO"),
]
JOURNEY_LOST: list[Step] = [
    ("in_transit", 3, "Oslo", "NO"),
    ("failure", 40, "Trondheim", "NO"),
]
JOURNEY_BACK: list[Step] = [
    ("in_transit", 3, "Oslo", "NO"),
    ("returned_to_sender", 90, "Oslo", "NO"),
]
JOURNEY_QUIET: list[Step] = [
    ("in_transit", 3, "Oslo", "NO"),
    ("no_recent_updates", 300, None, None),
]
JOURNEY_COLLECTED: list[Step] = [
    ("in_transit", 3, "Oslo", "NO"),
    ("picked_up", 30, "Bergen", "NO"),
]


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def iso(hours: float) -> str:
    return at(hours).isoformat().replace("+00:00", "Z")


# --- EasyPost: status + status_detail (only documented values) --------------------------

_EASYPOST = {
    "label_purchased": ("pre_transit", "label_created"),
    "carrier_picked_up": ("in_transit", "received_at_origin_facility"),
    "in_transit": ("in_transit", "arrived_at_facility"),
    "delayed": ("in_transit", "weather_delay"),
    "out_for_delivery": ("out_for_delivery", "out_for_delivery"),
    "attempted_delivery": ("in_transit", "delivery_exception"),
    "ready_for_pickup": ("available_for_pickup", "arrived_at_pickup_location"),
    "delivered": ("delivered", "arrived_at_destination"),
    "failure": ("failure", "lost"),
    "returned_to_sender": ("return_to_sender", "return"),
    "no_recent_updates": ("unknown", "unknown"),
}


def easypost(number: str, steps: list[Step], carrier: str = "UPS") -> bytes:
    details = []
    for status, hours, city, country in steps:
        ep_status, detail = _EASYPOST[status]
        details.append(
            {
                "object": "TrackingDetail",
                "message": f"{status.replace('_', ' ').capitalize()}",
                "description": "",
                "status": ep_status,
                "status_detail": detail,
                "datetime": iso(hours),
                "source": carrier,
                "carrier_code": "",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": city.upper() if city else None,
                    "state": None,
                    "country": country,
                    "zip": None,
                },
            }
        )
    last_status = _EASYPOST[steps[-1][0]][0] if steps else "unknown"
    body: dict[str, Any] = {
        "id": "evt_" + number.lower(),
        "object": "Event",
        "mode": "test",
        "description": "tracker.updated",
        "previous_attributes": {},
        "created_at": iso(steps[-1][1] if steps else 0),
        "pending_urls": [],
        "completed_urls": [],
        "result": {
            "id": "trk_" + number.lower(),
            "object": "Tracker",
            "mode": "test",
            "tracking_code": number,
            "status": last_status,
            "status_detail": "status_update",
            "signed_by": None,
            "weight": None,
            "est_delivery_date": iso(72),
            "shipment_id": None,
            "carrier": carrier,
            "tracking_details": details,
            "carrier_detail": {"object": "CarrierDetail", "service": "Express"},
            "public_url": "https://track.easypost.example/" + number,
            "fees": [],
            "finalized": True,
            "is_return": False,
        },
    }
    return json.dumps(body).encode()


# --- Shippo: status + substatus --------------------------------------------------------

_SHIPPO = {
    "label_purchased": ("PRE_TRANSIT", "information_received"),
    "carrier_picked_up": ("TRANSIT", "package_accepted"),
    "in_transit": ("TRANSIT", "package_departed"),
    "delayed": ("TRANSIT", "delayed"),
    "out_for_delivery": ("TRANSIT", "out_for_delivery"),
    "attempted_delivery": ("TRANSIT", "delivery_attempted"),
    "ready_for_pickup": ("TRANSIT", "pickup_available"),
    "delivered": ("DELIVERED", "delivered"),
    "failure": ("FAILURE", "package_lost"),
    "returned_to_sender": ("RETURNED", "return_to_sender"),
    "no_recent_updates": ("UNKNOWN", "other"),
}


def shippo(number: str, steps: list[Step], carrier: str = "ups") -> bytes:
    history = []
    for index, (status, hours, city, country) in enumerate(steps):
        sh_status, code = _SHIPPO[status]
        history.append(
            {
                "object_created": iso(hours),
                "object_id": f"{number}-{index}",
                "status": sh_status,
                "status_details": f"{status.replace('_', ' ')}",
                "status_date": iso(hours),
                "substatus": {"code": code, "text": code, "action_required": False},
                "location": {"city": city, "state": None, "zip": None, "country": country}
                if city
                else None,
            }
        )
    body = {
        "event": "track_updated",
        "test": True,
        "data": {
            "carrier": carrier,
            "tracking_number": number,
            "eta": iso(72),
            "original_eta": iso(72),
            "servicelevel": {"token": "ups_ground", "name": "Ground"},
            "metadata": None,
            "address_from": None,
            "address_to": None,
            "tracking_status": history[-1] if history else None,
            "tracking_history": history[:-1],
            "messages": [],
        },
    }
    return json.dumps(body).encode()


# --- AfterShip: tag + subtag -----------------------------------------------------------

_AFTERSHIP = {
    "label_purchased": ("InfoReceived", "InfoReceived_001"),
    "carrier_picked_up": ("InTransit", "InTransit_002"),
    "in_transit": ("InTransit", "InTransit_003"),
    "delayed": ("Exception", "Exception_017"),
    "out_for_delivery": ("OutForDelivery", "OutForDelivery_001"),
    "attempted_delivery": ("AttemptFail", "AttemptFail_001"),
    "ready_for_pickup": ("AvailableForPickup", "AvailableForPickup_001"),
    "delivered": ("Delivered", "Delivered_001"),
    "picked_up": ("Delivered", "Delivered_002"),
    "failure": ("Exception", "Exception_013"),
    "returned_to_sender": ("Exception", "Exception_011"),
    "no_recent_updates": ("Expired", "Expired_001"),
}
_ISO3 = {"US": "USA", "NO": "NOR"}


def aftership(number: str, steps: list[Step], slug: str = "ups") -> bytes:
    checkpoints = []
    for status, hours, city, country in steps:
        tag, subtag = _AFTERSHIP[status]
        checkpoints.append(
            {
                "slug": slug,
                "city": city,
                "created_at": iso(hours),
                "location": f"{city}, {country}" if city else None,
                "country_name": None,
                "message": status.replace("_", " "),
                "country_iso3": _ISO3.get(country or ""),
                "tag": tag,
                "subtag": subtag,
                "subtag_message": subtag,
                "checkpoint_time": at(hours).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "coordinates": [],
                "state": None,
                "zip": None,
                "raw_tag": "",
            }
        )
    last = _AFTERSHIP[steps[-1][0]] if steps else ("Pending", "Pending_001")
    body = {
        "event": "tracking_update",
        "event_id": "ev-" + number,
        "is_tracking_first_tag": False,
        "msg": {
            "id": "as-" + number.lower(),
            "tracking_number": number,
            "title": number,
            "slug": slug,
            "tag": last[0],
            "subtag": last[1],
            "subtag_message": last[1],
            "order_number": None,
            "expected_delivery": iso(72),
            "checkpoints": checkpoints,
        },
        "ts": 1763290000,
    }
    return json.dumps(body).encode()


# --- our own signed webhook ------------------------------------------------------------


def custom(number: str, steps: list[Step], carrier: str = "ups") -> bytes:
    events = [
        {
            "status": status,
            "occurred_at": iso(hours),
            "message": status.replace("_", " "),
            "location": {"city": city, "country_code": country} if city else None,
            "external_id": f"{number}-{index}",
        }
        for index, (status, hours, city, country) in enumerate(steps)
    ]
    body = {
        "tracking_number": number,
        "carrier": carrier,
        "estimated_delivery": iso(72),
        "events": events,
    }
    return json.dumps(body).encode()


BUILDERS = {"easypost": easypost, "shippo": shippo, "aftership": aftership, "custom": custom}
EXPRESSIBLE = {
    "easypost": set(_EASYPOST),
    "shippo": set(_SHIPPO),
    "aftership": set(_AFTERSHIP),
    "custom": set(_AFTERSHIP) | set(_EASYPOST),
}

"""AfterShip tracking webhooks (``tracking_update`` and friends)."""

from __future__ import annotations

import base64
from typing import Any

from orderstatus.carriers.registry import get_carrier
from orderstatus.carriers.sources import (
    PayloadError,
    SignatureError,
    SignedRequest,
    TrackingUpdate,
    event,
    hmac_sha256,
    load_json,
    parse_time,
    place,
    require,
    same,
    stable_id,
)
from orderstatus.domain.statuses import EventStatus as S

NAME = "aftership"
HEADER = "aftership-hmac-sha256"

_TAG = {
    "InfoReceived": S.LABEL_PURCHASED,
    "Pending": S.LABEL_PURCHASED,
    "InTransit": S.IN_TRANSIT,
    "OutForDelivery": S.OUT_FOR_DELIVERY,
    "AttemptFail": S.ATTEMPTED_DELIVERY,
    "AvailableForPickup": S.READY_FOR_PICKUP,
    "Delivered": S.DELIVERED,
    "Exception": S.FAILURE,
    "Expired": S.FAILURE,
}
_SUBTAG = {
    "InTransit_002": S.CARRIER_PICKED_UP,
    "Delivered_002": S.PICKED_UP,
    **{f"Exception_{n:03d}": S.DELAYED for n in (4, 5, 16, 17, 19)},
    "Exception_010": S.RETURNED_TO_SENDER,
    "Exception_011": S.RETURNED_TO_SENDER,
}


def verify(request: SignedRequest, secret: str) -> None:
    """``aftership-hmac-sha256``: base64 of HMAC-SHA256 over the raw body."""
    given = request.headers.get(HEADER, "")
    expected = base64.b64encode(hmac_sha256(secret.encode(), request.body)).decode()
    if not given or not same(given.strip(), expected):
        raise SignatureError("aftership-hmac-sha256 does not match the body")


def _status(item: dict[str, Any]) -> S | None:
    return _SUBTAG.get(str(item.get("subtag") or "")) or _TAG.get(str(item.get("tag") or ""))


def _coordinates(item: dict[str, Any]) -> tuple[float | None, float | None]:
    value = item.get("coordinates")
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None, None
    return None, None


def parse(body: bytes) -> list[TrackingUpdate]:
    data = load_json(body)
    tracking = require(data, "msg", "body")
    number = str(require(tracking, "tracking_number", "msg"))
    carrier = get_carrier(tracking.get("slug"))
    checkpoints = tracking.get("checkpoints") or []
    if not isinstance(checkpoints, list):
        raise PayloadError("msg.checkpoints must be a list")
    events = []
    for index, item in enumerate(checkpoints):
        if not isinstance(item, dict):
            raise PayloadError(f"msg.checkpoints[{index}] must be an object")
        status = _status(item)
        if status is None:
            continue
        occurred = require(item, "checkpoint_time", f"checkpoints[{index}]")
        latitude, longitude = _coordinates(item)
        location = place(
            city=item.get("city"),
            region=item.get("state"),
            postcode=item.get("zip"),
            country=item.get("country_iso3") or item.get("country_region"),
            latitude=latitude,
            longitude=longitude,
        )
        events.append(
            event(
                status=status,
                occurred_at=occurred,
                message=item.get("message") or None,
                location=location,
                external_id=stable_id(
                    tracking.get("id"), occurred, item.get("tag"), item.get("message")
                ),
            )
        )
    estimate = tracking.get("expected_delivery")
    return [
        TrackingUpdate(
            tracking_number=number,
            carrier=carrier.code if carrier else None,
            events=events,
            estimated_delivery=parse_time(estimate, "msg.expected_delivery"),
        )
    ]

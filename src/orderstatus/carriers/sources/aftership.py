"""AfterShip tracking webhooks (``tracking_update`` and friends)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from orderstatus.carriers.mappings import status_map
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
from orderstatus.domain.statuses import EventStatus

NAME = "aftership"
HEADER = "aftership-hmac-sha256"

_MAP = status_map(NAME)


def verify(request: SignedRequest, secret: str) -> None:
    """``aftership-hmac-sha256``: base64 of HMAC-SHA256 over the raw body."""
    given = request.headers.get(HEADER, "")
    expected = base64.b64encode(hmac_sha256(secret.encode(), request.body)).decode()
    if not given or not same(given.strip(), expected):
        raise SignatureError("aftership-hmac-sha256 does not match the body")


def _status(item: dict[str, Any]) -> EventStatus | None:
    return _MAP.event_status(item.get("tag"), item.get("subtag"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if -180 <= number <= 180 else None


def _coordinates(item: dict[str, Any]) -> tuple[float | None, float | None]:
    """Where the carrier says the checkpoint was: ``coordinate {latitude, longitude}``
    (the 2024-04 format), else the older ``coordinates [latitude, longitude]``."""
    value = item.get("coordinate")
    if isinstance(value, dict):
        latitude, longitude = _number(value.get("latitude")), _number(value.get("longitude"))
    else:
        value = item.get("coordinates")
        if not (isinstance(value, list) and len(value) == 2):
            return None, None
        latitude, longitude = _number(value[0]), _number(value[1])
    if latitude is None or longitude is None or abs(latitude) > 90:
        return None, None
    return latitude, longitude


def _estimate(tracking: dict[str, Any]) -> datetime | None:
    """The estimated delivery: AfterShip's latest estimate, else the carrier's, else the
    older ``expected_delivery``; for a range, its last day."""
    latest = tracking.get("latest_estimated_delivery")
    if isinstance(latest, dict):
        value = latest.get("datetime") or latest.get("datetime_max")
        if value:
            return parse_time(value, "msg.latest_estimated_delivery")
    courier = tracking.get("courier_estimated_delivery_date")
    if isinstance(courier, dict):
        value = courier.get("estimated_delivery_date") or courier.get("estimated_delivery_date_max")
        if value:
            return parse_time(value, "msg.courier_estimated_delivery_date")
    return parse_time(tracking.get("expected_delivery"), "msg.expected_delivery")


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
            postcode=item.get("postal_code") or item.get("zip"),
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
    return [
        TrackingUpdate(
            tracking_number=number,
            carrier=carrier.code if carrier else None,
            events=events,
            estimated_delivery=_estimate(tracking),
        )
    ]

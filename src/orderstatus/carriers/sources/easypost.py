"""EasyPost tracker webhooks (``tracker.created`` / ``tracker.updated`` events)."""

from __future__ import annotations

import unicodedata
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

NAME = "easypost"
HEADER = "x-hmac-signature"
PREFIX = "hmac-sha256-hex="

_STATUS = {
    "pre_transit": S.LABEL_PURCHASED,
    "in_transit": S.IN_TRANSIT,
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "delivered": S.DELIVERED,
    "available_for_pickup": S.READY_FOR_PICKUP,
    "return_to_sender": S.RETURNED_TO_SENDER,
    "failure": S.FAILURE,
    "error": S.FAILURE,
    "cancelled": S.FAILURE,
}
_DETAIL = {
    "picked_up": S.CARRIER_PICKED_UP,
    "received_at_origin_facility": S.CARRIER_PICKED_UP,
    "delivery_attempted": S.ATTEMPTED_DELIVERY,
    "attempted_delivery": S.ATTEMPTED_DELIVERY,
    "delayed": S.DELAYED,
    "weather_delay": S.DELAYED,
    "arrived_at_pickup_location": S.READY_FOR_PICKUP,
}


def verify(request: SignedRequest, secret: str) -> None:
    """``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256 of the raw body>``; the key
    is the webhook secret normalised NFKD (as EasyPost's own libraries do)."""
    given = request.headers.get(HEADER, "")
    key = unicodedata.normalize("NFKD", secret).encode()
    expected = PREFIX + hmac_sha256(key, request.body).hex()
    if not given or not same(given.strip().lower(), expected):
        raise SignatureError("X-Hmac-Signature does not match the body")


def _status(detail: dict[str, Any]) -> S | None:
    by_detail = _DETAIL.get(str(detail.get("status_detail") or ""))
    if by_detail and detail.get("status") not in ("delivered", "return_to_sender"):
        return by_detail
    return _STATUS.get(str(detail.get("status") or ""))


def parse(body: bytes) -> list[TrackingUpdate]:
    data = load_json(body)
    if data.get("object") != "Event":
        raise PayloadError("expected an EasyPost Event object")
    if not str(data.get("description", "")).startswith("tracker."):
        return []
    tracker = require(data, "result", "event")
    number = str(require(tracker, "tracking_code", "result"))
    carrier = get_carrier(tracker.get("carrier"))
    details = tracker.get("tracking_details") or []
    if not isinstance(details, list):
        raise PayloadError("result.tracking_details must be a list")
    events = []
    for index, detail in enumerate(details):
        status = _status(detail)
        if status is None:
            continue
        occurred = require(detail, "datetime", f"tracking_details[{index}]")
        where = detail.get("tracking_location") or {}
        events.append(
            event(
                status=status,
                occurred_at=occurred,
                message=detail.get("message") or detail.get("description") or None,
                location=place(
                    city=where.get("city"),
                    region=where.get("state"),
                    postcode=where.get("zip"),
                    country=where.get("country"),
                ),
                external_id=stable_id(tracker.get("id"), occurred, status, detail.get("message")),
            )
        )
    estimate = parse_time(tracker.get("est_delivery_date"), "result.est_delivery_date")
    return [
        TrackingUpdate(
            tracking_number=number,
            carrier=carrier.code if carrier else None,
            events=events,
            estimated_delivery=estimate,
        )
    ]

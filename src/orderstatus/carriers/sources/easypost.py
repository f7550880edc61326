"""EasyPost tracker webhooks (``tracker.created`` / ``tracker.updated`` events)."""

from __future__ import annotations

import unicodedata
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

NAME = "easypost"
HEADER = "x-hmac-signature"
PREFIX = "hmac-sha256-hex="

_MAP = status_map(NAME)


def verify(request: SignedRequest, secret: str) -> None:
    """``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256 of the raw body>``; the key
    is the webhook secret normalised NFKD, and the comparison as strict as EasyPost's own
    ``validate_webhook`` (lower-case hex, as EasyPost sends it)."""
    given = request.headers.get(HEADER, "")
    key = unicodedata.normalize("NFKD", secret).encode()
    expected = PREFIX + hmac_sha256(key, request.body).hex()
    if not given or not same(given.strip(), expected):
        raise SignatureError("X-Hmac-Signature does not match the body")


def _status(detail: dict[str, Any]) -> EventStatus | None:
    message = detail.get("message") or detail.get("description")
    return _MAP.event_status(detail.get("status"), detail.get("status_detail"), message)


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
        if not isinstance(detail, dict):
            raise PayloadError(f"result.tracking_details[{index}] must be an object")
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

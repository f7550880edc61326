"""Shippo ``track_updated`` webhooks.

Shippo authenticates webhooks by a secret token the merchant adds to the webhook URL
(``?token=…``). Its HMAC option is arranged per account and its header is not publicly
specified, so it is not relied on here.
"""

from __future__ import annotations

from typing import Any

from orderstatus.carriers.mappings import status_map
from orderstatus.carriers.registry import get_carrier
from orderstatus.carriers.sources import (
    PayloadError,
    SignatureError,
    SignedRequest,
    TrackingUpdate,
    event,
    load_json,
    parse_time,
    place,
    require,
    same,
    stable_id,
)
from orderstatus.domain.statuses import EventStatus

NAME = "shippo"

_MAP = status_map(NAME)


def verify(request: SignedRequest, secret: str) -> None:
    if not same(request.query.get("token", ""), secret):
        raise SignatureError("the token in the webhook URL is missing or wrong")


def _status(item: dict[str, Any]) -> EventStatus | None:
    substatus = item.get("substatus")
    code = substatus.get("code") if isinstance(substatus, dict) else None
    return _MAP.event_status(str(item.get("status") or "").upper(), code)


def parse(body: bytes) -> list[TrackingUpdate]:
    data = load_json(body)
    if data.get("event") not in ("track_updated", "track_created"):
        return []
    track = require(data, "data", "body")
    number = str(require(track, "tracking_number", "data"))
    carrier = get_carrier(track.get("carrier"))
    history = list(track.get("tracking_history") or [])
    current = track.get("tracking_status")
    if isinstance(current, dict):
        history.append(current)
    events = []
    for index, item in enumerate(history):
        if not isinstance(item, dict):
            raise PayloadError(f"data.tracking_history[{index}] must be an object")
        status = _status(item)
        if status is None:
            continue
        where = item.get("location")
        where = where if isinstance(where, dict) else {}
        occurred = require(item, "status_date", f"tracking_history[{index}]")
        events.append(
            event(
                status=status,
                occurred_at=occurred,
                message=item.get("status_details") or None,
                location=place(
                    city=where.get("city"),
                    region=where.get("state"),
                    postcode=where.get("zip"),
                    country=where.get("country"),
                ),
                external_id=str(item.get("object_id") or stable_id(number, occurred, status)),
            )
        )
    return [
        TrackingUpdate(
            tracking_number=number,
            carrier=carrier.code if carrier else None,
            events=events,
            estimated_delivery=parse_time(track.get("eta"), "data.eta"),
        )
    ]

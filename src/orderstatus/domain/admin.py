"""The admin's rules: staff sessions, what an order search means, the order filters,
and what staff may report by hand.

Pure, so the web layer and the services ask the same questions and tests can ask them
without a server.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from orderstatus.domain.inputs import (
    ShortText,
    Url,
    normalize_email,
    normalize_order_number,
    normalize_phone,
    normalize_tracking_number,
)
from orderstatus.domain.statuses import EventStatus, FulfillmentStatus

# ---- sessions ----

SESSION_IDLE = timedelta(hours=12)
"""A session unused this long ends (a staff member who left the desk overnight)."""
SESSION_MAX = timedelta(days=7)
"""However busy, a session ends this long after sign-in: a stolen cookie is not for ever."""
SESSION_REFRESH = timedelta(minutes=5)
"""The idle clock restarts only when the signature is this old, so not every request
sends a new cookie."""


class SessionCheck(enum.Enum):
    VALID = "valid"
    REFRESH = "refresh"
    """Valid, and the cookie should be signed again to restart the idle clock."""
    EXPIRED = "expired"


def check_session(*, signed_at: datetime, expires_at: datetime, now: datetime) -> SessionCheck:
    """Whether a session whose cookie was last signed at ``signed_at`` may go on."""
    if now >= expires_at or now - signed_at > SESSION_IDLE:
        return SessionCheck.EXPIRED
    if now - signed_at > SESSION_REFRESH:
        return SessionCheck.REFRESH
    return SessionCheck.VALID


def staff_actor(email: str) -> str:
    """How a staff member is named in the audit trail: the sign-in address, which is
    unique and says who at a glance."""
    return email


# ---- orders list ----


class OrderFilter(enum.StrEnum):
    """The states a merchant filters the orders list by."""

    NEEDS_ATTENTION = "needs_attention"
    UNFULFILLED = "unfulfilled"
    PARTIAL = "partial"
    ON_ITS_WAY = "on_its_way"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    EXCEPTION = "exception"
    NO_RECENT_UPDATES = "no_recent_updates"


FILTER_FULFILLMENT: dict[OrderFilter, FulfillmentStatus] = {
    OrderFilter.UNFULFILLED: FulfillmentStatus.UNFULFILLED,
    OrderFilter.PARTIAL: FulfillmentStatus.PARTIAL,
}
"""Filters on how much of the order has shipped."""

FILTER_DELIVERY: dict[OrderFilter, frozenset[EventStatus]] = {
    OrderFilter.ON_ITS_WAY: frozenset(
        {
            EventStatus.LABEL_PURCHASED,
            EventStatus.LABEL_PRINTED,
            EventStatus.CONFIRMED,
            EventStatus.CARRIER_PICKED_UP,
            EventStatus.IN_TRANSIT,
        }
    ),
    OrderFilter.OUT_FOR_DELIVERY: frozenset({EventStatus.OUT_FOR_DELIVERY}),
    OrderFilter.DELIVERED: frozenset({EventStatus.DELIVERED, EventStatus.PICKED_UP}),
    OrderFilter.ATTEMPTED_DELIVERY: frozenset({EventStatus.ATTEMPTED_DELIVERY}),
    OrderFilter.EXCEPTION: frozenset(
        {
            EventStatus.FAILURE,
            EventStatus.RETURNED_TO_SENDER,
            EventStatus.DELAYED,
            EventStatus.READY_FOR_PICKUP,
        }
    ),
    OrderFilter.NO_RECENT_UPDATES: frozenset({EventStatus.NO_RECENT_UPDATES}),
    OrderFilter.NEEDS_ATTENTION: frozenset(
        {EventStatus.NO_RECENT_UPDATES, EventStatus.DELAYED, EventStatus.FAILURE}
    ),
}
"""Filters on the order's delivery status, which is its most urgent shipment's: an order
with one parcel delivered and one on its way is "on its way". "Needs attention": the
carrier went quiet for longer than usual, or reported a delay or a failure."""


def parse_filter(value: str | None) -> OrderFilter | None:
    """The filter named in a query string; an unknown name means no filter."""
    try:
        return OrderFilter(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """What one search box may mean; the orders that match any of them are found."""

    text: str
    number: str | None
    email: str | None
    phone: str | None
    tracking_number: str | None
    name: str | None


MAX_SEARCH = 200


def parse_search(query: str, *, region: str | None = None) -> SearchTerms | None:
    """Read a search the way staff type it: ``#1001``, an e-mail address, a phone
    number (local numbers in the shop's country), a tracking number or part of a name.

    Every reading that parses is kept, because "1001" may be an order number or part of
    a tracking number; None for an empty search.
    """
    text = " ".join(query.split())[:MAX_SEARCH]
    if not text:
        return None

    def attempt(parse: Callable[..., str], *args: object) -> str | None:
        try:
            return parse(text, *args)
        except ValueError:
            return None

    email = attempt(normalize_email) if "@" in text else None
    digits = sum(c.isdigit() for c in text)
    phone = attempt(normalize_phone, region) if digits >= 6 and "@" not in text else None
    tracking = attempt(normalize_tracking_number) if digits else None
    number = attempt(normalize_order_number)
    name = text if any(c.isalpha() for c in text) and "@" not in text else None
    return SearchTerms(
        text=text, number=number, email=email, phone=phone, tracking_number=tracking, name=name
    )


# ---- what staff report by hand ----

MANUAL_STATUSES: tuple[EventStatus, ...] = (
    EventStatus.IN_TRANSIT,
    EventStatus.OUT_FOR_DELIVERY,
    EventStatus.DELIVERED,
    EventStatus.ATTEMPTED_DELIVERY,
    EventStatus.DELAYED,
    EventStatus.READY_FOR_PICKUP,
    EventStatus.PICKED_UP,
    EventStatus.FAILURE,
    EventStatus.RETURNED_TO_SENDER,
)
"""The events a merchant posts for a carrier without live tracking (local delivery)."""

MANUAL_SOURCE = "manual"
"""The ``source`` of events staff enter in the admin."""

MESSAGE_STATUSES: dict[str, tuple[str, ...]] = {
    "confirmed": ("confirmed",),
    "in_transit": (
        EventStatus.IN_TRANSIT.value,
        EventStatus.CARRIER_PICKED_UP.value,
        EventStatus.LABEL_PURCHASED.value,
        EventStatus.LABEL_PRINTED.value,
    ),
    "out_for_delivery": (EventStatus.OUT_FOR_DELIVERY.value,),
    "attempted_delivery": (EventStatus.ATTEMPTED_DELIVERY.value,),
    "delayed": (EventStatus.DELAYED.value,),
    "ready_for_pickup": (EventStatus.READY_FOR_PICKUP.value,),
    "failure": (EventStatus.FAILURE.value,),
    "returned_to_sender": (EventStatus.RETURNED_TO_SENDER.value,),
    "delivered": (EventStatus.DELIVERED.value, EventStatus.PICKED_UP.value),
}
"""The statuses a page message can be limited to, as staff choose them (in the order a
parcel meets them; "confirmed": nothing shipped yet), each with the delivery statuses
it stands for. domain.view compares the stored values with the order's delivery status,
so "On its way" has to cover a parcel just picked up by the carrier too."""


def expand_message_statuses(chosen: Iterable[str]) -> list[str] | None:
    """What to store for the statuses staff ticked: None (always shown) when none is;
    ValueError names an unknown one."""
    picked = list(dict.fromkeys(chosen))
    unknown = [c for c in picked if c not in MESSAGE_STATUSES]
    if unknown:
        raise ValueError(f"unknown statuses {', '.join(unknown)}")
    stored = [value for key in MESSAGE_STATUSES if key in picked for value in MESSAGE_STATUSES[key]]
    return stored or None


def chosen_message_statuses(stored: Iterable[str] | None) -> list[str]:
    """The choices a stored list came from (for the edit form)."""
    values = set(stored or ())
    return [key for key, group in MESSAGE_STATUSES.items() if group[0] in values]


OTHER = "other"
"""The carrier for shipments whose link the merchant supplies, so a fulfilment always has one."""

MESSAGE_PLACEMENTS = ("top", "bottom")
MAX_MESSAGE = 5000


class TrackingInput(BaseModel):
    """A shipment's carrier and tracking, as staff enter or correct them.

    No carrier means "detect it from the tracking number". "Other" is a carrier we
    cannot link to, so it needs the merchant's own tracking link.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    carrier: ShortText | None = None
    tracking_number: Annotated[str, AfterValidator(normalize_tracking_number)] | None = None
    tracking_url: Url | None = None

    @model_validator(mode="after")
    def _other_needs_link(self) -> Self:
        if self.carrier is not None and self.carrier.lower() == OTHER and not self.tracking_url:
            raise PydanticCustomError(
                "tracking_url_missing", "give the tracking link for a carrier we do not know"
            )
        return self


MANUAL_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a hand-entered time may be (the staff member's watch)."""


def check_manual_time(occurred_at: datetime, now: datetime) -> datetime:
    """A time staff say something happened: not in the future, which a carrier's own
    time may be by a little but a person's report of what already happened may not."""
    if occurred_at > now + MANUAL_CLOCK_SKEW:
        raise ValueError("is in the future")
    return occurred_at

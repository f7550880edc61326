"""The status model: event vocabulary, customer-facing steps, and their derivation.

Everything here is pure. A fulfilment's status is *derived* from its tracking events,
never stored as truth on its own: the stored copy is a cache of :func:`derive_status`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


class EventStatus(enum.StrEnum):
    """What a tracking event says happened (the vocabulary of fulfilment events)."""

    LABEL_PURCHASED = "label_purchased"
    LABEL_PRINTED = "label_printed"
    CONFIRMED = "confirmed"
    NO_RECENT_UPDATES = "no_recent_updates"
    """The carrier has gone silent (a provider's expired or unknown tracking): not a
    failure, and nothing to alarm the customer about."""
    CARRIER_PICKED_UP = "carrier_picked_up"
    IN_TRANSIT = "in_transit"
    DELAYED = "delayed"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    FAILURE = "failure"
    RETURNED_TO_SENDER = "returned_to_sender"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"


# Declaration order above is the step order used to break ties between events that carry
# the same carrier time: the further-along event wins.
_RANK: dict[EventStatus, int] = {status: rank for rank, status in enumerate(EventStatus)}

FINAL = frozenset({EventStatus.DELIVERED, EventStatus.PICKED_UP})
"""Statuses that hold against later events, except the ones in :data:`OVERRIDES_FINAL`."""

OVERRIDES_FINAL = frozenset({EventStatus.FAILURE, EventStatus.RETURNED_TO_SENDER})

HOLDS_AGAINST_SILENCE = FINAL | OVERRIDES_FINAL
"""Statuses that a later "no recent updates" leaves as they are: silence after a delivery,
a loss or a return says nothing new about it."""

ALERTS = frozenset(
    {
        EventStatus.ATTEMPTED_DELIVERY,
        EventStatus.READY_FOR_PICKUP,
        EventStatus.DELAYED,
        EventStatus.FAILURE,
        EventStatus.RETURNED_TO_SENDER,
        EventStatus.NO_RECENT_UPDATES,
    }
)
"""Side states: shown as an alert on the step where they happened."""

PRE_CARRIER = frozenset(
    {EventStatus.LABEL_PURCHASED, EventStatus.LABEL_PRINTED, EventStatus.CONFIRMED}
)
"""Fulfilled, but the carrier has not moved the parcel yet."""

DEFAULT_STATUS = EventStatus.IN_TRANSIT
"""A fulfilment with no events is "On its way": it was handed to the carrier."""


class Step(enum.StrEnum):
    """The four customer-facing steps of the progress bar, in order."""

    CONFIRMED = "confirmed"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"


STEPS: tuple[Step, ...] = tuple(Step)

_STEP_OF: dict[EventStatus, Step] = {
    EventStatus.LABEL_PURCHASED: Step.IN_TRANSIT,
    EventStatus.LABEL_PRINTED: Step.IN_TRANSIT,
    EventStatus.CONFIRMED: Step.IN_TRANSIT,
    EventStatus.CARRIER_PICKED_UP: Step.IN_TRANSIT,
    EventStatus.IN_TRANSIT: Step.IN_TRANSIT,
    EventStatus.OUT_FOR_DELIVERY: Step.OUT_FOR_DELIVERY,
    EventStatus.PICKED_UP: Step.DELIVERED,
    EventStatus.DELIVERED: Step.DELIVERED,
}


@dataclass(frozen=True, slots=True)
class StatusPoint:
    """The two facts of an event that the derivation looks at."""

    status: EventStatus
    occurred_at: datetime


def _sort_key(point: StatusPoint) -> tuple[datetime, int]:
    return (point.occurred_at, _RANK[point.status])


def advance(current: EventStatus | None, incoming: EventStatus) -> EventStatus:
    """One step of the fold: the status after ``incoming``, given the one before it.

    Exposed so that an event that sorts after every stored one can be applied without
    re-reading the history; :func:`derive_status` is the same fold from the start.
    """
    if current in FINAL and incoming not in OVERRIDES_FINAL:
        return current
    if incoming is EventStatus.NO_RECENT_UPDATES and current in HOLDS_AGAINST_SILENCE:
        return current
    return incoming


def derive_status(events: Iterable[StatusPoint]) -> EventStatus:
    """The status of a fulfilment from its events, whatever order they arrived in.

    Events are ordered by carrier time, ties broken by step order; the latest decides,
    except that a delivery holds unless a later failure or return comes, and that a
    carrier going silent never hides a delivery, a loss or a return. Duplicates and
    permutations of the same events give the same answer.
    """
    current: EventStatus | None = None
    for point in sorted(events, key=_sort_key):
        current = advance(current, point.status)
    return DEFAULT_STATUS if current is None else current


@dataclass(frozen=True, slots=True)
class Derived:
    """The derived status with the event that sorts last (None: no events yet)."""

    status: EventStatus
    last: StatusPoint | None


def derive(events: Iterable[StatusPoint]) -> Derived:
    """:func:`derive_status` plus the last event, for :func:`apply_newer`."""
    points = list(events)
    return Derived(derive_status(points), max(points, key=_sort_key, default=None))


def apply_newer(state: Derived, point: StatusPoint) -> Derived | None:
    """The state after one more event, when that event sorts after all the others.

    Returns None for an event that sorts earlier (it arrived out of order): the caller
    must then derive again from the whole history. Both ways give the same answer.
    """
    if state.last is not None and _sort_key(point) <= _sort_key(state.last):
        return None
    current = None if state.last is None else state.status
    return Derived(advance(current, point.status), point)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a fulfilment stands on the progress bar."""

    status: EventStatus
    step: Step
    alert: EventStatus | None
    reached_at: dict[Step, datetime]
    """When each step was first reached (Confirmed is the order's creation)."""


def step_of(status: EventStatus, previous: Step) -> Step:
    """The progress-bar step for a status; alerts stay on the step where they happened."""
    return _STEP_OF.get(status, previous)


def derive_progress(
    events: Sequence[StatusPoint], *, ordered_at: datetime, fulfilled_at: datetime
) -> Progress:
    """The progress bar of one fulfilment: current step, alert, and the date of each step.

    The date rule (one rule for the bar, the headline and the timeline, so that they never
    contradict each other): a step's date is the carrier time of the first event that
    reached that step, else the shipment's creation; "Confirmed" is the order's creation.
    A label bought or printed already counts for "On its way" (the shipment is fulfilled),
    so a shipment whose first update is "Preparing to ship" at 05:39 is on its way since
    05:39, whenever staff marked it fulfilled. A step the shipment fell back from (out for
    delivery, then back at the depot) is forgotten and dated again when next reached.
    """
    reached: dict[Step, datetime] = {Step.CONFIRMED: ordered_at}
    current: EventStatus | None = None
    step = Step.IN_TRANSIT
    for point in sorted(events, key=_sort_key):
        current = advance(current, point.status)
        step = step_of(current, step)
        index = STEPS.index(step)
        reached = {s: t for s, t in reached.items() if STEPS.index(s) <= index}
        reached.setdefault(step, point.occurred_at)
    # Reached by no event (none yet, or the first one was already further along).
    reached.setdefault(Step.IN_TRANSIT, fulfilled_at)
    status = DEFAULT_STATUS if current is None else current
    return Progress(
        status=status,
        step=step,
        alert=status if status in ALERTS else None,
        reached_at=reached,
    )


MOVING = frozenset(
    {
        EventStatus.CARRIER_PICKED_UP,
        EventStatus.IN_TRANSIT,
        EventStatus.DELAYED,
        EventStatus.OUT_FOR_DELIVERY,
        EventStatus.ATTEMPTED_DELIVERY,
    }
)
"""Statuses of a parcel on the move: where it was last seen is news, so its map is shown
open. Delivered, returned, lost, waiting at a pickup point, not yet handed over or gone
quiet: the map is there on request only."""


class FulfillmentStatus(enum.StrEnum):
    """How much of an order has been shipped."""

    UNFULFILLED = "unfulfilled"
    PARTIAL = "partial"
    FULFILLED = "fulfilled"


OrderFilter = enum.StrEnum(  # type: ignore[misc]
    "OrderFilter", {s.value: s.value for s in (*FulfillmentStatus, *EventStatus)}
)
"""What orders can be filtered by: how much is shipped, or where the shipments are."""


def fulfillment_status(ordered: int, fulfilled: int) -> FulfillmentStatus:
    """Order-level fulfilment from the total ordered and shipped quantities."""
    if fulfilled <= 0:
        return FulfillmentStatus.UNFULFILLED
    if fulfilled < ordered:
        return FulfillmentStatus.PARTIAL
    return FulfillmentStatus.FULFILLED


# Most urgent first: the order-level delivery status is the most urgent of its shipments',
# so "delivered" means every shipment was delivered.
_URGENCY: tuple[EventStatus, ...] = (
    EventStatus.FAILURE,
    EventStatus.RETURNED_TO_SENDER,
    EventStatus.ATTEMPTED_DELIVERY,
    EventStatus.DELAYED,
    EventStatus.READY_FOR_PICKUP,
    EventStatus.NO_RECENT_UPDATES,
    EventStatus.OUT_FOR_DELIVERY,
    EventStatus.IN_TRANSIT,
    EventStatus.CARRIER_PICKED_UP,
    EventStatus.CONFIRMED,
    EventStatus.LABEL_PRINTED,
    EventStatus.LABEL_PURCHASED,
    EventStatus.PICKED_UP,
    EventStatus.DELIVERED,
)


def delivery_status(statuses: Iterable[EventStatus]) -> EventStatus | None:
    """The order-level shipment status: the most urgent of its shipments', None if none."""
    present = set(statuses)
    return next((s for s in _URGENCY if s in present), None)


class HeadlineKind(enum.StrEnum):
    CONFIRMED = "confirmed"
    """Nothing shipped yet."""
    STATUS = "status"
    """One status describes every shipment."""
    SOME_DELIVERED = "some_delivered"
    """Some, not all, shipments delivered: "2 of 3 shipments delivered"."""
    ATTENTION = "attention"
    """Several shipments and one of them needs the customer's attention."""


@dataclass(frozen=True, slots=True)
class Headline:
    """What the top of the status page says, before it is put into words."""

    kind: HeadlineKind
    status: EventStatus | None
    delivered: int
    shipments: int
    unshipped_items: bool


_ATTENTION = frozenset(
    {
        EventStatus.ATTEMPTED_DELIVERY,
        EventStatus.READY_FOR_PICKUP,
        EventStatus.FAILURE,
        EventStatus.RETURNED_TO_SENDER,
    }
)


def headline(statuses: Sequence[EventStatus], *, unshipped_items: bool) -> Headline:
    """Summarise the statuses of an order's shipments for its headline."""
    count = len(statuses)
    delivered = sum(1 for s in statuses if s in FINAL)
    if count == 0:
        return Headline(HeadlineKind.CONFIRMED, None, 0, 0, unshipped_items)
    urgent = delivery_status(statuses)
    if count == 1 or len(set(statuses)) == 1:
        return Headline(HeadlineKind.STATUS, urgent, delivered, count, unshipped_items)
    if urgent in _ATTENTION:
        return Headline(HeadlineKind.ATTENTION, urgent, delivered, count, unshipped_items)
    if delivered:
        return Headline(HeadlineKind.SOME_DELIVERED, None, delivered, count, unshipped_items)
    return Headline(HeadlineKind.STATUS, urgent, delivered, count, unshipped_items)


STATUS_PHRASES: dict[EventStatus, str] = {
    EventStatus.LABEL_PURCHASED: "Preparing to ship",
    EventStatus.LABEL_PRINTED: "Preparing to ship",
    EventStatus.CONFIRMED: "Preparing to ship",
    EventStatus.NO_RECENT_UPDATES: "No recent updates",
    EventStatus.CARRIER_PICKED_UP: "On its way",
    EventStatus.IN_TRANSIT: "On its way",
    EventStatus.DELAYED: "Delayed",
    EventStatus.OUT_FOR_DELIVERY: "Out for delivery",
    EventStatus.ATTEMPTED_DELIVERY: "Delivery attempted",
    EventStatus.READY_FOR_PICKUP: "Ready for pickup",
    EventStatus.FAILURE: "Problem with delivery",
    EventStatus.RETURNED_TO_SENDER: "Returned to sender",
    EventStatus.PICKED_UP: "Picked up",
    EventStatus.DELIVERED: "Delivered",
}


def headline_text(h: Headline) -> str:
    """The headline in English (the web layer translates the same cases)."""
    if h.kind is HeadlineKind.CONFIRMED:
        return "Order confirmed"
    if h.kind is HeadlineKind.SOME_DELIVERED:
        return f"{h.delivered} of {h.shipments} shipments delivered"
    assert h.status is not None
    phrase = STATUS_PHRASES[h.status]
    if h.kind is HeadlineKind.ATTENTION:
        return f"{phrase} ({h.delivered} of {h.shipments} shipments delivered)"
    return phrase

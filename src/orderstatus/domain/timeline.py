"""An order's history as staff read it: one list, newest first, of what was done to the
order (the audit trail), what the carriers reported, and every message sent or not.

The three come from three tables; merging them here keeps the order page's template
free of rules, and an event staff entered by hand shows once, with who entered it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class EntryType(enum.StrEnum):
    ACTIVITY = "activity"
    EVENT = "event"
    NOTIFICATION = "notification"


@dataclass(frozen=True, slots=True)
class ActivityFact:
    id: int
    kind: str
    actor: str
    message: str
    data: Mapping[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventFact:
    id: int
    fulfillment_id: int
    status: str
    occurred_at: datetime
    message: str | None
    city: str | None
    country_code: str | None
    source: str


@dataclass(frozen=True, slots=True)
class NotificationFact:
    id: int
    fulfillment_id: int | None
    kind: str
    channel: str
    recipient: str
    state: str
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    at: datetime
    actor: str | None = None
    """Who did it: staff, "api", "customer"…; for events, the source or the staff member."""
    text: str | None = None
    """An activity's message, or an event's carrier message."""
    status: str | None = None
    """An event's status, or a message's state."""
    kind: str | None = None
    """An activity's kind, or a message's kind."""
    shipment: int | None = None
    """The shipment's number on the order (1, 2, …) for events and messages about one."""
    place: str | None = None
    channel: str | None = None
    recipient: str | None = None
    error: str | None = None
    source: str | None = None
    notification_id: int | None = None


def _ref(activity: ActivityFact, name: str) -> int | None:
    value = (activity.data or {}).get(name)
    return value if isinstance(value, int) else None


NOTIFICATION_OUTCOME = "notification_"
"""Prefix of the kinds the notification worker records when a message goes, is kept,
fails or is skipped (``notification_resent`` is a staff action, not an outcome)."""


def _is_outcome(activity: ActivityFact) -> bool:
    return (
        activity.kind.startswith(NOTIFICATION_OUTCOME)
        and activity.kind != "notification_resent"
        and _ref(activity, "notification_id") is not None
    )


def build_timeline(
    *,
    activities: Iterable[ActivityFact],
    events: Iterable[EventFact],
    notifications: Iterable[NotificationFact],
    shipment_numbers: Mapping[int, int],
) -> list[Entry]:
    """Everything that happened to the order, newest first.

    Events are placed at the carrier's time (when it happened, not when we heard).
    A message shows through what the worker recorded of it (sent, kept, failed), the
    latest of which carries the message's state now (so it can be sent again); a message
    with nothing recorded yet shows once, as waiting.
    """
    activities = list(activities)
    events = list(events)
    notes = {n.id: n for n in notifications}
    by_event = {e.id for e in events}
    entered_by = {
        event_id: a.actor
        for a in activities
        if (event_id := _ref(a, "event_id")) is not None and event_id in by_event
    }
    latest_outcome: dict[int, int] = {}
    for a in activities:
        if _is_outcome(a):
            nid = _ref(a, "notification_id")
            assert nid is not None
            if nid in notes and a.id > latest_outcome.get(nid, 0):
                latest_outcome[nid] = a.id
    entries: list[tuple[datetime, int, Entry]] = []
    for a in activities:
        if _ref(a, "event_id") in entered_by:
            continue
        nid = _ref(a, "notification_id")
        current = notes[nid] if nid is not None and latest_outcome.get(nid) == a.id else None
        entries.append(
            (
                a.created_at,
                0,
                Entry(
                    EntryType.ACTIVITY,
                    a.created_at,
                    a.actor,
                    a.message,
                    kind=a.kind,
                    status=current.state if current else None,
                    notification_id=current.id if current else None,
                ),
            )
        )
    for e in events:
        place = ", ".join(p for p in (e.city, e.country_code) if p) or None
        entries.append(
            (
                e.occurred_at,
                1,
                Entry(
                    EntryType.EVENT,
                    e.occurred_at,
                    entered_by.get(e.id),
                    e.message,
                    status=e.status,
                    shipment=shipment_numbers.get(e.fulfillment_id),
                    place=place,
                    source=e.source,
                ),
            )
        )
    for n in notes.values():
        if n.id in latest_outcome:
            continue
        at = n.sent_at or n.created_at
        entries.append(
            (
                at,
                2,
                Entry(
                    EntryType.NOTIFICATION,
                    at,
                    status=n.state,
                    kind=n.kind,
                    shipment=shipment_numbers.get(n.fulfillment_id) if n.fulfillment_id else None,
                    channel=n.channel,
                    recipient=n.recipient,
                    error=n.last_error,
                    notification_id=n.id,
                ),
            )
        )
    entries.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [entry for _at, _rank, entry in entries]

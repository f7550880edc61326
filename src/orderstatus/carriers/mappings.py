"""What each provider's status values mean in our vocabulary.

The tables are data (``mappings.json``, one per provider, also shown in the README) so
that a provider's documented list and ours can be compared value by value. A provider
reports a coarse status and a finer detail beside it (EasyPost ``status`` /
``status_detail``, Shippo ``status`` / ``substatus``, AfterShip ``tag`` / ``subtag``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from orderstatus.domain.statuses import EventStatus

_REFINED_BY_MESSAGE = frozenset(
    {EventStatus.IN_TRANSIT, EventStatus.OUT_FOR_DELIVERY, EventStatus.FAILURE}
)


@dataclass(frozen=True, slots=True)
class StatusMap:
    """One provider's table and how its two levels combine."""

    status: dict[str, EventStatus]
    detail: dict[str, EventStatus | None]
    """A detail that says more than its status; None: the status decides."""
    decisive: frozenset[str]
    """Statuses that decide whatever detail comes with them (a delivery is a delivery)."""
    attempt_phrases: tuple[str, ...]
    """Words of an event's message that reveal a missed delivery when neither the status
    nor the detail says so (EasyPost reports many of them as a plain exception)."""

    def event_status(
        self, status: object, detail: object = None, message: object = None
    ) -> EventStatus | None:
        """Our status for one reported event, or None when it means nothing to us."""
        by_status = self.status.get(str(status or ""))
        if str(status or "") in self.decisive:
            return by_status
        by_detail = self.detail.get(str(detail or ""))
        if by_detail is not None:
            return by_detail
        if by_status in _REFINED_BY_MESSAGE and isinstance(message, str):
            text = message.casefold()
            if any(phrase in text for phrase in self.attempt_phrases):
                return EventStatus.ATTEMPTED_DELIVERY
        return by_status


def _table(data: dict[str, Any]) -> StatusMap:
    return StatusMap(
        status={k: EventStatus(v) for k, v in data["status"].items()},
        detail={k: EventStatus(v) if v else None for k, v in data["detail"].items()},
        decisive=frozenset(data["decisive_statuses"]),
        attempt_phrases=tuple(p.casefold() for p in data["attempt_phrases"]),
    )


@cache
def status_map(provider: str) -> StatusMap:
    """The table of ``provider`` (``easypost``, ``shippo``, ``aftership``)."""
    text = (resources.files("orderstatus.carriers") / "mappings.json").read_text("utf-8")
    return _table(json.loads(text)[provider])

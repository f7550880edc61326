"""What our own history says about deliveries: when a carrier's silence is unusual, and
when a parcel will most likely arrive.

Pure rules. The queries that gather the history live in ``services/``; they hand these
functions plain numbers (gaps and transit times) and get plain answers back.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from orderstatus.domain.statuses import EventStatus


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` by linear interpolation between the two
    nearest ranks: PostgreSQL's ``percentile_cont``, so both engines give one answer."""
    if not values:
        raise ValueError("no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---- stalls: a carrier silent for longer than usual ----


class Stage(enum.StrEnum):
    """Where a parcel is when its carrier goes quiet: silence means different things
    on the way (days between scans are normal) and out for delivery (hours)."""

    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"


STAGE_OF: Mapping[EventStatus, Stage] = {
    EventStatus.CARRIER_PICKED_UP: Stage.IN_TRANSIT,
    EventStatus.IN_TRANSIT: Stage.IN_TRANSIT,
    EventStatus.DELAYED: Stage.IN_TRANSIT,
    EventStatus.OUT_FOR_DELIVERY: Stage.OUT_FOR_DELIVERY,
}
"""The statuses whose silence we watch. Not yet handed over (a label), waiting for the
customer (an attempt, a pickup point), delivered, lost, returned or already quiet: the
carrier has nothing to say, so its silence is no news."""

DEFAULT_SILENCE: Mapping[Stage, timedelta] = {
    Stage.IN_TRANSIT: timedelta(days=3),
    Stage.OUT_FOR_DELIVERY: timedelta(days=1),
}
"""How long a carrier may be silent before our own history says otherwise."""

STALL_PERCENTILE = 0.95
"""Silence longer than this share of the gaps between a carrier's events at that stage
is unusual."""

MIN_GAPS = 50
"""Gaps a carrier needs at a stage before its own percentile replaces the default."""

SILENCE_FLOOR = timedelta(hours=6)
SILENCE_CEILING = timedelta(days=30)
"""However regular a carrier is, a few hours of quiet is never a stall; however erratic,
a month of it always is."""


def stage_of(status: EventStatus) -> Stage | None:
    """The stage whose silence counts for a shipment in ``status`` (None: never stalls)."""
    return STAGE_OF.get(status)


def statuses_at(stage: Stage) -> frozenset[EventStatus]:
    return frozenset(s for s, st in STAGE_OF.items() if st is stage)


def allowed_silence(stage: Stage, gaps_seconds: Sequence[float] = ()) -> timedelta:
    """How long a carrier may stay silent at ``stage``: the 95th percentile of the gaps
    between its events at that stage when there are enough of them, else the default;
    kept between :data:`SILENCE_FLOOR` and :data:`SILENCE_CEILING`."""
    if len(gaps_seconds) < MIN_GAPS:
        return DEFAULT_SILENCE[stage]
    return learned_silence(percentile(gaps_seconds, STALL_PERCENTILE))


def learned_silence(p95_seconds: float) -> timedelta:
    """A percentile (computed here or by the database) made into an allowed silence."""
    return min(max(timedelta(seconds=p95_seconds), SILENCE_FLOOR), SILENCE_CEILING)


@dataclass(frozen=True, slots=True)
class SilenceRules:
    """How long each carrier may be silent at each stage, learned or default."""

    learned: Mapping[tuple[str, Stage], timedelta]
    """(carrier code, stage) → allowed silence, for carriers with enough history."""

    def allowed(self, carrier: str | None, stage: Stage) -> timedelta:
        if carrier is not None and (carrier, stage) in self.learned:
            return self.learned[(carrier, stage)]
        return DEFAULT_SILENCE[stage]


def is_stalled(
    status: EventStatus,
    carrier: str | None,
    last_event_at: datetime | None,
    now: datetime,
    rules: SilenceRules,
) -> bool:
    """Whether a shipment's carrier has been silent for longer than usual. The pass
    asks the database the same question for every shipment at once; this is its rule."""
    stage = stage_of(status)
    if stage is None or last_event_at is None:
        return False
    return now - last_event_at > rules.allowed(carrier, stage)


# ---- predicted delivery: our own estimate from delivered shipments ----

PREDICT_LOW = 0.10
PREDICT_HIGH = 0.90
MIN_DELIVERIES = 30
"""Deliveries a lane needs before we dare an estimate."""

WEEKEND_CARRIERS: frozenset[str] = frozenset({"ups", "fedex", "usps", "amazon", "dhl_express"})
"""Carriers that deliver at weekends: their transit times count calendar days. Every
other carrier's count business days (Monday to Friday)."""


def counts_business_days(carrier: str | None) -> bool:
    return carrier not in WEEKEND_CARRIERS


def business_days_between(start: date, end: date) -> int:
    """Weekdays after ``start`` up to and including ``end`` (0 when ``end`` is not
    later): a parcel sent Friday and delivered Monday took 1 business day."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for offset in range(1, rest + 1):
        if (start + timedelta(days=weeks * 7 + offset)).weekday() < 5:
            count += 1
    return count


def add_business_days(start: date, days: int) -> date:
    """The day ``days`` weekdays after ``start`` (the inverse of
    :func:`business_days_between` for a weekday result)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def transit_days(shipped: date, delivered: date, *, business: bool) -> int:
    """How long a delivered shipment took, in the days its carrier counts."""
    if business:
        return business_days_between(shipped, delivered)
    return max((delivered - shipped).days, 0)


def postcode_area(country: str | None, postcode: str | None) -> str | None:
    """The part of a postcode that names a region: the first two characters of the
    postcode with spaces removed (Norway's 01xx is Oslo, the UK's "SW" south-west
    London, the US's "94" the Bay Area). None without a postcode."""
    if not postcode:
        return None
    compact = "".join(postcode.split()).upper()
    return compact[:2] if len(compact) >= 2 else None


@dataclass(frozen=True, slots=True)
class Lane:
    """Where shipments go: a carrier from one country to a country, and, when known,
    an area of postcodes in it ("*" for the whole country)."""

    carrier: str
    origin: str
    destination: str
    area: str = "*"

    def country_wide(self) -> Lane:
        return Lane(self.carrier, self.origin, self.destination, "*")


@dataclass(frozen=True, slots=True)
class TransitStats:
    """The 10th and 90th percentile of transit days on a lane, and how many deliveries
    they come from (as stored by the worker's refresh)."""

    low: float
    high: float
    deliveries: int


def transit_stats(days: Sequence[float]) -> TransitStats | None:
    """Percentiles of the transit days of a lane's deliveries; None for too few."""
    if len(days) < MIN_DELIVERIES:
        return None
    return TransitStats(percentile(days, PREDICT_LOW), percentile(days, PREDICT_HIGH), len(days))


def lane_stats(lane: Lane, known: Mapping[Lane, TransitStats]) -> TransitStats | None:
    """A lane's statistics: its postcode area's when it has enough history, else the
    whole destination country's, else none."""
    for candidate in (lane, lane.country_wide()):
        stats = known.get(candidate)
        if stats is not None and stats.deliveries >= MIN_DELIVERIES:
            return stats
    return None


@dataclass(frozen=True, slots=True)
class Prediction:
    """Our own estimate: the parcel most likely arrives between ``earliest`` and
    ``latest``."""

    earliest: date
    latest: date


def predict(shipped: date, stats: TransitStats, *, business: bool) -> Prediction:
    """The delivery range of a shipment sent on ``shipped``: the lane's 10th percentile
    of transit days rounded down, its 90th rounded up."""
    low = math.floor(stats.low)
    high = max(math.ceil(stats.high), low)
    if business:
        return Prediction(add_business_days(shipped, low), add_business_days(shipped, high))
    return Prediction(shipped + timedelta(days=low), shipped + timedelta(days=high))


def from_today(prediction: Prediction, today: date) -> Prediction | None:
    """The part of a range still ahead: none once its last day has passed (the parcel is
    then later than usual, and a guess would only mislead)."""
    if prediction.latest < today:
        return None
    return Prediction(max(prediction.earliest, today), prediction.latest)


def later_than_usual(carrier_estimate: date, prediction: Prediction) -> bool:
    """The carrier's own date is past what our history says is the latest usual day."""
    return carrier_estimate > prediction.latest


def group_transit_days(
    rows: Iterable[tuple[Lane, float]],
) -> dict[Lane, list[float]]:
    """Transit days by lane, each also counted for its country-wide lane."""
    grouped: dict[Lane, list[float]] = {}
    for lane, days in rows:
        grouped.setdefault(lane, []).append(days)
        if lane.area != "*":
            grouped.setdefault(lane.country_wide(), []).append(days)
    return grouped

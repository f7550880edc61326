"""What the merchant learns: a shop's daily figures summed over a period, and the charts
that show them. Pure: the worker's refresh and the page's query hand these functions
plain rows."""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from orderstatus.domain.statuses import EventStatus


class Metric(enum.StrEnum):
    """The figures kept per shop and day (``daily_stats.metric``)."""

    ORDERS = "orders"
    SHIPMENTS = "shipments"
    DELIVERED = "delivered"
    """key "carrier|country|days": deliveries that took that many days."""
    ON_TIME = "on_time"
    """key carrier: delivered by the carrier's first estimate."""
    LATE = "late"
    """key carrier: delivered after the carrier's first estimate."""
    EXCEPTIONS = "exceptions"
    """key: the status (delayed, failure, …)."""
    SENT = "sent"
    """key: the channel."""
    FAILED = "failed"
    """key: the channel."""
    VIEWS = "views"
    CLICKS = "clicks"
    """key: email, sms, or link (a message link without its channel)."""
    DELIVERED_ORDERS = "delivered_orders"
    OPENED_BEFORE = "opened_before"
    """Orders delivered that day whose page had been opened by then."""


EXCEPTION_STATUSES = frozenset(
    {
        EventStatus.DELAYED,
        EventStatus.ATTEMPTED_DELIVERY,
        EventStatus.FAILURE,
        EventStatus.RETURNED_TO_SENDER,
        EventStatus.NO_RECENT_UPDATES,
    }
)

PAGE_KINDS = ("view", "click_email", "click_sms", "click_push", "click")
"""What a page count counts: an opening of the page, and an opening through a link in
an e-mail, a text, a push notification or a message of unknown channel."""

CLICK_KEYS = {"click_email": "email", "click_sms": "sms", "click_push": "push", "click": "link"}

MAX_DAYS = 366
"""The longest period the page sums."""


def delivery_key(carrier: str, country: str, days: int) -> str:
    return f"{carrier}|{country}|{days}"


def on_time(delivered: date, first_estimate: date) -> bool:
    """Delivered on or before the day the carrier first said."""
    return delivered <= first_estimate


def histogram_percentile(counts: Mapping[int, int], fraction: float) -> int:
    """The smallest value with at least ``fraction`` of the observations at or below it
    (the percentile of whole days, from their counts)."""
    total = sum(counts.values())
    if total == 0:
        raise ValueError("no observations")
    needed = fraction * total
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= needed:
            return value
    return max(counts)


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    """Inclusive."""

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def period(start: date | None, end: date | None, today: date, *, default_days: int = 30) -> Period:
    """The period asked for, made sensible: the last ``default_days`` by default, never
    past today, never longer than :data:`MAX_DAYS`, never backwards."""
    end = min(end or today, today)
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    return Period(start, end)


@dataclass(frozen=True, slots=True)
class DeliveryTimes:
    carrier: str
    country: str
    deliveries: int
    median: int
    p90: int


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    orders: int
    shipments: int
    delivered: int
    views: int
    clicks: int


@dataclass(slots=True)
class Summary:
    """A period's figures, ready to show."""

    period: Period
    orders: int = 0
    shipments: int = 0
    on_time: int = 0
    late: int = 0
    views: int = 0
    clicks: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    delivery_times: list[DeliveryTimes] = field(default_factory=list)
    delivered_orders: int = 0
    opened_before: int = 0
    days: list[DayRow] = field(default_factory=list)

    @property
    def on_time_share(self) -> float | None:
        judged = self.on_time + self.late
        return self.on_time / judged if judged else None

    @property
    def opened_share(self) -> float | None:
        return self.opened_before / self.delivered_orders if self.delivered_orders else None


def summarise(rows: Iterable[tuple[date, str, str, int]], span: Period) -> Summary:
    """The period's figures from its daily rows (day, metric, key, value)."""
    summary = Summary(span)
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    times: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    buckets: dict[str, dict[str, int]] = {
        Metric.SENT: summary.sent,
        Metric.FAILED: summary.failed,
        Metric.EXCEPTIONS: summary.exceptions,
        Metric.CLICKS: summary.clicks,
    }
    for day, metric, key, value in rows:
        per_day[day][metric] += value
        if metric == Metric.ORDERS:
            summary.orders += value
        elif metric == Metric.SHIPMENTS:
            summary.shipments += value
        elif metric == Metric.ON_TIME:
            summary.on_time += value
        elif metric == Metric.LATE:
            summary.late += value
        elif metric == Metric.VIEWS:
            summary.views += value
        elif metric == Metric.DELIVERED_ORDERS:
            summary.delivered_orders += value
        elif metric == Metric.OPENED_BEFORE:
            summary.opened_before += value
        elif metric == Metric.DELIVERED:
            carrier, country, days = key.rsplit("|", 2)
            times[(carrier, country)][int(days)] += value
        elif metric in buckets:
            bucket = buckets[metric]
            bucket[key] = bucket.get(key, 0) + value
    summary.delivery_times = sorted(
        (
            DeliveryTimes(
                carrier,
                country,
                sum(counts.values()),
                histogram_percentile(counts, 0.5),
                histogram_percentile(counts, 0.9),
            )
            for (carrier, country), counts in times.items()
        ),
        key=lambda t: (-t.deliveries, t.carrier, t.country),
    )
    summary.days = [
        DayRow(
            day,
            per_day[day][Metric.ORDERS],
            per_day[day][Metric.SHIPMENTS],
            per_day[day][Metric.DELIVERED],
            per_day[day][Metric.VIEWS],
            per_day[day][Metric.CLICKS],
        )
        for day in span.days
    ]
    return summary


# ---- charts: drawn on the server as SVG, each beside a table with the same figures ----


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    top: int
    """The value of the top gridline (a round number at or above the largest bar)."""


def nice_top(largest: int) -> int:
    """A round number at or above ``largest`` for the top of an axis: 1, 2 or 5 times
    a power of ten."""
    if largest <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return step * factor
        step *= 10


def column_chart(
    values: Sequence[tuple[str, int]], *, width: int = 640, height: int = 160, gap: float = 0.2
) -> Chart:
    """Vertical bars, one per value, scaled to the chart's height."""
    top = nice_top(max((v for _, v in values), default=0))
    slot = width / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(values):
        h = height * value / top
        bars.append(
            Bar(index * slot + slot * gap / 2, height - h, slot * (1 - gap), h, label, value)
        )
    return Chart(width, height, bars, top)


def row_chart(values: Sequence[tuple[str, int]], *, width: int = 400, row: int = 24) -> Chart:
    """Horizontal bars, one per value, longest first."""
    ordered = sorted(values, key=lambda v: -v[1])
    top = nice_top(max((v for _, v in ordered), default=0))
    bars = [
        Bar(0, index * row + 3, width * value / top, row - 6, label, value)
        for index, (label, value) in enumerate(ordered)
    ]
    return Chart(width, row * len(ordered), bars, top)

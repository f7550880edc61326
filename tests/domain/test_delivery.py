"""What our own history says: unusual silences and likely delivery days."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderstatus.domain.delivery import (
    DEFAULT_SILENCE,
    MIN_DELIVERIES,
    MIN_GAPS,
    SILENCE_CEILING,
    SILENCE_FLOOR,
    Lane,
    Prediction,
    SilenceRules,
    Stage,
    add_business_days,
    allowed_silence,
    business_days_between,
    counts_business_days,
    from_today,
    is_stalled,
    lane_stats,
    later_than_usual,
    percentile,
    postcode_area,
    predict,
    stage_of,
    transit_days,
    transit_stats,
)
from orderstatus.domain.statuses import EventStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10], 0.95) == 10
    assert percentile(list(range(101)), 0.95) == pytest.approx(95)
    assert percentile([4, 1, 3, 2], 0.0) == 1 and percentile([4, 1, 3, 2], 1.0) == 4
    with pytest.raises(ValueError):
        percentile([], 0.5)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 1))
def test_a_percentile_lies_between_the_extremes(values: list[float], fraction: float) -> None:
    assert min(values) - 1e-6 <= percentile(values, fraction) <= max(values) + 1e-6


def test_silences_default_until_there_is_enough_history() -> None:
    few = [3600.0] * (MIN_GAPS - 1)
    assert allowed_silence(Stage.IN_TRANSIT, few) == timedelta(days=3)
    assert allowed_silence(Stage.OUT_FOR_DELIVERY, few) == timedelta(days=1)
    hourly = [float(h * 3600) for h in range(1, 101)]  # 1 to 100 hours
    assert allowed_silence(Stage.IN_TRANSIT, hourly) == timedelta(hours=95.05)
    assert allowed_silence(Stage.IN_TRANSIT, [60.0] * MIN_GAPS) == SILENCE_FLOOR
    assert allowed_silence(Stage.IN_TRANSIT, [1e8] * MIN_GAPS) == SILENCE_CEILING


def test_only_moving_shipments_stall() -> None:
    rules = SilenceRules({("bring", Stage.IN_TRANSIT): timedelta(hours=30)})
    old = NOW - timedelta(days=4)
    for status in (EventStatus.IN_TRANSIT, EventStatus.CARRIER_PICKED_UP, EventStatus.DELAYED):
        assert stage_of(status) is Stage.IN_TRANSIT
        assert is_stalled(status, "ups", old, NOW, rules)
    for status in (
        EventStatus.DELIVERED,
        EventStatus.LABEL_PRINTED,
        EventStatus.READY_FOR_PICKUP,
        EventStatus.ATTEMPTED_DELIVERY,
        EventStatus.NO_RECENT_UPDATES,
        EventStatus.FAILURE,
    ):
        assert not is_stalled(status, "ups", old, NOW, rules)
    assert not is_stalled(EventStatus.IN_TRANSIT, "ups", None, NOW, rules)
    # Learned per carrier: 31 hours is unusual for this Bring, not for the default.
    quiet = NOW - timedelta(hours=31)
    assert is_stalled(EventStatus.IN_TRANSIT, "bring", quiet, NOW, rules)
    assert not is_stalled(EventStatus.IN_TRANSIT, "ups", quiet, NOW, rules)
    door = NOW - DEFAULT_SILENCE[Stage.OUT_FOR_DELIVERY] - timedelta(minutes=1)
    assert is_stalled(EventStatus.OUT_FOR_DELIVERY, "bring", door, NOW, rules)


def test_business_days() -> None:
    friday, monday = date(2026, 12, 4), date(2026, 12, 7)
    assert business_days_between(friday, monday) == 1
    assert business_days_between(monday, monday) == 0
    assert business_days_between(monday, date(2026, 12, 14)) == 5
    assert add_business_days(friday, 1) == monday
    assert add_business_days(friday, 0) == friday
    assert transit_days(friday, monday, business=False) == 3
    assert transit_days(friday, monday, business=True) == 1
    assert counts_business_days("bring") and not counts_business_days("ups")


@given(st.dates(date(2020, 1, 1), date(2030, 1, 1)), st.integers(0, 60))
def test_adding_business_days_is_the_inverse_of_counting(start: date, days: int) -> None:
    assert business_days_between(start, add_business_days(start, days)) == days


def test_postcode_areas() -> None:
    assert postcode_area("NO", "0155") == "01"
    assert postcode_area("GB", "sw1a 1aa") == "SW"
    assert postcode_area("NO", None) is None and postcode_area("NO", "1") is None


@pytest.mark.parametrize("business", [False, True])
@pytest.mark.parametrize(("mean", "spread"), [(3.0, 1.0), (6.0, 2.0), (2.0, 0.5)])
def test_the_range_lands_within_a_day_of_the_true_one(
    business: bool, mean: float, spread: float
) -> None:
    """Transit times drawn from a known normal distribution: our 10th to 90th
    percentile range is within a day of the distribution's own."""
    rng = random.Random(f"{mean}-{spread}-{business}")
    z90 = 1.2816
    days = [max(0, round(rng.gauss(mean, spread))) for _ in range(400)]
    stats = transit_stats(days)
    assert stats is not None
    assert abs(stats.low - (mean - z90 * spread)) <= 1
    assert abs(stats.high - (mean + z90 * spread)) <= 1
    shipped = date(2026, 12, 7)  # a Monday
    predicted = predict(shipped, stats, business=business)
    assert predicted.earliest <= predicted.latest
    counted = business_days_between if business else (lambda a, b: (b - a).days)
    assert abs(counted(shipped, predicted.earliest) - (mean - z90 * spread)) <= 1.5
    assert abs(counted(shipped, predicted.latest) - (mean + z90 * spread)) <= 1.5


def test_too_little_history_predicts_nothing() -> None:
    assert transit_stats([3.0] * (MIN_DELIVERIES - 1)) is None
    lane = Lane("bring", "NO", "NO", "50")
    few = transit_stats([3.0] * MIN_DELIVERIES)
    assert few is not None
    assert lane_stats(lane, {}) is None
    assert lane_stats(lane, {lane.country_wide(): few}) == few
    own = transit_stats([1.0] * MIN_DELIVERIES)
    assert lane_stats(lane, {lane: own, lane.country_wide(): few}) == own  # type: ignore[dict-item]


def test_a_later_carrier_date_is_later_than_usual() -> None:
    stats = transit_stats([2.0] * 20 + [4.0] * 20)
    assert stats is not None
    predicted = predict(date(2026, 12, 7), stats, business=True)
    assert predicted.latest == date(2026, 12, 11)
    assert later_than_usual(date(2026, 12, 14), predicted)
    assert not later_than_usual(date(2026, 12, 11), predicted)


def test_only_the_days_still_ahead_are_predicted() -> None:
    predicted = Prediction(date(2026, 12, 3), date(2026, 12, 8))
    assert from_today(predicted, date(2026, 12, 1)) == predicted
    assert from_today(predicted, date(2026, 12, 7)) == Prediction(
        date(2026, 12, 7), date(2026, 12, 8)
    )
    assert from_today(predicted, date(2026, 12, 9)) is None

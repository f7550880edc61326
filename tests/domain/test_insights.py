"""The Insights figures: sums over a period, percentiles of whole days, charts."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orderstatus.domain.insights import (
    MAX_DAYS,
    Metric,
    Period,
    column_chart,
    delivery_key,
    histogram_percentile,
    nice_top,
    period,
    row_chart,
    summarise,
)
from orderstatus.domain.links import page_link

TODAY = date(2026, 12, 3)


def test_percentiles_of_whole_days() -> None:
    assert histogram_percentile({1: 1, 2: 1, 3: 1}, 0.5) == 2
    assert histogram_percentile({2: 9, 7: 1}, 0.9) == 2
    assert histogram_percentile({2: 8, 7: 2}, 0.9) == 7


@given(st.lists(st.integers(0, 30), min_size=1, max_size=200))
def test_the_median_of_counts_is_a_median_of_the_values(values: list[int]) -> None:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    median = histogram_percentile(counts, 0.5)
    assert sum(1 for v in values if v <= median) >= len(values) / 2
    assert sum(1 for v in values if v >= median) >= len(values) / 2


def test_periods_are_sensible() -> None:
    assert period(None, None, TODAY) == Period(TODAY - timedelta(days=29), TODAY)
    assert period(TODAY, TODAY - timedelta(days=3), TODAY).start == TODAY - timedelta(days=3)
    assert period(None, TODAY + timedelta(days=9), TODAY).end == TODAY
    long = period(date(2000, 1, 1), None, TODAY)
    assert len(long.days) == MAX_DAYS


def test_a_summary_adds_up_the_days() -> None:
    span = Period(TODAY - timedelta(days=1), TODAY)
    rows = [
        (TODAY, Metric.ORDERS.value, "", 3),
        (span.start, Metric.ORDERS.value, "", 2),
        (TODAY, Metric.ON_TIME.value, "bring", 3),
        (TODAY, Metric.LATE.value, "bring", 1),
        (TODAY, Metric.DELIVERED.value, delivery_key("bring", "NO", 2), 3),
        (TODAY, Metric.DELIVERED.value, delivery_key("bring", "NO", 5), 1),
        (TODAY, Metric.SENT.value, "email", 4),
        (TODAY, Metric.CLICKS.value, "sms", 1),
        (TODAY, Metric.DELIVERED_ORDERS.value, "", 4),
        (TODAY, Metric.OPENED_BEFORE.value, "", 3),
    ]
    summary = summarise(rows, span)
    assert summary.orders == 5 and [d.orders for d in summary.days] == [2, 3]
    assert summary.on_time_share == 0.75 and summary.opened_share == 0.75
    [times] = summary.delivery_times
    assert (times.carrier, times.country, times.deliveries, times.median, times.p90) == (
        "bring",
        "NO",
        4,
        2,
        5,
    )
    assert summary.sent == {"email": 4} and summary.clicks == {"sms": 1}
    assert summarise([], span).on_time_share is None


def test_charts_fit_their_box() -> None:
    assert [nice_top(n) for n in (0, 1, 3, 7, 10, 11, 240)] == [1, 1, 5, 10, 10, 20, 500]
    chart = column_chart([("a", 5), ("b", 10), ("c", 0)], width=300, height=100)
    assert chart.top == 10
    assert [round(b.height) for b in chart.bars] == [50, 100, 0]
    assert all(b.x >= 0 and b.x + b.width <= 300 and b.y >= 0 for b in chart.bars)
    rows = row_chart([("delayed", 1), ("failure", 4)], width=200)
    assert [b.label for b in rows.bars] == ["failure", "delayed"]
    assert rows.bars[0].width <= 200


def test_message_links_say_which_message_they_came_in() -> None:
    assert page_link("https://x", "t", secret_key=None, expires_at=None) == "https://x/orders/t"
    assert page_link("https://x", "t", secret_key=None, expires_at=None, via="s").endswith(
        "/orders/t?via=s"
    )

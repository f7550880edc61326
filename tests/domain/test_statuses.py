from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orderstatus.domain.statuses import (
    Derived,
    EventStatus,
    HeadlineKind,
    StatusPoint,
    Step,
    apply_newer,
    delivery_status,
    derive,
    derive_progress,
    derive_status,
    fulfillment_status,
    headline,
    headline_text,
)

S = EventStatus
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(hours: float, status: EventStatus) -> StatusPoint:
    return StatusPoint(status, T0 + timedelta(hours=hours))


# A small time range makes equal times (ties) common, which is where bugs hide.
points = st.builds(
    StatusPoint,
    st.sampled_from(list(EventStatus)),
    st.integers(min_value=0, max_value=6).map(lambda h: T0 + timedelta(hours=h)),
)


def test_no_events_is_on_its_way() -> None:
    assert derive_status([]) is S.IN_TRANSIT


def test_latest_by_carrier_time_decides_not_arrival_order() -> None:
    events = [at(5, S.OUT_FOR_DELIVERY), at(1, S.IN_TRANSIT), at(0, S.LABEL_PRINTED)]
    assert derive_status(events) is S.OUT_FOR_DELIVERY


def test_equal_times_are_broken_by_step_order() -> None:
    assert derive_status([at(2, S.OUT_FOR_DELIVERY), at(2, S.IN_TRANSIT)]) is S.OUT_FOR_DELIVERY
    assert derive_status([at(2, S.IN_TRANSIT), at(2, S.OUT_FOR_DELIVERY)]) is S.OUT_FOR_DELIVERY


def test_delivered_holds_against_later_scans() -> None:
    assert derive_status([at(1, S.DELIVERED), at(2, S.IN_TRANSIT)]) is S.DELIVERED
    assert derive_status([at(1, S.PICKED_UP), at(3, S.OUT_FOR_DELIVERY)]) is S.PICKED_UP


def test_a_later_failure_or_return_overrides_delivered() -> None:
    assert derive_status([at(1, S.DELIVERED), at(2, S.FAILURE)]) is S.FAILURE
    assert derive_status([at(1, S.DELIVERED), at(2, S.RETURNED_TO_SENDER)]) is S.RETURNED_TO_SENDER
    # Not when it happened before the delivery.
    assert derive_status([at(0, S.FAILURE), at(1, S.DELIVERED)]) is S.DELIVERED


def test_an_attempt_then_a_new_scan_moves_on() -> None:
    events = [at(1, S.OUT_FOR_DELIVERY), at(2, S.ATTEMPTED_DELIVERY), at(20, S.OUT_FOR_DELIVERY)]
    assert derive_status(events) is S.OUT_FOR_DELIVERY


@given(st.lists(points, max_size=12), st.randoms(use_true_random=False))
def test_any_permutation_or_duplication_gives_the_same_status(
    events: list[StatusPoint], rnd: object
) -> None:
    expected = derive_status(events)
    shuffled = list(events) + [e for e in events if hash(e) % 2 == 0]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert derive_status(shuffled) is expected


@given(st.lists(points, max_size=12))
def test_applying_events_one_by_one_agrees_with_the_whole_derivation(
    events: list[StatusPoint],
) -> None:
    """What the service does as events arrive: the quick path, or derive again."""
    state = Derived(S.IN_TRANSIT, None)
    seen: list[StatusPoint] = []
    for point in events:
        seen.append(point)
        state = apply_newer(state, point) or derive(seen)
    assert state.status is derive_status(events)


def test_progress_marks_steps_with_their_times() -> None:
    events = [at(1, S.CARRIER_PICKED_UP), at(10, S.OUT_FOR_DELIVERY), at(12, S.DELIVERED)]
    progress = derive_progress(events, ordered_at=T0 - timedelta(days=1), fulfilled_at=T0)
    assert progress.step is Step.DELIVERED
    assert progress.alert is None
    assert progress.reached_at == {
        Step.CONFIRMED: T0 - timedelta(days=1),
        Step.IN_TRANSIT: T0 + timedelta(hours=1),
        Step.OUT_FOR_DELIVERY: T0 + timedelta(hours=10),
        Step.DELIVERED: T0 + timedelta(hours=12),
    }


def test_a_step_is_dated_by_the_first_event_that_reached_it_else_the_shipments_creation() -> None:
    """The bar never contradicts the updates below it: "On its way" is dated by the first
    update (a label counts: the parcel is fulfilled), not by when staff pressed a button."""
    created = T0 - timedelta(hours=2)
    labelled = [at(2, S.LABEL_PURCHASED), at(6, S.CARRIER_PICKED_UP), at(9, S.IN_TRANSIT)]
    progress = derive_progress(labelled, ordered_at=T0 - timedelta(days=1), fulfilled_at=created)
    assert progress.reached_at[Step.IN_TRANSIT] == T0 + timedelta(hours=2)
    quiet = derive_progress([], ordered_at=T0 - timedelta(days=1), fulfilled_at=created)
    assert quiet.reached_at == {Step.CONFIRMED: T0 - timedelta(days=1), Step.IN_TRANSIT: created}
    # Straight to the door (a local delivery entered by hand): on its way since created.
    straight = derive_progress([at(5, S.DELIVERED)], ordered_at=T0, fulfilled_at=created)
    assert straight.reached_at[Step.IN_TRANSIT] == created
    assert straight.reached_at[Step.DELIVERED] == T0 + timedelta(hours=5)
    # Arrival order does not matter, only the carrier's times.
    shuffled = derive_progress(labelled[::-1], ordered_at=T0, fulfilled_at=created)
    assert shuffled.reached_at[Step.IN_TRANSIT] == T0 + timedelta(hours=2)


def test_an_alert_sits_on_the_step_where_it_happened() -> None:
    events = [at(1, S.OUT_FOR_DELIVERY), at(3, S.ATTEMPTED_DELIVERY)]
    progress = derive_progress(events, ordered_at=T0, fulfilled_at=T0)
    assert progress.step is Step.OUT_FOR_DELIVERY
    assert progress.alert is S.ATTEMPTED_DELIVERY
    assert Step.DELIVERED not in progress.reached_at


def test_going_back_to_the_depot_undoes_the_later_step() -> None:
    events = [at(1, S.OUT_FOR_DELIVERY), at(5, S.IN_TRANSIT), at(30, S.OUT_FOR_DELIVERY)]
    progress = derive_progress(events, ordered_at=T0, fulfilled_at=T0)
    assert progress.reached_at[Step.OUT_FOR_DELIVERY] == T0 + timedelta(hours=30)


def test_fulfillment_status_from_quantities() -> None:
    assert fulfillment_status(3, 0) == "unfulfilled"
    assert fulfillment_status(3, 2) == "partial"
    assert fulfillment_status(3, 3) == "fulfilled"


def test_delivery_status_is_the_most_urgent_and_delivered_only_when_all_are() -> None:
    assert delivery_status([]) is None
    assert delivery_status([S.DELIVERED, S.DELIVERED]) is S.DELIVERED
    assert delivery_status([S.DELIVERED, S.IN_TRANSIT]) is S.IN_TRANSIT
    assert delivery_status([S.OUT_FOR_DELIVERY, S.ATTEMPTED_DELIVERY]) is S.ATTEMPTED_DELIVERY


def test_headlines() -> None:
    assert headline_text(headline([], unshipped_items=True)) == "Order confirmed"
    assert headline_text(headline([S.IN_TRANSIT], unshipped_items=False)) == "On its way"
    some = headline([S.DELIVERED, S.DELIVERED, S.IN_TRANSIT], unshipped_items=False)
    assert some.kind is HeadlineKind.SOME_DELIVERED
    assert headline_text(some) == "2 of 3 shipments delivered"
    assert headline_text(headline([S.DELIVERED] * 3, unshipped_items=False)) == "Delivered"
    attention = headline([S.DELIVERED, S.ATTEMPTED_DELIVERY], unshipped_items=False)
    assert headline_text(attention) == "Delivery attempted (1 of 2 shipments delivered)"
    assert headline_text(headline([S.OUT_FOR_DELIVERY, S.IN_TRANSIT], unshipped_items=False)) == (
        "Out for delivery"
    )


def test_silence_is_its_own_side_state_on_the_step_where_it_fell() -> None:
    events = [at(1, S.IN_TRANSIT), at(700, S.NO_RECENT_UPDATES)]
    progress = derive_progress(events, ordered_at=T0, fulfilled_at=T0)
    assert progress.status is S.NO_RECENT_UPDATES
    assert progress.step is Step.IN_TRANSIT
    assert progress.alert is S.NO_RECENT_UPDATES
    # News after the silence moves on as usual.
    assert derive_status([*events, at(701, S.OUT_FOR_DELIVERY)]) is S.OUT_FOR_DELIVERY


def test_silence_never_hides_a_delivery_a_loss_or_a_return() -> None:
    for status in (S.DELIVERED, S.PICKED_UP, S.FAILURE, S.RETURNED_TO_SENDER):
        assert derive_status([at(1, status), at(700, S.NO_RECENT_UPDATES)]) is status


@given(st.lists(points, max_size=8))
def test_later_silence_keeps_a_final_or_failed_state_and_replaces_any_other(
    events: list[StatusPoint],
) -> None:
    before = derive_status(events)
    after = derive_status([*events, at(100, S.NO_RECENT_UPDATES)])
    kept = {S.DELIVERED, S.PICKED_UP, S.FAILURE, S.RETURNED_TO_SENDER}
    assert after is (before if before in kept else S.NO_RECENT_UPDATES)


def test_silence_is_not_news_for_the_order_headline() -> None:
    quiet = headline([S.NO_RECENT_UPDATES], unshipped_items=False)
    assert headline_text(quiet) == "No recent updates"
    mixed = headline([S.DELIVERED, S.NO_RECENT_UPDATES], unshipped_items=False)
    assert mixed.kind is HeadlineKind.SOME_DELIVERED
    assert delivery_status([S.NO_RECENT_UPDATES, S.OUT_FOR_DELIVERY]) is S.NO_RECENT_UPDATES
    assert delivery_status([S.NO_RECENT_UPDATES, S.ATTEMPTED_DELIVERY]) is S.ATTEMPTED_DELIVERY

"""The notification rules of DESIGN §4: which messages, on which channel, to whom."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderstatus.domain.notifications import (
    Channel,
    Contacts,
    Kind,
    Planned,
    Preferences,
    delivered_before_known,
    fit_sms,
    idempotency_key,
    is_e164,
    kind_for_change,
    kinds_off,
    parse_kinds,
    plan,
    sms_length,
)
from orderstatus.domain.statuses import EventStatus

EMAIL = "kari@example.com"
PHONE = "+4741234567"
OPTED = "updates@example.com"
SMS_ALSO = Preferences(sms_confirmation_with_email=True)

E = Channel.EMAIL
S = Channel.SMS


@pytest.mark.parametrize(
    ("contacts", "preferences", "kind", "expected"),
    [
        (Contacts(EMAIL, None), Preferences(), Kind.ORDER_CONFIRMATION, [(E, EMAIL)]),
        (Contacts(EMAIL, None), Preferences(), Kind.DELIVERED, [(E, EMAIL)]),
        (Contacts(None, PHONE), Preferences(), Kind.ORDER_CONFIRMATION, [(S, PHONE)]),
        (Contacts(None, PHONE), Preferences(), Kind.SHIPPING_CONFIRMATION, []),
        (Contacts(None, PHONE), SMS_ALSO, Kind.OUT_FOR_DELIVERY, []),
        (Contacts(None, PHONE, OPTED), Preferences(), Kind.OUT_FOR_DELIVERY, [(E, OPTED)]),
        (Contacts(None, PHONE, OPTED), Preferences(), Kind.ORDER_CONFIRMATION, [(S, PHONE)]),
        (Contacts(EMAIL, PHONE), Preferences(), Kind.ORDER_CONFIRMATION, [(E, EMAIL)]),
        (Contacts(EMAIL, PHONE), SMS_ALSO, Kind.ORDER_CONFIRMATION, [(E, EMAIL), (S, PHONE)]),
        (Contacts(EMAIL, PHONE), SMS_ALSO, Kind.SHIPPING_UPDATE, [(E, EMAIL)]),
        (
            Contacts(EMAIL, None),
            Preferences(kinds_off=frozenset({Kind.DELIVERED})),
            Kind.DELIVERED,
            [],
        ),
        (
            Contacts(None, PHONE),
            Preferences(kinds_off=frozenset({Kind.ORDER_CONFIRMATION})),
            Kind.ORDER_CONFIRMATION,
            [],
        ),
    ],
)
def test_the_channel_follows_the_contact_given_at_checkout(
    contacts: Contacts,
    preferences: Preferences,
    kind: Kind,
    expected: list[tuple[Channel, str]],
) -> None:
    assert plan(kind, contacts, preferences) == tuple(Planned(kind, c, r) for c, r in expected)


contacts = st.builds(
    Contacts,
    st.sampled_from([None, EMAIL]),
    st.sampled_from([None, PHONE]),
    st.sampled_from([None, OPTED]),
)
preferences = st.builds(Preferences, st.frozensets(st.sampled_from(list(Kind))), st.booleans())


@given(st.sampled_from(list(Kind)), contacts, preferences)
def test_no_text_but_the_confirmation_and_nothing_turned_off(
    kind: Kind, who: Contacts, prefs: Preferences
) -> None:
    messages = plan(kind, who, prefs)
    channels = [m.channel for m in messages]
    assert len(channels) == len(set(channels)), "one message per channel"
    assert all(m.recipient in (who.email, who.phone, who.update_email) for m in messages)
    if kind is not Kind.ORDER_CONFIRMATION:
        assert Channel.SMS not in channels
    if kind in prefs.kinds_off:
        assert messages == ()
    elif who.email:
        assert Planned(kind, Channel.EMAIL, who.email) in messages
        if not (who.phone and prefs.sms_confirmation_with_email):
            assert channels == [Channel.EMAIL]


@pytest.mark.parametrize(
    ("previous", "new", "kind"),
    [
        ("in_transit", "out_for_delivery", Kind.OUT_FOR_DELIVERY),
        ("out_for_delivery", "delivered", Kind.DELIVERED),
        ("ready_for_pickup", "picked_up", Kind.DELIVERED),
        ("in_transit", "ready_for_pickup", Kind.READY_FOR_PICKUP),
        ("in_transit", "delayed", Kind.SHIPPING_UPDATE),
        ("out_for_delivery", "attempted_delivery", Kind.SHIPPING_UPDATE),
        ("in_transit", "failure", Kind.SHIPPING_UPDATE),
        ("delivered", "returned_to_sender", Kind.SHIPPING_UPDATE),
        ("label_printed", "in_transit", None),
        ("in_transit", "carrier_picked_up", None),
        ("delayed", "in_transit", None),
        ("attempted_delivery", "out_for_delivery", Kind.OUT_FOR_DELIVERY),
        ("in_transit", "no_recent_updates", Kind.NO_RECENT_UPDATES),
        ("delayed", "no_recent_updates", Kind.NO_RECENT_UPDATES),
        ("no_recent_updates", "in_transit", None),
        ("no_recent_updates", "out_for_delivery", Kind.OUT_FOR_DELIVERY),
    ],
)
def test_a_status_change_calls_for_one_kind(previous: str, new: str, kind: Kind | None) -> None:
    assert kind_for_change(EventStatus(previous), EventStatus(new)) is kind


@given(st.sampled_from(list(EventStatus)))
def test_an_unchanged_status_says_nothing(status: EventStatus) -> None:
    assert kind_for_change(status, status) is None


def test_a_delivery_before_the_shipment_reached_us_is_history() -> None:
    known = datetime(2026, 11, 20, 12, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert delivered_before_known(EventStatus.DELIVERED, known - hour, known)
    assert delivered_before_known(EventStatus.PICKED_UP, known - hour, known)
    assert not delivered_before_known(EventStatus.DELIVERED, known + hour, known)
    assert not delivered_before_known(EventStatus.OUT_FOR_DELIVERY, known - hour, known)


@given(
    st.integers(1, 10**9),
    st.none() | st.integers(1, 10**9),
    st.sampled_from(list(Kind)),
    st.sampled_from(list(Channel)),
)
def test_the_idempotency_key_is_one_per_message_and_fits_a_message_id(
    order_id: int, fulfillment_id: int | None, kind: Kind, channel: Channel
) -> None:
    key = idempotency_key(order_id, fulfillment_id, kind, channel)
    assert re.fullmatch(r"[A-Za-z0-9_.]+", key)
    assert key == idempotency_key(order_id, fulfillment_id, kind, channel)
    other = Channel.SMS if channel is Channel.EMAIL else Channel.EMAIL
    assert key != idempotency_key(order_id, fulfillment_id, kind, other)


def test_unknown_kinds_are_named() -> None:
    assert parse_kinds(["delivered"]) == {Kind.DELIVERED}
    with pytest.raises(ValueError, match="unknown notification kinds nope, zzz"):
        parse_kinds(["zzz", "delivered", "nope"])


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("Følg den her: æøå ÆØÅ" + "a" * 139, "gsm7", 1),
        ("€" * 80, "gsm7", 1),
        ("€" * 81, "gsm7", 2),
        ("ł" * 70, "ucs2", 1),
        ("ł" * 71, "ucs2", 2),
        ("😀" * 35, "ucs2", 1),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("a" * 152 + "€" + "a" * 152, "gsm7", 3),  # an escape is never split across parts
        ("ł" * 66 + "😀" + "ł" * 66, "ucs2", 3),  # nor is a surrogate pair
        ("a" * 158 + "€", "gsm7", 1),
    ],
)
def test_sms_length_counts_as_phone_networks_do(text: str, encoding: str, segments: int) -> None:
    length = sms_length(text)
    assert (length.encoding, length.segments) == (encoding, segments)


def test_typography_does_not_cost_a_segment() -> None:
    fancy = (
        "Fjord\u2019s: \u201cTakk\u201d \u2013 \u00abbestillingen\u00bb  er\n på vei\u2026 "
        + "a" * 100
    )
    tidy = fit_sms(fancy)
    assert sms_length(fancy).encoding == "ucs2"
    assert sms_length(tidy).encoding == "gsm7" and sms_length(tidy).segments == 1
    assert tidy.startswith('Fjord\'s: "Takk" - "bestillingen" er på vei...')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Sámi Duodji: Takk for bestillingen #1001! Følg den her: https://status.example/o",
            "Sami Duodji: Takk for bestillingen #1001! Følg den her: https://status.example/o",
        ),
        ("Łódź Ceramika 😀 order #A-ž1 " + "a" * 60, "Lodz Ceramika order #A-z1 " + "a" * 60),
        ("Blåbær & Ærlig Øl: " + "x" * 120 + " ŋ", "Blåbær & Ærlig Øl: " + "x" * 120 + " ng"),
        ("Sámi Duodji: takk!", "Sámi Duodji: takk!"),  # one segment either way: kept as written
    ],
)
def test_letters_outside_gsm7_are_written_plainly_when_they_would_cost_a_segment(
    text: str, expected: str
) -> None:
    assert sms_length(text).segments > 1 or text == expected
    fitted = fit_sms(text)
    assert fitted == expected
    assert sms_length(fitted).segments == 1


@pytest.mark.parametrize(
    ("number", "ok"),
    [("+4741234567", True), ("4741234567", False), ("+047123", False), ("+1 415 555", False)],
)
def test_recipients_are_e164(number: str, ok: bool) -> None:
    assert is_e164(number) is ok


@given(
    st.sampled_from(list(Kind)),
    contacts,
    preferences,
    st.lists(st.integers(1, 99).map(str), unique=True, max_size=3),
)
def test_every_kind_also_goes_to_each_device_unless_turned_off(
    kind: Kind, who: Contacts, prefs: Preferences, devices: list[str]
) -> None:
    with_devices = Contacts(who.email, who.phone, who.update_email, tuple(devices))
    messages = plan(kind, with_devices, prefs)
    pushes = [m for m in messages if m.channel is Channel.PUSH]
    others = [m for m in messages if m.channel is not Channel.PUSH]
    assert others == list(plan(kind, who, prefs)), "devices change no other channel"
    if kind in prefs.kinds_off:
        assert pushes == []
    else:
        assert pushes == [Planned(kind, Channel.PUSH, d) for d in devices]
    keys = {idempotency_key(1, 2, m.kind, m.channel, m.recipient) for m in messages}
    assert len(keys) == len(messages), "one outbox row per device"


def test_no_recent_updates_is_off_until_the_merchant_turns_it_on() -> None:
    stored_off: frozenset[Kind] = frozenset({Kind.DELIVERED})
    assert kinds_off(stored_off, ()) == {Kind.DELIVERED, Kind.NO_RECENT_UPDATES}
    assert kinds_off(stored_off, {Kind.NO_RECENT_UPDATES}) == {Kind.DELIVERED}
    # A kind that is on by default cannot be "turned on" into an opt-in.
    assert kinds_off((), {Kind.DELIVERED}) == {Kind.NO_RECENT_UPDATES}
    contacts = Contacts(EMAIL, None)
    quiet = Kind.NO_RECENT_UPDATES
    assert plan(quiet, contacts, Preferences(kinds_off=kinds_off((), ()))) == ()
    assert plan(quiet, contacts, Preferences(kinds_off=kinds_off((), {quiet}))) == (
        Planned(quiet, Channel.EMAIL, EMAIL),
    )

"""The admin's pure rules: sessions, searches, colours, logos, notes and the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from orderstatus.domain.admin import (
    SessionCheck,
    TrackingInput,
    check_manual_time,
    check_session,
    chosen_message_statuses,
    expand_message_statuses,
    parse_search,
)
from orderstatus.domain.branding import (
    BrandingInput,
    check_accent,
    contrast_with_white,
    normalize_color,
    sniff_image,
)
from orderstatus.domain.timeline import (
    ActivityFact,
    EntryType,
    EventFact,
    NotificationFact,
    build_timeline,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("signed_ago", "expires_in", "expected"),
    [
        (timedelta(minutes=1), timedelta(days=6), SessionCheck.VALID),
        (timedelta(minutes=6), timedelta(days=6), SessionCheck.REFRESH),
        (timedelta(hours=11, minutes=59), timedelta(days=6), SessionCheck.REFRESH),
        (timedelta(hours=12, seconds=1), timedelta(days=6), SessionCheck.EXPIRED),
        (timedelta(minutes=1), timedelta(0), SessionCheck.EXPIRED),
    ],
)
def test_sessions_end_when_idle_or_too_old(
    signed_ago: timedelta, expires_in: timedelta, expected: SessionCheck
) -> None:
    assert (
        check_session(signed_at=NOW - signed_ago, expires_at=NOW + expires_in, now=NOW) is expected
    )


def test_a_search_keeps_every_reading_that_parses() -> None:
    terms = parse_search("  #1001 ")
    assert terms is not None and terms.number == "1001" and terms.name is None
    email = parse_search("Kari@Example.com")
    assert email is not None and email.email == "kari@example.com" and email.phone is None
    phone = parse_search("412 34 567", region="NO")
    assert phone is not None and phone.phone == "+4741234567"
    assert phone.tracking_number == "41234567"
    tracking = parse_search("1z999aa1 0123456784")
    assert tracking is not None and tracking.tracking_number == "1Z999AA10123456784"
    name = parse_search("Ola Østby")
    assert name is not None and name.name == "Ola Østby" and name.number is None
    assert parse_search("   ") is None


def test_the_accent_colour_must_carry_white_text() -> None:
    assert normalize_color("1F6") == "#11ff66"
    assert check_accent("#1F6F5C") == "#1f6f5c"
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#ffffff"), 1) == 1.0
    for light in ("#ffee88", "#77aaff", "#ffffff"):
        with pytest.raises(ValueError, match="too light"):
            check_accent(light)
    with pytest.raises(ValueError):
        normalize_color("green")
    with pytest.raises(ValidationError):
        BrandingInput(name="A", accent_color="#1f6f5c", website_url="javascript:alert(1)")


def test_logos_are_known_by_their_bytes() -> None:
    assert sniff_image(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff_image(b"\xff\xd8\xff\xe0....") == "jpg"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert sniff_image(b"GIF89a") is None


def test_message_statuses_cover_every_delivery_status_of_a_step() -> None:
    stored = expand_message_statuses(["delivered", "in_transit", "delivered"])
    assert stored == [
        "in_transit",
        "carrier_picked_up",
        "label_purchased",
        "label_printed",
        "delivered",
        "picked_up",
    ]
    assert chosen_message_statuses(stored) == ["in_transit", "delivered"]
    assert expand_message_statuses([]) is None
    with pytest.raises(ValueError, match="teleported"):
        expand_message_statuses(["teleported"])


def test_another_carrier_needs_a_link_and_times_are_not_ahead() -> None:
    with pytest.raises(ValidationError):
        TrackingInput(carrier="other", tracking_number="HB-1")
    with pytest.raises(ValidationError):
        TrackingInput(carrier="Other", tracking_number="HB-1")
    linked = TrackingInput(carrier="other", tracking_url="https://hurtigbud.example/HB-1")
    assert linked.tracking_url == "https://hurtigbud.example/HB-1"
    assert check_manual_time(NOW + timedelta(minutes=4), NOW) == NOW + timedelta(minutes=4)
    with pytest.raises(ValueError, match="future"):
        check_manual_time(NOW + timedelta(minutes=6), NOW)


def test_the_timeline_merges_and_names_who_did_what() -> None:
    t = [NOW + timedelta(minutes=m) for m in range(6)]
    timeline = build_timeline(
        activities=[
            ActivityFact(1, "order_created", "api", "Order #1001 placed", None, t[0]),
            ActivityFact(2, "manual_event", "anna@shop.example", "by hand", {"event_id": 7}, t[3]),
            ActivityFact(3, "notification_held", "system", "kept", {"notification_id": 9}, t[2]),
            ActivityFact(4, "notification_sent", "system", "sent", {"notification_id": 9}, t[4]),
        ],
        events=[
            EventFact(7, 70, "delivered", t[1], "At the door", "Oslo", "NO", "manual"),
        ],
        notifications=[
            NotificationFact(
                9, None, "order_confirmation", "email", "k@x.example", "sent", None, t[0], t[4]
            ),
            NotificationFact(
                10, 70, "delivered", "email", "k@x.example", "pending", None, t[5], None
            ),
        ],
        shipment_numbers={70: 1},
    )
    assert [(e.type, e.at) for e in timeline] == [
        (EntryType.NOTIFICATION, t[5]),
        (EntryType.ACTIVITY, t[4]),
        (EntryType.ACTIVITY, t[2]),
        (EntryType.EVENT, t[1]),
        (EntryType.ACTIVITY, t[0]),
    ]
    pending, sent, held, event, placed = timeline
    assert pending.shipment == 1 and pending.status == "pending"
    assert sent.notification_id == 9 and sent.status == "sent"
    assert held.notification_id is None
    assert event.actor == "anna@shop.example" and event.place == "Oslo, NO"
    assert placed.actor == "api"

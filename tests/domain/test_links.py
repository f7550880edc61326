"""Pre-authenticated page links and the "E-mail or phone" field's readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderstatus.domain.inputs import contact_forms, locale_country
from orderstatus.domain.links import expiry, link_key, link_opens, page_link

SECRET = "s" * 40
TOKEN = "R7OlfoMXnnWWdd8RAuB2JCAEdzT4K7Np"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_link_opens_its_order_until_it_expires() -> None:
    key = link_key(SECRET, TOKEN, NOW + timedelta(days=30))
    assert link_opens(SECRET, TOKEN, key, NOW)
    assert link_opens(SECRET, TOKEN, key, NOW + timedelta(days=30))
    assert not link_opens(SECRET, TOKEN, key, NOW + timedelta(days=31))
    assert not link_opens(SECRET, TOKEN + "x", key, NOW)
    assert not link_opens("t" * 40, TOKEN, key, NOW)


def test_the_key_is_short() -> None:
    link = page_link("https://s.example", TOKEN, secret_key=SECRET, expires_at=NOW)
    assert link.startswith(f"https://s.example/orders/{TOKEN}?key=")
    assert len(link.partition("?key=")[2]) <= 20


@pytest.mark.parametrize("key", ["", ".", "abc", "zzzzzzzzz.x", "g1j.", "G1J.abc", "g1j.é"])
def test_nonsense_keys_open_nothing(key: str) -> None:
    assert not link_opens(SECRET, TOKEN, key, NOW)


def test_no_expiry_makes_a_plain_link() -> None:
    assert expiry(NOW, 0) is None
    assert page_link("https://s.example", TOKEN, secret_key=SECRET, expires_at=None) == (
        f"https://s.example/orders/{TOKEN}"
    )


@pytest.mark.parametrize("typed", ["912 34 567", "+47 91234567", "0047 912 34 567", "91234567"])
def test_a_phone_number_reads_as_people_write_it(typed: str) -> None:
    assert contact_forms(typed, ["NO"]) == {"+4791234567"}


@pytest.mark.parametrize("typed", ["", "   ", "hello", "12", "a@", "@b.example", "x" * 400])
def test_what_is_neither_reads_as_nothing(typed: str) -> None:
    assert contact_forms(typed, ["NO"]) == frozenset()


def test_an_email_reads_normalised() -> None:
    assert contact_forms(" Kari@Example.COM ", ["NO"]) == {"kari@example.com"}


def test_a_shops_language_names_its_country() -> None:
    assert [locale_country(x) for x in ("nb", "nb-NO", "en-GB", "sv", None, "xx")] == [
        "NO",
        "NO",
        "GB",
        "SE",
        None,
        None,
    ]

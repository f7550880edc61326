"""Money as customers read it: CLDR's form for their language, never a code glued on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel import Locale

from orderstatus.domain.money import format_money

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "written"),
    [
        ("1788", "NOK", "en", f"NOK{NBSP}1,788.00"),
        ("1788", "NOK", "nb", f"1{NBSP}788,00{NBSP}kr"),
        ("1788", "USD", "en", "$1,788.00"),
        ("1788", "USD", "en_GB", "US$1,788.00"),
        ("1788", "JPY", "en", "¥1,788"),
        ("99.6", "CHF", "en", f"CHF{NBSP}99.60"),
        ("-50", "SEK", "en", f"-SEK{NBSP}50.00"),
        ("-50", "NOK", "nb", f"\u221250,00{NBSP}kr"),
        ("1788", "NOK", "de", f"1.788,00{NBSP}NOK"),
        ("1788", "EUR", "nb", f"1{NBSP}788,00{NBSP}€"),
    ],
)
def test_money_is_written_as_cldr_writes_it(
    amount: str, currency: str, locale: str, written: str
) -> None:
    assert format_money(Decimal(amount), currency, Locale.parse(locale)) == written

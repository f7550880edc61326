"""Currencies and amounts: exact decimals, never more digits than the currency has."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from babel import Locale
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    list_currencies,
)

CURRENCIES = frozenset(c for c in list_currencies() if len(c) == 3 and c.isalpha())
"""ISO 4217 codes."""


def normalize_currency(code: str) -> str:
    """An ISO 4217 code in upper case, or ValueError."""
    value = code.strip().upper()
    if value not in CURRENCIES:
        raise ValueError(f"unknown currency code {code!r}")
    return value


MAX_INTEGER_DIGITS = 12


def amount_pattern(decimals: int) -> str:
    """Amounts as text with at most ``decimals`` decimals (trailing zeros aside)."""
    fraction = rf"(\.[0-9]{{0,{decimals}}}0*)?" if decimals else r"(\.0*)?"
    return rf"^0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}{fraction}$"


def precision(currency: str) -> int:
    """How many decimals the currency's minor unit has (JPY 0, EUR 2, KWD 3)."""
    return int(get_currency_precision(currency))


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """The amount quantised to the currency, refusing negatives or extra decimals."""
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must not be negative")
    digits = precision(currency)
    quantum = Decimal(1).scaleb(-digits)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        raise ValueError(f"{currency} amounts have at most {digits} decimals")
    if amount >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ValueError("is too large")
    return amount.quantize(quantum)


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a plain decimal string with the currency's decimals ("12.50")."""
    digits = precision(currency)
    return str(amount.quantize(Decimal(1).scaleb(-digits)))


@dataclass(frozen=True, slots=True)
class OrderTotals:
    """An order's amounts. With ``taxes_included`` the tax is part of the prices (most of
    Europe), so it is shown as "including …" and not added; otherwise it adds."""

    subtotal: Decimal
    shipping: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    taxes_included: bool

    @property
    def expected_total(self) -> Decimal:
        added_tax = Decimal(0) if self.taxes_included else self.tax
        return self.subtotal + self.shipping - self.discount + added_tax


def totals_errors(totals: OrderTotals, currency: str) -> dict[str, str]:
    """What does not add up, by field: the total must be subtotal + shipping - discount
    (+ tax when it is not included), exactly to the currency's minor unit."""
    errors: dict[str, str] = {}
    if totals.taxes_included and totals.tax > totals.total:
        errors["tax"] = (
            f"is more than the total it is included in ({format_amount(totals.total, currency)})"
        )
    expected = totals.expected_total
    if totals.total != expected:
        rule = "subtotal + shipping - discount" + ("" if totals.taxes_included else " + tax")
        included = " (taxes included)" if totals.taxes_included else ""
        errors["total"] = (
            f"must be {rule} = {format_amount(expected, currency)}{included},"
            f" not {format_amount(totals.total, currency)}"
        )
    return errors


_SPACE = "\u00a0"


def _letter_like(char: str) -> bool:
    """CLDR's currencyMatch ``[[:^S:]&[:^Z:]]``: neither a symbol nor a space."""
    return unicodedata.category(char)[0] not in "SZ"


def format_money(amount: Decimal, currency: str, locale: Locale) -> str:
    """The amount as CLDR writes money in the locale: "NOK 1,788.00" in English,
    "1 788,00 kr" in Norwegian, "$1,788.00" for dollars in English.

    Babel applies the locale's pattern but neither its minus sign nor CLDR's currency
    spacing (the same in every locale): a no-break space goes between digits and a
    currency symbol that ends, on the digits' side, in a letter ("NOK1,788.00" would
    otherwise read as one word).
    """
    text = format_currency(amount, currency, locale=locale)
    minus = locale.number_symbols.get("latn", {}).get("minusSign", "-")
    if amount < 0 and minus != "-":
        # The "-" of a pattern stands for the locale's minus sign (U+2212 in Norwegian),
        # which Babel leaves as it is.
        text = text.replace("-", minus, 1)
    symbol = get_currency_symbol(currency, locale=locale)
    at = text.find(symbol) if symbol else -1
    if at < 0:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and _letter_like(symbol[-1]):
        text = text[:end] + _SPACE + text[end:]
    if at > 0 and text[at - 1].isdigit() and _letter_like(symbol[0]):
        text = text[:at] + _SPACE + text[at:]
    return text

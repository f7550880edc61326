"""Currencies and amounts: exact decimals, never more digits than the currency has."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies

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

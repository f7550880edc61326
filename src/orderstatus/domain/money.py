"""Currencies and amounts: exact decimals, never more digits than the currency has."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies

_CURRENCIES = frozenset(list_currencies())


def normalize_currency(code: str) -> str:
    """An ISO 4217 code in upper case, or ValueError."""
    value = code.strip().upper()
    if value not in _CURRENCIES or len(value) != 3:
        raise ValueError(f"unknown currency code {code!r}")
    return value


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
    if amount >= Decimal(10) ** 12:
        raise ValueError("is too large")
    return amount.quantize(quantum)


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a plain decimal string with the currency's decimals ("12.50")."""
    digits = precision(currency)
    return str(amount.quantize(Decimal(1).scaleb(-digits)))

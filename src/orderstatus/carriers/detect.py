"""Guess the carrier from a tracking number, so the admin form can pre-select it.

A guess is only a suggestion: many formats overlap (a 22-digit number starting 92 is valid
for both USPS and FedEx SmartPost) and the pattern data ages, so an unrecognised number means
"unknown", never "invalid", and nothing here raises.
"""

from __future__ import annotations

import logging
import re

import tracking_numbers

from orderstatus.carriers.registry import Carrier, get_carrier

log = logging.getLogger(__name__)

MAX_LENGTH = 40
"""Longer than any format we recognise; longer input is refused before any pattern runs."""

_SEPARATORS = re.compile(r"[\s\-]+")
_S10 = re.compile(r"[A-Z]{2}([0-9]{8})([0-9])([A-Z]{2})")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

# The posting operator's country (the S10 suffix) to the national post that tracks it.
_S10_POSTS: dict[str, str] = {
    "AT": "austrian_post",
    "AU": "australia_post",
    "BE": "bpost",
    "CA": "canada_post",
    "DE": "deutsche_post",
    "DK": "postnord",
    "ES": "correos",
    "FI": "posti",
    "FR": "la_poste",
    "GB": "royal_mail",
    "IE": "an_post",
    "IT": "poste_italiane",
    "JP": "japan_post",
    "NL": "postnl",
    "NO": "posten_norge",
    "NZ": "nz_post",
    "PL": "poczta_polska",
    "SE": "postnord",
    "US": "usps",
}

# The pattern library's courier codes to ours; its own S10 entry is skipped because S10
# numbers are routed by country here, and couriers we do not list are left out.
_LIBRARY_COURIERS: dict[str, str] = {
    "dhl": "dhl_express",
    "fedex": "fedex",
    "ontrac": "ontrac",
    "ups": "ups",
    "usps": "usps",
}


def normalize(number: str) -> str:
    """The number as carriers print it with the spaces and dashes of a label taken out."""
    return _SEPARATORS.sub("", number).upper()


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number."""
    total = sum(int(digit) * weight for digit, weight in zip(serial, _S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _s10_carrier(number: str) -> Carrier | None:
    match = _S10.fullmatch(number)
    if match is None:
        return None
    serial, check, country = match.groups()
    if s10_check_digit(serial) != int(check):
        return None
    code = _S10_POSTS.get(country)
    return get_carrier(code) if code else None


def _library_codes(number: str) -> list[str]:
    """Our codes for every format the number is valid in, in the library's order.

    Every definition is tried, not just the first valid one that ``get_tracking_number``
    returns, because overlapping formats are exactly when a merchant needs the choice.
    """
    codes: list[str] = []
    try:
        for definition in tracking_numbers.DEFINITIONS:
            result = definition.test(number)
            if result is None or not result.valid:
                continue
            code = _LIBRARY_COURIERS.get(str(result.courier.code))
            if code is not None and code not in codes:
                codes.append(code)
    except Exception:
        # A suggestion is never worth failing the admin form over.
        log.exception("tracking-number detection failed")
        return []
    return codes


def carrier_code(given: str | None, number: str | None) -> str | None:
    """The carrier to store for a shipment.

    Merchants, API clients and aggregators name carriers each their own way ("UPS",
    "Posten"), so a known one is stored by its code; any other name is kept, lower-cased, as
    a carrier without live tracking. Without a name the tracking number's best guess is used.
    """
    if given:
        known = get_carrier(given)
        return known.code if known else given.strip().lower()
    if number:
        found = detect(number)
        return found[0].code if found else None
    return None


def detect(number: str) -> list[Carrier]:
    """The carriers a tracking number most likely belongs to, best first; [] when unknown."""
    value = normalize(number)
    if not value or len(value) > MAX_LENGTH or not value.isascii() or not value.isalnum():
        return []
    s10 = _s10_carrier(value)
    if s10 is not None:
        return [s10]
    carriers = (get_carrier(code) for code in _library_codes(value))
    return [carrier for carrier in carriers if carrier is not None]

"""Languages: the catalogs, choosing the viewer's language, and formatting for it.

Both the pages and the messages the worker sends speak through this module, so it sits
below both. Catalogs are the `.po` files beside the templates that use most of them, compiled
in memory at start-up, so there is no build step and no binary file to keep in step with its
source.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from orderstatus.domain.money import format_money

TRANSLATIONS = resources.files("orderstatus") / "web" / "translations"

SOURCE_LOCALE = "en"
LANGUAGES: dict[str, str] = {"en": "English", "nb": "Norsk bokmål"}
"""Supported languages, by tag, with their names in their own language."""

_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb", "en": "en"}

# Date patterns per language: CLDR's stock formats either add the year or abbreviate,
# and a delivery page reads best as "Sunday 22 November" / "søndag 22. november".
_DATE = {"en": "EEEE d MMMM", "nb": "EEEE d. MMMM"}
_DATETIME = {"en": "EEEE d MMMM, HH:mm", "nb": "EEEE d. MMMM 'kl.' HH:mm"}
_SHORT = {"en": "d MMM, HH:mm", "nb": "d. MMM, HH:mm"}


def _load() -> dict[str, NullTranslations]:
    catalogs: dict[str, NullTranslations] = {SOURCE_LOCALE: NullTranslations()}
    for tag in LANGUAGES:
        po = TRANSLATIONS / tag / "LC_MESSAGES" / "messages.po"
        if tag == SOURCE_LOCALE or not po.is_file():
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=tag)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogs[tag] = Translations(buffer)
    return catalogs


_CATALOGS = _load()
_current: ContextVar[str] = ContextVar("locale", default=SOURCE_LOCALE)


def supported(tag: str | None) -> str | None:
    """Our language for a BCP 47 tag (``nb-NO`` → ``nb``, ``no`` → ``nb``), if we have it."""
    if not tag:
        return None
    return _ALIASES.get(tag.strip().replace("_", "-").split("-")[0].lower())


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags from an Accept-Language header, most wanted first."""
    if not header:
        return []
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _q, _p, tag in sorted(weighted)]


def choose(
    *, explicit: str | None, order: str | None, accept_language: str | None, shop: str | None
) -> str:
    """A language switch wins, then the order's checkout locale, the browser, the shop."""
    return (
        _first_supported([explicit, order])
        or _first_supported(parse_accept_language(accept_language))
        or supported(shop)
        or SOURCE_LOCALE
    )


def _first_supported(tags: Iterable[str | None]) -> str | None:
    for tag in tags:
        found = supported(tag)
        if found:
            return found
    return None


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; translate where it is shown."""
    return message


def too_many_tries(retry_after: int) -> str:
    """What a throttled sign-in or look-up says, in the active language."""
    minutes = max(1, round(retry_after / 60))
    return ngettext(
        "Too many tries. Please wait %(num)d minute and try again.",
        "Too many tries. Please wait %(num)d minutes and try again.",
        minutes,
    ) % {"num": minutes}


def activate(locale: str) -> None:
    """Set the language for what renders next in this task (templates read it)."""
    _current.set(locale)


def current() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return _CATALOGS.get(_current.get(), _CATALOGS[SOURCE_LOCALE]).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _CATALOGS.get(_current.get(), _CATALOGS[SOURCE_LOCALE]).ngettext(singular, plural, n)


@lru_cache(maxsize=64)
def _babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        return Locale.parse(SOURCE_LOCALE)


ZONE_AREAS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows (old aliases such as US/Pacific too)."""
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def zone_choices() -> tuple[str, ...]:
    """The time zones a shop chooses from: UTC and the places (Europe/Oslo, ...)."""
    return ("UTC", *sorted(z for z in known_zones() if z.startswith(ZONE_AREAS)))


def check_zone(name: str) -> str:
    """A time zone name as given, if known; ValueError otherwise."""
    name = name.strip()
    if name not in known_zones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Oslo")
    return name


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# Formatting is cached by its inputs: a status page shows the same event times to every
# viewer in every update, and Babel's formatting costs more than rendering around it.


def fmt_datetime(value: datetime, tz: str | None, style: str = "medium") -> str:
    """Date and time in the viewer's language and the shop's time zone."""
    return _fmt_datetime(value, tz, style, current())


@lru_cache(maxsize=8192)
def _fmt_datetime(value: datetime, tz: str | None, style: str, tag: str) -> str:
    patterns = _SHORT if style == "short" else _DATETIME
    pattern = patterns.get(tag, patterns[SOURCE_LOCALE])
    return format_datetime(value.astimezone(zone(tz)), pattern, locale=_babel_locale(tag))


def fmt_date(value: datetime, tz: str | None) -> str:
    return _fmt_date(value, tz, current())


@lru_cache(maxsize=8192)
def _fmt_date(value: datetime, tz: str | None, tag: str) -> str:
    pattern = _DATE.get(tag, _DATE[SOURCE_LOCALE])
    return format_date(value.astimezone(zone(tz)), pattern, locale=_babel_locale(tag))


def fmt_day(value: date) -> str:
    """A calendar day (no time, so no time zone) in the viewer's language."""
    return _fmt_date(datetime.combine(value, time(12), tzinfo=UTC), "UTC", current())


def fmt_time(value: datetime, tz: str | None) -> str:
    return format_time(value.astimezone(zone(tz)), "HH:mm", locale=_babel_locale(current()))


def country_name(code: str) -> str:
    """A country's name in the viewer's language ("NO" → "Norway" / "Norge")."""
    return _country_name(code.upper(), current())


@lru_cache(maxsize=2048)
def _country_name(code: str, tag: str) -> str:
    return str(_babel_locale(tag).territories.get(code, code))


def fmt_money(amount: Decimal, currency: str) -> str:
    """Money as CLDR writes it in the viewer's language ("NOK 1,788.00", "1 788,00 kr")."""
    return _fmt_money(amount, currency, current())


@lru_cache(maxsize=4096)
def _fmt_money(amount: Decimal, currency: str, tag: str) -> str:
    return format_money(amount, currency, _babel_locale(tag))

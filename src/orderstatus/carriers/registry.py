"""The carriers we know, their customer-facing tracking links, and who can report them live.

The table is data (``carriers.json``) so that adding a carrier or fixing a link that a carrier
moved is a reviewable one-line change, not code. It is read once and checked as it is read: a
bad template would otherwise only show up as a broken link on a customer's status page.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import NamedTuple
from urllib.parse import quote, urlsplit

PLACEHOLDERS = frozenset({"number", "postcode", "country", "locale"})
"""Every value a tracking-link template may ask for; anything else is refused on load."""

API_SOURCE = "api"

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_NON_ALNUM = re.compile(r"[\W_]+")
_WHITESPACE = re.compile(r"\s+")

# Names that merchants, aggregators and older data use for a carrier, in lookup-key form.
_ALIASES: dict[str, str] = {
    "dhl": "dhl_express",
    "dhlworldwide": "dhl_express",
    "dhlecommerce": "dhl_ecommerce_us",
    "dhlecs": "dhl_ecommerce_us",
    "dhlglobalmail": "dhl_ecommerce_us",
    "dhlpaket": "deutsche_post",
    "dhlde": "deutsche_post",
    "dhlgermany": "deutsche_post",
    "deutschepost": "deutsche_post",
    "unitedparcelservice": "ups",
    "unitedstatespostalservice": "usps",
    "federalexpress": "fedex",
    "postescanada": "canada_post",
    "parcelforceworldwide": "parcelforce",
    "hermes": "hermes_de",
    "hermesgermany": "hermes_de",
    "hermesuk": "evri",
    "posten": "posten_norge",
    "norwaypost": "posten_norge",
    "colissimo": "la_poste",
    "laposte": "la_poste",
    "chronopostfrance": "chronopost",
    "postat": "austrian_post",
    "österreichischepost": "austrian_post",
    "inpostpaczkomaty": "inpost",
    "auspost": "australia_post",
    "newzealandpost": "nz_post",
    "tntexpress": "tnt",
    "landmark": "landmark_global",
}


@dataclass(frozen=True, slots=True)
class Carrier:
    """One carrier as a merchant picks it and a customer's status page links to it."""

    code: str
    name: str
    url_template: str | None
    country: str | None
    live_sources: tuple[str, ...]

    @property
    def live(self) -> bool:
        """Whether a tracking aggregator can push this carrier's scans to us.

        Our own API reaches every carrier but only when the merchant sends events, so it
        alone does not let the page promise live updates.
        """
        return any(source != API_SOURCE for source in self.live_sources)

    @property
    def placeholders(self) -> frozenset[str]:
        """The values its tracking link needs, so a form knows to ask for a postcode."""
        if self.url_template is None:
            return frozenset()
        return _template_fields(self.url_template)


class _Registry(NamedTuple):
    by_code: dict[str, Carrier]
    by_key: dict[str, Carrier]
    ordered: tuple[Carrier, ...]


def _lookup_key(value: str) -> str:
    """Case, spaces and punctuation differ between sources ("DHLExpress", "dhl-express")."""
    return _NON_ALNUM.sub("", value.casefold())


def _template_fields(template: str) -> frozenset[str]:
    fields: set[str] = set()
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"tracking link {template!r} has a bad placeholder {field!r}")
        fields.add(field)
    return frozenset(fields)


def _text(entry: dict[str, object], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"carrier entry {entry!r}: {key!r} must be a non-empty string")
    return value


def _optional_text(entry: dict[str, object], key: str) -> str | None:
    return None if entry.get(key) is None else _text(entry, key)


def _parse(entry: object) -> Carrier:
    if not isinstance(entry, dict):
        raise ValueError(f"carrier entry {entry!r} is not an object")
    code = _text(entry, "code")
    name = _text(entry, "name")
    url = _optional_text(entry, "url")
    country = _optional_text(entry, "country")
    sources = entry.get("live_sources")
    if not _CODE.fullmatch(code):
        raise ValueError(f"carrier code {code!r} is not a lower-case slug")
    if country is not None and not _COUNTRY.fullmatch(country):
        raise ValueError(f"carrier {code}: country {country!r} is not ISO 3166 alpha-2")
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise ValueError(f"carrier {code}: live_sources must be a list of names")
    if url is not None:
        if not url.startswith("https://"):
            raise ValueError(f"carrier {code}: tracking link {url!r} is not https")
        if "number" not in _template_fields(url):
            raise ValueError(f"carrier {code}: tracking link {url!r} lacks {{number}}")
    return Carrier(
        code=code,
        name=name,
        url_template=url,
        country=country,
        live_sources=tuple(str(source) for source in sources),
    )


@cache
def _registry() -> _Registry:
    raw = files("orderstatus.carriers").joinpath("carriers.json").read_text(encoding="utf-8")
    entries = json.loads(raw)
    if not isinstance(entries, list):
        raise ValueError("carriers.json must hold a list of carriers")
    by_code: dict[str, Carrier] = {}
    for entry in entries:
        carrier = _parse(entry)
        if carrier.code in by_code:
            raise ValueError(f"carrier code {carrier.code!r} appears twice")
        by_code[carrier.code] = carrier
    # Codes win over aliases, aliases over display names: a code is what we store.
    by_key: dict[str, Carrier] = {}
    for carrier in by_code.values():
        by_key.setdefault(_lookup_key(carrier.name), carrier)
    for alias, code in _ALIASES.items():
        by_key[alias] = by_code[code]
    for carrier in by_code.values():
        by_key[_lookup_key(carrier.code)] = carrier
    ordered = tuple(sorted(by_code.values(), key=lambda c: (c.name.casefold(), c.code)))
    return _Registry(by_code=by_code, by_key=by_key, ordered=ordered)


def get_carrier(code: str | None) -> Carrier | None:
    """The carrier for a stored code or a name someone typed, or None when we do not know it.

    Codes arrive from merchants' forms, API clients and tracking aggregators, each spelling
    them its own way; an unknown one must degrade to "no link", never to an error page.
    """
    if not code:
        return None
    registry = _registry()
    carrier = registry.by_code.get(code)
    if carrier is not None:
        return carrier
    return registry.by_key.get(_lookup_key(code))


def all_carriers() -> list[Carrier]:
    """Every carrier, sorted by name for a merchant's picker."""
    return list(_registry().ordered)


def _merchant_link(url: str | None) -> str | None:
    """The merchant's own link, if it is one a status page can safely put in an ``href``."""
    if url is None:
        return None
    url = url.strip()
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def tracking_link(
    code: str | None,
    number: str,
    *,
    postcode: str | None = None,
    country: str | None = None,
    locale: str | None = None,
    merchant_url: str | None = None,
) -> str | None:
    """The link a customer follows to the carrier's own tracking page, or None.

    A merchant's link wins because the merchant knows the shipment (a regional site, a
    reseller's portal). Otherwise the carrier's template is filled with URL-quoted values;
    when it needs a value we lack (PostNL asks for the postcode) no link beats one that lands
    on an error page. A link that is not http(s) is ignored so that it cannot run script.
    """
    own = _merchant_link(merchant_url)
    if own is not None:
        return own
    carrier = get_carrier(code)
    if carrier is None or carrier.url_template is None:
        return None
    given = {
        "number": _WHITESPACE.sub("", number),
        "postcode": (postcode or "").strip(),
        "country": (country or "").strip().upper(),
        "locale": (locale or "").strip(),
    }
    values: dict[str, str] = {}
    for field in carrier.placeholders:
        if not given[field]:
            return None
        values[field] = quote(given[field], safe="")
    # Safe: every field name was checked against PLACEHOLDERS when the table was loaded.
    return carrier.url_template.format_map(values)

"""The carrier table as merchants pick from it and customers follow its links."""

from __future__ import annotations

import string
from urllib.parse import urlsplit

import pytest

from orderstatus.carriers.registry import (
    PLACEHOLDERS,
    Carrier,
    all_carriers,
    get_carrier,
    tracking_link,
)
from orderstatus.domain.admin import OTHER

REFERENCE_CODES = {
    "ups",
    "usps",
    "fedex",
    "dhl_express",
    "dhl_ecommerce_us",
    "deutsche_post",
    "canada_post",
    "purolator",
    "canpar",
    "ontrac",
    "royal_mail",
    "parcelforce",
    "evri",
    "yodel",
    "dpd_uk",
    "dpd_de",
    "hermes_de",
    "gls",
    "postnord",
    "posten_norge",
    "bring",
    "posti",
    "la_poste",
    "chronopost",
    "bpost",
    "austrian_post",
    "postnl",
    "inpost",
    "poczta_polska",
    "an_post",
    "correos",
    "poste_italiane",
    "australia_post",
    "nz_post",
    "japan_post",
    "tnt",
    "asendia",
    "landmark_global",
}


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_every_reference_carrier_is_listed_once_plus_other() -> None:
    codes = [carrier.code for carrier in all_carriers()]
    assert len(codes) == len(set(codes))
    assert set(codes) == REFERENCE_CODES | {OTHER}


def test_every_carrier_has_a_name_and_an_https_link_with_known_placeholders() -> None:
    for carrier in all_carriers():
        assert carrier.name.strip(), carrier
        if carrier.code == OTHER:
            continue
        assert carrier.url_template is not None, carrier.code
        assert carrier.url_template.startswith("https://"), carrier.code
        fields = _fields(carrier.url_template)
        assert "number" in fields, carrier.code
        assert fields <= PLACEHOLDERS, carrier.code
        assert carrier.placeholders == fields
        assert urlsplit(carrier.url_template.replace("{", "").replace("}", "")).netloc


def test_countries_are_iso_alpha2_or_global() -> None:
    for carrier in all_carriers():
        assert carrier.country is None or (
            len(carrier.country) == 2 and carrier.country.isupper()
        ), carrier.code
    posten, ups = get_carrier("posten_norge"), get_carrier("ups")
    assert posten is not None and posten.country == "NO"
    assert ups is not None and ups.country is None


def test_all_carriers_are_sorted_by_name() -> None:
    names = [carrier.name.casefold() for carrier in all_carriers()]
    assert names == sorted(names)


def test_other_needs_the_merchants_link_and_is_never_live() -> None:
    other = get_carrier("other")
    assert other is not None
    assert other.name == "Other"
    assert other.url_template is None
    assert other.live_sources == ()
    assert not other.live
    assert tracking_link("other", "ABC123") is None
    assert (
        tracking_link("other", "ABC123", merchant_url="https://track.example.com/ABC123")
        == "https://track.example.com/ABC123"
    )


def test_live_means_an_aggregator_not_just_our_api() -> None:
    for code in ("ups", "usps", "fedex", "posten_norge", "postnord", "royal_mail"):
        carrier = get_carrier(code)
        assert carrier is not None
        assert carrier.live
        assert {"easypost", "shippo", "aftership", "api"} <= set(carrier.live_sources)
    for carrier in all_carriers():
        if carrier.code != OTHER:
            assert "api" in carrier.live_sources, carrier.code
    api_only = Carrier("x", "X", None, None, ("api",))
    assert not api_only.live


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("ups", "ups"),
        ("UPS", "ups"),
        (" Ups ", "ups"),
        ("usps", "usps"),
        ("United States Postal Service", "usps"),
        ("FedEx", "fedex"),
        ("fedex", "fedex"),
        ("dhl", "dhl_express"),
        ("DHL", "dhl_express"),
        ("DHLExpress", "dhl_express"),
        ("dhl-express", "dhl_express"),
        ("DHL eCommerce", "dhl_ecommerce_us"),
        ("posten", "posten_norge"),
        ("Posten Norge", "posten_norge"),
        ("colissimo", "la_poste"),
        ("La Poste", "la_poste"),
        ("royal-mail", "royal_mail"),
        ("CanadaPost", "canada_post"),
        ("Hermes UK", "evri"),
        ("POSTNL", "postnl"),
        ("other", "other"),
    ],
)
def test_get_carrier_accepts_codes_names_and_aliases(given: str, code: str) -> None:
    carrier = get_carrier(given)
    assert carrier is not None
    assert carrier.code == code


@pytest.mark.parametrize("given", [None, "", "   ", "pony-express", "dpd", "{number}", "ü"])
def test_unknown_carrier_is_none(given: str | None) -> None:
    assert get_carrier(given) is None
    assert tracking_link(given, "1Z999AA10123456784") is None


def test_tracking_link_fills_the_template() -> None:
    assert (
        tracking_link("ups", "1Z999AA10123456784")
        == "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784"
    )
    assert tracking_link("posten", "RR123456785NO") == (
        "https://sporing.posten.no/sporing/RR123456785NO"
    )


def test_tracking_link_quotes_the_number() -> None:
    link = tracking_link("posten_norge", "AB/../x?y=1&z#frag")
    assert link == "https://sporing.posten.no/sporing/AB%2F..%2Fx%3Fy%3D1%26z%23frag"
    link = tracking_link("usps", "9400&admin=1")
    assert link == "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%26admin%3D1"


def test_tracking_link_drops_spaces_inside_the_number() -> None:
    assert tracking_link("evri", " H01 ABC 123 ") == "https://www.evri.com/track/parcel/H01ABC123"


def test_postnl_needs_postcode_and_country() -> None:
    assert tracking_link("postnl", "3SABCD1234567") is None
    assert tracking_link("postnl", "3SABCD1234567", postcode="1234AB") is None
    assert tracking_link("postnl", "3SABCD1234567", country="NL") is None
    assert tracking_link("postnl", "3SABCD1234567", postcode="  ", country="NL") is None
    link = tracking_link("postnl", "3SABCD1234567", postcode="1234 AB", country="nl")
    assert link == "https://postnl.nl/tracktrace/?B=3SABCD1234567&P=1234%20AB&D=NL&T=C"
    postnl = get_carrier("postnl")
    assert postnl is not None
    assert postnl.placeholders == {"number", "postcode", "country"}


def test_empty_number_gives_no_link() -> None:
    assert tracking_link("ups", "") is None
    assert tracking_link("ups", "   ") is None


def test_merchant_url_wins() -> None:
    own = "https://shop.example.com/track?id=42"
    assert tracking_link("ups", "1Z999AA10123456784", merchant_url=own) == own
    assert tracking_link("postnl", "3S1", merchant_url=f"  {own}  ") == own
    assert tracking_link(None, "X", merchant_url=own) == own
    assert tracking_link("pony-express", "X", merchant_url=own) == own


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.com/x",
        "//example.com/x",
        "https://",
        "https://exa mple.com/",
        "",
        "   ",
    ],
)
def test_merchant_url_that_is_not_a_web_link_is_ignored(bad: str) -> None:
    assert tracking_link("ups", "1Z999AA10123456784", merchant_url=bad) == (
        "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784"
    )
    assert tracking_link("other", "X", merchant_url=bad) is None


def test_carrier_is_immutable() -> None:
    carrier = get_carrier("ups")
    assert carrier is not None
    with pytest.raises(AttributeError):
        carrier.name = "Not UPS"  # type: ignore[misc]

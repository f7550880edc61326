"""Carrier suggestions for the tracking numbers merchants paste into the admin form."""

from __future__ import annotations

import pytest
from tracking_numbers import get_tracking_number

from orderstatus.carriers.detect import (
    MAX_LENGTH,
    carrier_code,
    detect,
    normalize,
    s10_check_digit,
)


def codes(number: str) -> list[str]:
    return [carrier.code for carrier in detect(number)]


# Check digits computed independently of the code under test, so a wrong rule in either
# place shows up as a failing test instead of two bugs agreeing.


def usps_check(body: str) -> int:
    """GS1 mod 10: weight 3 on the digits in odd places counted from the left, 1 elsewhere."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10


def fedex12_check(body: str) -> int:
    total = sum(int(d) * w for d, w in zip(body, [3, 1, 7] * 4, strict=False))
    return total % 11 % 10


def s10(prefix: str, serial: str, country: str) -> str:
    weighted = sum(int(d) * w for d, w in zip(serial, [8, 6, 4, 2, 3, 5, 9, 7], strict=True))
    check = 11 - weighted % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return f"{prefix}{serial}{check}{country}"


def test_ups_1z() -> None:
    assert codes("1Z999AA10123456784") == ["ups"]
    assert codes("1z 999 aa1 01 2345 6784") == ["ups"]
    assert codes("1Z999AA10123456785") == []


def test_usps_22_digits() -> None:
    number = "9400111899223818218407"
    assert usps_check(number[:-1]) == int(number[-1])
    assert codes(number) == ["usps"]
    assert codes("9400 1118 9922 3818 2184 07") == ["usps"]
    assert codes(number[:-1] + "8") == []


def test_usps_and_fedex_smartpost_share_the_92_range() -> None:
    body = "920019030100012345678"
    number = body + str(usps_check(body))
    assert codes(number) == ["usps", "fedex"]


def test_fedex_12_digits() -> None:
    body = "98657878885"
    check = fedex12_check(body)
    assert check == 5
    assert codes(body + "5") == ["fedex"]
    assert codes(body + "4") == []


def test_dhl_express_10_digits() -> None:
    number = "3318810025"
    assert int(number[:9]) % 7 == int(number[9])
    assert codes(number) == ["dhl_express"]
    assert codes("3318810026") == []


def test_s10_check_digit_math() -> None:
    # 1*8 + 2*6 + 3*4 + 4*2 + 5*3 + 6*5 + 7*9 + 8*7 = 204; 204 % 11 = 6; 11 - 6 = 5
    assert s10_check_digit("12345678") == 5
    # 6*2 = 12; 12 % 11 = 1; 11 - 1 = 10, written as 0
    assert s10_check_digit("00060000") == 0
    # 0 % 11 = 0; 11 - 0 = 11, written as 5
    assert s10_check_digit("00000000") == 5
    for serial in ("12345678", "00060000", "00000000", "98765432", "47110815"):
        number = s10("RR", serial, "NO")
        assert s10_check_digit(serial) == int(number[10])
        tracked = get_tracking_number(number)
        assert tracked is not None and tracked.valid


def test_s10_routes_to_the_national_post() -> None:
    assert codes("RR123456785NO") == ["posten_norge"]
    assert codes("rr 123 456 785 no") == ["posten_norge"]
    assert codes("RR000600000NO") == ["posten_norge"]
    assert codes("RR000000005NO") == ["posten_norge"]


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("NO", "posten_norge"),
        ("SE", "postnord"),
        ("DK", "postnord"),
        ("FI", "posti"),
        ("GB", "royal_mail"),
        ("US", "usps"),
        ("DE", "deutsche_post"),
        ("FR", "la_poste"),
        ("NL", "postnl"),
        ("BE", "bpost"),
        ("AT", "austrian_post"),
        ("PL", "poczta_polska"),
        ("IE", "an_post"),
        ("ES", "correos"),
        ("IT", "poste_italiane"),
        ("AU", "australia_post"),
        ("NZ", "nz_post"),
        ("JP", "japan_post"),
        ("CA", "canada_post"),
    ],
)
def test_s10_country_suffix(country: str, code: str) -> None:
    for prefix in ("RR", "LX", "CP", "EE", "UA"):
        assert codes(s10(prefix, "47110815", country)) == [code]


def test_s10_with_a_wrong_check_digit_is_not_routed() -> None:
    assert codes("RR123456784NO") == []
    assert codes("RR123456786SE") == []
    for wrong in range(10):
        number = f"RR12345678{wrong}GB"
        assert codes(number) == ([] if wrong != 5 else ["royal_mail"])


def test_s10_from_a_post_we_do_not_list() -> None:
    assert codes(s10("RR", "12345678", "CN")) == []


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "hello",
        "hello world",
        "1Z",
        "!!!",
        "N/A",
        "1Z999AA1012345678\x00",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0661",
        "RR123456785N0",
        "TBA123456789012",
        "12345",
        "9" * 1000,
        "1Z999AA10123456784" * 50,
    ],
)
def test_garbage_is_unknown(garbage: str) -> None:
    assert detect(garbage) == []


def test_normalize_takes_out_label_spacing() -> None:
    assert normalize(" 1z 999-aa1\t01 2345 6784\n") == "1Z999AA10123456784"


def test_too_long_input_is_refused_before_matching() -> None:
    assert detect("1" * (MAX_LENGTH + 1)) == []


@pytest.mark.parametrize(
    ("given", "number", "code"),
    [
        ("UPS", None, "ups"),
        ("Norway Post", "1Z999AA10123456784", "posten_norge"),  # a name wins over a guess
        ("Hurtigbud", None, "hurtigbud"),
        (None, "1Z999AA10123456784", "ups"),
        (None, "HB-1", None),
        (None, None, None),
    ],
)
def test_carrier_code(given: str | None, number: str | None, code: str | None) -> None:
    assert carrier_code(given, number) == code

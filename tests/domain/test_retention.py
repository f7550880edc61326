"""What of an order counts as personal, and how free text loses it."""

from __future__ import annotations

from orderstatus.domain.retention import (
    REMOVED,
    Personal,
    anonymised_address,
    is_closed,
    phone_forms,
)


def test_only_an_order_with_everything_delivered_is_finished() -> None:
    assert is_closed("fulfilled", "delivered")
    assert is_closed("fulfilled", "picked_up")
    assert not is_closed("partial", "delivered")
    assert not is_closed("fulfilled", "out_for_delivery")
    assert not is_closed("fulfilled", "failure")
    assert not is_closed("unfulfilled", None)


def test_an_anonymised_address_keeps_the_country_and_the_fields_pages_read() -> None:
    address = {
        "name": "Kari Nordmann",
        "address1": "Storgata 1",
        "city": "Oslo",
        "zip": "0155",
        "phone": "+4741234567",
        "country_code": "NO",
    }
    assert anonymised_address(address) == {
        "name": "",
        "address1": "",
        "city": "",
        "country_code": "NO",
    }
    assert anonymised_address(None) is None


def test_a_phone_is_found_however_it_was_written() -> None:
    assert {"+4741234567", "+47 41 23 45 67", "41 23 45 67", "41234567"} <= phone_forms(
        "+4741234567"
    )


def test_free_text_loses_the_customers_strings_and_any_email_address() -> None:
    personal = Personal.of(
        names=["Kari", "Nordmann", "Kari Nordmann"],
        emails=["kari@example.com"],
        phones=["+4741234567"],
        addresses=[{"address1": "Storgata 1", "city": "Oslo", "country_code": "NO"}],
        tracking_numbers=["1Z999AA10123456784"],
    )
    text = (
        "Order confirmation e-mail sent to KARI@example.com; SMS to +47 41 23 45 67 kept; "
        "Kari Nordmann, Storgata 1, Oslo; parcel 1Z999AA10123456784; cc other@example.org"
    )
    scrubbed = personal.scrub(text)
    for gone in ("kari", "Nordmann", "41 23", "Storgata", "Oslo", "1Z999", "other@example"):
        assert gone.lower() not in scrubbed.lower()
    assert scrubbed.startswith(f"Order confirmation e-mail sent to {REMOVED}")
    assert personal.scrub_json({"a": [text], "n": 3}) == {"a": [scrubbed], "n": 3}


def test_a_tracking_entry_loses_even_a_number_the_shipment_no_longer_has() -> None:
    personal = Personal.of(tracking_numbers=["NEW123456"])
    text = "Tracking changed from ups OLD987654 to ups NEW123456"
    assert personal.scrub_history("tracking_updated", text) == (
        f"Tracking changed from ups {REMOVED} to ups {REMOVED}"
    )
    link = "Tracking changed from ups https://t.example/?n=OLD9 to no carrier no tracking"
    assert "OLD9" not in personal.scrub_history("tracking_updated", link)
    assert personal.scrub_history("order_created", "Order #100234 placed") == (
        "Order #100234 placed"
    )

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orderstatus.domain.inputs import OrderInput, TrackingEventInput
from tests.factories import order_payload


def errors_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        OrderInput.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def test_a_local_phone_number_is_read_in_the_shipping_country() -> None:
    order = OrderInput.model_validate(order_payload(email=None, phone="412 34 567"))
    assert order.phone == "+4741234567"


def test_email_is_normalised_and_lower_cased() -> None:
    order = OrderInput.model_validate(order_payload(email="Kari.Nordmann@Example.COM"))
    assert order.email == "kari.nordmann@example.com"


def test_a_contact_is_required() -> None:
    assert "email or a phone" in " ".join(errors_of(order_payload(email=None)).values())


def test_prices_may_not_have_more_decimals_than_the_currency() -> None:
    items = [{"title": "Mug", "quantity": 1, "price": "249.50"}]
    errors = errors_of(order_payload(currency="JPY", line_items=items))
    assert "JPY amounts have at most 0 decimals" in errors["line_items"]


def test_money_is_exact() -> None:
    order = OrderInput.model_validate(order_payload())
    assert order.line_items[0].price == Decimal("249.00")
    assert order.checked_totals(taxes_included=False).subtotal == Decimal("747.00")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "XXQ"),
        ("email", "not-an-email"),
        ("phone", "12"),
        ("locale", "zz-notalocale"),
    ],
)
def test_bad_values_name_their_field(field: str, value: str) -> None:
    assert field in errors_of(order_payload(**{field: value}))


def test_unknown_fields_are_refused() -> None:
    assert "colour" in errors_of(order_payload(colour="red"))


def test_events_in_the_future_are_refused() -> None:
    with pytest.raises(ValidationError, match="future"):
        TrackingEventInput.model_validate(
            {"status": "delivered", "occurred_at": "2999-01-01T00:00:00Z"}
        )

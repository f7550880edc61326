"""What a caller hands us: orders, fulfilments and tracking events, validated.

These models are the one parser for every way in (REST API, storefront checkout, admin,
webhooks), so an order is checked the same way whoever creates it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Self

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orderstatus.domain.money import check_amount, normalize_currency
from orderstatus.domain.statuses import EventStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$"),
]

MAX_LINE_ITEMS = 250
MAX_QUANTITY = 100_000


def normalize_email(value: str) -> str:
    """A syntactically valid e-mail address, lower-cased (no DNS look-up)."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid e-mail address: {exc}") from None
    return result.normalized.lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """A phone number in E.164; a number without +country is read in ``region``."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "is not a phone number (use the international form, +4712345678)"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_locale(value: str) -> str:
    """A BCP 47 language tag such as ``en`` or ``nb-NO``."""
    try:
        locale = Locale.parse(value.strip().replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"unknown locale {value!r}") from None
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


@cache
def _countries() -> frozenset[str]:
    """ISO 3166 alpha-2 codes (CLDR's territories of two letters)."""
    return frozenset(c for c in Locale("en").territories if isinstance(c, str) and len(c) == 2)


def normalize_country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or code not in _countries():
        raise ValueError(f"unknown ISO 3166 country code {value!r}")
    return code


def normalize_order_number(value: str) -> str:
    """Order numbers are shown as ``#1001``; the ``#`` is not part of the number."""
    number = value.strip().lstrip("#").strip()
    if not number or len(number) > 64 or any(c.isspace() for c in number):
        raise ValueError("must be 1 to 64 characters without spaces")
    return number


def normalize_tracking_number(value: str) -> str:
    """Tracking numbers as carriers print them vary in spacing and case; store one form."""
    number = "".join(value.split()).upper()
    if not 3 <= len(number) <= 64:
        raise ValueError("must be 3 to 64 characters")
    return number


Email = Annotated[str, AfterValidator(normalize_email)]
Country = Annotated[str, AfterValidator(normalize_country)]
LocaleTag = Annotated[str, AfterValidator(normalize_locale)]
Currency = Annotated[str, AfterValidator(normalize_currency)]
OrderNumber = Annotated[str, AfterValidator(normalize_order_number)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
Amount = Annotated[Decimal, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(Strict):
    first_name: Text
    last_name: Text | None = None


class Address(Strict):
    name: Text
    address1: Text
    address2: Text | None = None
    city: Text
    zip: ShortText | None = None
    province: Text | None = None
    country_code: Country
    phone: ShortText | None = None
    company: Text | None = None


class Payment(Strict):
    method: ShortText = Field(description="e.g. card, invoice, vipps, paypal")
    brand: ShortText | None = Field(default=None, description="e.g. Visa")
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None


class LineItemInput(Strict):
    title: Text
    variant: Text | None = None
    sku: ShortText | None = None
    quantity: Quantity
    price: Amount
    image_url: Url | None = None


class Totals(Strict):
    subtotal: Amount
    shipping: Amount = Decimal(0)
    tax: Amount = Decimal(0)
    total: Amount


class OrderInput(Strict):
    """An order as a checkout sends it.

    Fields are declared in the order their validators need them: prices after the
    currency, the phone after the shipping country it may be read in.
    """

    number: OrderNumber | None = Field(
        default=None, description="Given by the shop; otherwise the next #1001, #1002, …"
    )
    email: Email | None = None
    locale: LocaleTag | None = None
    currency: Currency
    customer: Customer
    shipping_address: Address
    phone: ShortText | None = Field(
        default=None, description="Stored in E.164; a local number is read in the shipping country"
    )
    billing_address: Address | None = None
    payment: Payment
    line_items: list[LineItemInput] = Field(min_length=1, max_length=MAX_LINE_ITEMS)
    totals: Totals | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        address = info.data.get("shipping_address")
        return normalize_phone(value, address.country_code if address else None)

    @field_validator("line_items")
    @classmethod
    def _prices(cls, items: list[LineItemInput], info: ValidationInfo) -> list[LineItemInput]:
        currency = info.data.get("currency")
        if currency is None:
            return items
        errors = []
        checked = []
        for index, item in enumerate(items):
            try:
                checked.append(
                    item.model_copy(update={"price": check_amount(item.price, currency)})
                )
            except ValueError as exc:
                errors.append(f"[{index}].price {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return checked

    @field_validator("totals")
    @classmethod
    def _totals(cls, totals: Totals | None, info: ValidationInfo) -> Totals | None:
        currency = info.data.get("currency")
        if totals is None or currency is None:
            return totals
        amounts = {}
        for name in ("subtotal", "shipping", "tax", "total"):
            try:
                amounts[name] = check_amount(getattr(totals, name), currency)
            except ValueError as exc:
                raise ValueError(f"{name} {exc}") from None
        return Totals(**amounts)

    @model_validator(mode="after")
    def _contact(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError("give an email or a phone number (or both)")
        return self

    def computed_totals(self) -> Totals:
        """The given totals, or the sum of the items with no shipping or tax."""
        if self.totals is not None:
            return self.totals
        subtotal = sum((i.price * i.quantity for i in self.line_items), Decimal(0))
        return Totals(subtotal=subtotal, total=subtotal)


class FulfillmentItemInput(Strict):
    id: int = Field(description="The order's line item id")
    quantity: Quantity


class FulfillmentInput(Strict):
    """A shipment of some of an order's items. No items means all that are left."""

    line_items: list[FulfillmentItemInput] | None = Field(
        default=None, min_length=1, max_length=MAX_LINE_ITEMS
    )
    carrier: ShortText | None = Field(default=None, description="Carrier code, e.g. ups")
    tracking_number: Annotated[str, AfterValidator(normalize_tracking_number)] | None = Field(
        default=None, description="Without a carrier, the carrier is detected from it"
    )
    tracking_url: Url | None = None
    notify_customer: bool = True

    @field_validator("line_items")
    @classmethod
    def _distinct(cls, value: list[FulfillmentItemInput] | None) -> Any:
        if value is not None and len({i.id for i in value}) != len(value):
            raise ValueError("each line item may appear once")
        return value


class LocationInput(Strict):
    city: Text | None = None
    region: Text | None = None
    zip: ShortText | None = None
    country_code: Country | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        return self


FUTURE_TOLERANCE = timedelta(days=1)


class TrackingEventInput(Strict):
    """One thing that happened to a shipment, as a carrier or the merchant reports it."""

    status: EventStatus
    occurred_at: datetime = Field(
        description="Carrier time, ISO 8601; without an offset it is read as UTC and "
        "marked as a guess"
    )
    message: LongText | None = None
    location: LocationInput | None = None
    external_id: ShortText | None = Field(
        default=None, description="The sender's id: a repeat with the same id changes nothing"
    )
    estimated_delivery: datetime | None = None

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, value: datetime) -> datetime:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        if aware > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("is in the future")
        return value

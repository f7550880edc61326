"""What a caller hands us: orders, fulfilments and tracking events, validated.

These models are the one parser for every way in (REST API, storefront checkout, admin,
webhooks), so an order is checked the same way whoever creates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Annotated, Any, Self

import phonenumbers
from babel import Locale, UnknownLocaleError, localedata
from babel.core import get_global
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from orderstatus.domain.errors import Invalid
from orderstatus.domain.money import (
    CURRENCIES,
    OrderTotals,
    amount_pattern,
    check_amount,
    normalize_currency,
    precision,
    totals_errors,
)
from orderstatus.domain.statuses import EventStatus

MAX_LINE_ITEMS = 250
MAX_QUANTITY = 100_000
MAX_ID = 2**31 - 1
"""The largest id a database row can have (its column is a signed 32-bit INTEGER)."""


def storable_text(value: str) -> str:
    """Text every database can store: PostgreSQL refuses NUL, and a lone surrogate is
    not UTF-8 at all."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain unpaired surrogates") from None
    return value


def whole_number(value: str | None, *, maximum: int = MAX_ID) -> int | None:
    """A count or id typed as ASCII digits and small enough to store, else None
    (``str.isdigit`` also accepts ``²``, which ``int`` refuses)."""
    if not value or len(value) > 20 or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number <= maximum else None


def utc(value: datetime) -> datetime:
    """An aware time in UTC (a naive one is read as UTC); ValueError for a time that
    leaves the calendar once its offset is applied (``0001-01-01T00:00:00+14:00``)."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("is out of range once its offset is applied") from None


def _storable_strings(data: Any) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            storable_text(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(body: bytes | str) -> Any:
    """The one JSON reader for request bodies (API and webhooks): a document nested
    deeper than the interpreter recurses, or with a string no database can store, is
    malformed (``json.JSONDecodeError``), never a crash."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", exc.start) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    if "\\u" in text:  # NUL and lone surrogates only get in as escapes
        try:
            _storable_strings(data)
        except ValueError as exc:
            raise json.JSONDecodeError(f"a string {exc}", "", 0) from None
    return data


def _date_time_text(value: Any) -> Any:
    """Date-times arrive as ISO 8601 text; a bare number is not a time (pydantic would
    read ``0`` as 1 January 1970)."""
    if isinstance(value, int | float | Decimal) or (isinstance(value, str) and _numeric(value)):
        raise ValueError("must be an ISO 8601 date-time such as 2024-05-01T10:00:00Z")
    return value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _fits_in_utc(value: datetime) -> datetime:
    utc(value)
    return value


Storable = AfterValidator(storable_text)
DateTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(_fits_in_utc)]
"""A date-time given as ISO 8601 text that stays a date-time in UTC."""
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"\S"),
    Storable,
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"\S"),
    Storable,
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"\S"),
    Storable,
]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$"),
    Storable,
]


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


def locale_country(locale: str | None) -> str | None:
    """The country a language tag names or most likely means ("nb" → NO, "en-GB" → GB)."""
    if not locale:
        return None
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    if parsed.territory:
        return str(parsed.territory)
    likely = get_global("likely_subtags").get(parsed.language, "")
    territory = likely.rpartition("_")[2]
    return territory if len(territory) == 2 and territory.isupper() else None


def contact_forms(value: str, regions: Sequence[str | None] = ()) -> frozenset[str]:
    """What one "E-mail or phone" field can stand for, as stored: the e-mail address
    normalised, or the phone number in E.164 read in each of ``regions`` (a number with
    +country or 00 is read as it says). Empty for text that is neither, so the caller
    answers it as it answers a wrong address."""
    value = value.strip()
    if not value or len(value) > 320:
        return frozenset()
    if "@" in value:
        try:
            return frozenset({normalize_email(value)})
        except ValueError:
            return frozenset()
    found = set()
    for region in (*regions, None):
        try:
            found.add(normalize_phone(value, region))
        except ValueError:
            continue
    return frozenset(found)


@lru_cache(maxsize=4096)
def display_phone(value: str, region: str | None = None) -> str:
    """A phone number as people read it, in the international format ("+47 912 34 567");
    stored and sent in E.164. A number read in ``region`` when it has no +country; text
    that is not a valid number is shown as it is."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_valid_number(number):
        return value
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


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


@cache
def _locales() -> list[str]:
    """The language tags :func:`normalize_locale` knows, as it writes them."""
    return sorted({normalize_locale(tag) for tag in localedata.locale_identifiers()})


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


# What each type really accepts, said in its JSON Schema (the API's OpenAPI description).
Email = Annotated[
    str,
    Storable,
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email"}),
]
Country = Annotated[
    str,
    Storable,
    AfterValidator(normalize_country),
    WithJsonSchema(
        {"type": "string", "enum": sorted(_countries()), "description": "ISO 3166-1 alpha-2"}
    ),
]
LocaleTag = Annotated[
    str,
    Storable,
    AfterValidator(normalize_locale),
    WithJsonSchema({"type": "string", "enum": _locales(), "description": "BCP 47"}),
]
Currency = Annotated[
    str,
    Storable,
    AfterValidator(normalize_currency),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES), "description": "ISO 4217"}),
]
OrderNumber = Annotated[
    str,
    Storable,
    AfterValidator(normalize_order_number),
    WithJsonSchema({"type": "string", "pattern": r"^\s*#*\s*[^\s#]\S{0,63}\s*$"}),
]
TrackingNumber = Annotated[
    str,
    Storable,
    AfterValidator(normalize_tracking_number),
    WithJsonSchema({"type": "string", "pattern": r"^\s*(?:\S\s*){3,64}$"}),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"\S"),
    Storable,
    WithJsonSchema({"type": "string", "format": "phone", "maxLength": 64}),
]


def _whole(value: Any) -> Any:
    """JSON's integers include ``2.0``; text and booleans are not numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True), BeforeValidator(_whole)]
MAX_DECIMALS = max(precision(c) for c in CURRENCIES)
AMOUNT_PATTERN = amount_pattern(MAX_DECIMALS)


def _amount_text(value: Any) -> Any:
    """Money arrives as decimal text ("249.00"): a JSON number is a binary float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not re.fullmatch(AMOUNT_PATTERN, value):
        raise ValueError('must be a decimal string such as "249.00"')
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "A decimal string; at most as many decimals as the currency has",
        }
    ),
]
"""An amount of money in the order's currency, as decimal text."""
Amount = Money


def _order_rules(schema: dict[str, Any]) -> None:
    """Say in the order's JSON Schema how many decimals each currency's amounts have."""
    groups: dict[int, list[str]] = {}
    for code in sorted(CURRENCIES):
        groups.setdefault(precision(code), []).append(code)
    rules = []
    for decimals, codes in sorted(groups.items()):
        if decimals == MAX_DECIMALS:
            continue
        money = {"type": "string", "pattern": amount_pattern(decimals)}
        totals = {n: money for n, f in Totals.model_fields.items() if f.annotation is Decimal}
        rules.append(
            {
                "if": {"properties": {"currency": {"enum": codes}}, "required": ["currency"]},
                "then": {
                    "properties": {
                        "line_items": {"items": {"properties": {"price": money}}},
                        "totals": {"properties": totals},
                    }
                },
            }
        )
    schema["allOf"] = rules
    # And that it needs a way to reach the customer.
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("email", "phone")
    ]


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
    discount: Amount = Field(default=Decimal(0), description="Taken off the subtotal and shipping")
    tax: Amount = Decimal(0)
    taxes_included: bool | None = Field(
        default=None,
        description="Whether the prices include the tax (as in most of Europe); "
        "omitted: the shop's setting",
    )
    total: Amount = Field(description="subtotal + shipping - discount, + tax unless taxes_included")


NO_CONTACT = "give an email or a phone number (or both)"


class OrderInput(Strict):
    """An order as a checkout sends it.

    Fields are declared in the order their validators need them: prices after the
    currency, the phone after the shipping country it may be read in.
    """

    model_config = ConfigDict(json_schema_extra=_order_rules)

    number: OrderNumber | None = Field(
        default=None, description="Given by the shop; otherwise the next #1001, #1002, …"
    )
    email: Email | None = None
    locale: LocaleTag | None = None
    currency: Currency
    customer: Customer
    shipping_address: Address
    phone: Phone | None = Field(
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

    @model_validator(mode="after")
    def _contact(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError(NO_CONTACT)
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _every_error(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """An order without e-mail or phone is told so together with its other faults
        (the rule above only runs once every field is valid), so a form shows them all
        at once."""
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict) or data.get("email") or data.get("phone"):
                raise
            if any(not e["loc"] and NO_CONTACT in e["msg"] for e in exc.errors()):
                raise
            errors: list[Any] = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], "ctx": e.get("ctx", {})}
                for e in exc.errors()
            ]
            errors.append(
                {"type": "value_error", "loc": (), "input": data, "ctx": {"error": NO_CONTACT}}
            )
            raise ValidationError.from_exception_data(exc.title, errors) from None

    @model_validator(mode="after")
    def _sum(self) -> Self:
        """Without totals, the items' sum is the total: it must be an amount too."""
        if self.totals is None:
            try:
                check_amount(self._items_sum(), self.currency)
            except ValueError as exc:
                raise ValueError(f"the line items add up to an amount that {exc}") from None
        return self

    def _items_sum(self) -> Decimal:
        return sum((i.price * i.quantity for i in self.line_items), Decimal(0))

    def checked_totals(self, *, taxes_included: bool) -> OrderTotals:
        """The given totals, or the sum of the items with no shipping or tax;
        ``taxes_included`` is the shop's setting, for totals that do not say. An amount
        finer than the currency's minor unit, or totals that do not add up, are refused
        naming the field (``totals.total``), so they are checked here, where the shop's
        setting is known, rather than field by field."""
        if self.totals is None:
            subtotal = self._items_sum()
            zero = Decimal(0)
            return OrderTotals(subtotal, zero, zero, zero, subtotal, taxes_included)
        given = self.totals
        amounts: dict[str, Decimal] = {}
        errors: dict[str, str] = {}
        for name in ("subtotal", "shipping", "discount", "tax", "total"):
            try:
                amounts[name] = check_amount(getattr(given, name), self.currency)
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            included = given.taxes_included
            totals = OrderTotals(
                **amounts, taxes_included=taxes_included if included is None else included
            )
            errors = totals_errors(totals, self.currency)
        if errors:
            fields = {f"totals.{name}": message for name, message in errors.items()}
            summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
            raise Invalid(f"Some fields are not valid: {summary}", fields=fields)
        return totals


class FulfillmentItemInput(Strict):
    id: int = Field(ge=1, le=MAX_ID, description="The order's line item id")
    quantity: Quantity


class FulfillmentInput(Strict):
    """A shipment of some of an order's items. No items means all that are left."""

    line_items: list[FulfillmentItemInput] | None = Field(
        default=None, min_length=1, max_length=MAX_LINE_ITEMS
    )
    carrier: ShortText | None = Field(default=None, description="Carrier code, e.g. ups")
    tracking_number: TrackingNumber | None = Field(
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


def _both_or_neither(first: str, second: str) -> dict[str, Any]:
    return {
        "if": {"properties": {first: {"type": "number"}}, "required": [first]},
        "then": {"properties": {second: {"type": "number"}}, "required": [second]},
    }


class LocationInput(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _both_or_neither("latitude", "longitude"),
                _both_or_neither("longitude", "latitude"),
            ]
        }
    )

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
    occurred_at: DateTime = Field(
        description="Carrier time, ISO 8601; without an offset it is read as UTC and "
        "marked as a guess"
    )
    message: LongText | None = None
    location: LocationInput | None = None
    external_id: ShortText | None = Field(
        default=None, description="The sender's id: a repeat with the same id changes nothing"
    )
    estimated_delivery: DateTime | None = None

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, value: datetime) -> datetime:
        if utc(value) > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("is in the future")
        return value

"""What of an order is personal, and what is left of it once that is removed.

An anonymised order keeps what the shop's figures need: its number, dates, amounts,
currency, items, statuses, shipment counts and the destination country. Everything that
names, reaches or locates the customer goes: names, e-mail, phone, addresses, the card,
notes, tracking numbers (a carrier's page shows the destination), carriers' free text and
payloads, and the messages rendered for them. Free text that stays (the order's
history) has the customer's strings cut out of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from orderstatus.domain.statuses import FINAL

ANONYMISED_NAME = ""
"""The first name of an anonymised order. A checkout must give a first name, so an empty
one marks the order as anonymised."""

REMOVED = "[removed]"
"""What stands in free text where a personal string was."""

CLOSED_DELIVERY = frozenset(s.value for s in FINAL)
"""Order-level delivery statuses after which nothing more happens to the order: every
shipment was delivered or picked up. (A cancelled order is finished too, whatever its
shipments say.)"""

ADDRESS_KEPT = ("country_code",)
"""Address fields an anonymised order keeps (the shop's figures by country)."""

ADDRESS_BLANKED = ("name", "address1", "city")
"""Address fields every stored address has; kept as empty strings so that whatever
reads an address finds them."""

TRACKING_ACTIVITIES = frozenset(
    {"fulfillment_created", "fulfillment_cancelled", "tracking_updated"}
)
"""History entries that name tracking numbers or links, including ones the shipment no
longer has (a corrected number): these lose every link and every number-like word."""

_URL = re.compile(r"https?://\S+")
_NUMBER_LIKE = re.compile(r"(?<![\w#])(?=[\w-]*\d)\w[\w-]{5,}")
_EMAIL = re.compile(r"[^\s<>()\[\]{}\"',;:]+@[^\s<>()\[\]{}\"',;:]+\.[A-Za-z]{2,}")


def is_closed(fulfillment_status: str, delivery_status: str | None) -> bool:
    """Whether the order is finished: everything shipped and every shipment delivered."""
    return fulfillment_status == "fulfilled" and delivery_status in CLOSED_DELIVERY


def is_anonymised(first_name: str) -> bool:
    return first_name == ANONYMISED_NAME


def anonymised_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The address with only what figures need; None stays None."""
    if address is None:
        return None
    kept: dict[str, Any] = dict.fromkeys(ADDRESS_BLANKED, "")
    kept.update({k: address[k] for k in ADDRESS_KEPT if k in address})
    return kept


def phone_forms(phone: str, region: str | None = None) -> set[str]:
    """The ways a stored (E.164) number may have been written in text: as stored, as
    people read it internationally and nationally, and its bare national digits."""
    forms = {phone}
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return forms
    for style in (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    ):
        forms.add(phonenumbers.format_number(number, style))
    forms.add(str(number.national_number))
    return forms


@dataclass(frozen=True, slots=True)
class Personal:
    """The customer's strings of one order, to be cut out of free text."""

    strings: tuple[str, ...]

    @classmethod
    def of(
        cls,
        *,
        names: Iterable[str | None] = (),
        emails: Iterable[str | None] = (),
        phones: Iterable[str | None] = (),
        addresses: Iterable[Mapping[str, Any] | None] = (),
        tracking_numbers: Iterable[str | None] = (),
        region: str | None = None,
    ) -> Personal:
        found: set[str] = set()
        found.update(n for n in names if n)
        found.update(e for e in emails if e)
        for phone in phones:
            if phone:
                found |= phone_forms(phone, region)
        for address in addresses:
            if not address:
                continue
            for key, value in address.items():
                if key in ADDRESS_KEPT or not isinstance(value, str) or not value:
                    continue
                if key == "phone":
                    found |= phone_forms(value, address.get("country_code") or region)
                found.add(value)
        found.update(t for t in tracking_numbers if t)
        # Longest first, so a full name goes before the first name inside it; very short
        # strings (a two-letter region) would cut ordinary words.
        return cls(tuple(sorted((s.strip() for s in found if len(s.strip()) >= 3), key=len)[::-1]))

    def scrub(self, text: str) -> str:
        """The text without any of the strings nor any e-mail address."""
        for value in self.strings:
            text = re.sub(re.escape(value), REMOVED, text, flags=re.IGNORECASE)
        return _EMAIL.sub(REMOVED, text)

    def scrub_history(self, kind: str, text: str) -> str:
        """A history entry's text without the customer's strings, and for entries about
        tracking (:data:`TRACKING_ACTIVITIES`) without any link or tracking number."""
        text = self.scrub(text)
        if kind in TRACKING_ACTIVITIES:
            text = _NUMBER_LIKE.sub(REMOVED, _URL.sub(REMOVED, text))
        return text

    def scrub_json(self, value: Any) -> Any:
        """A JSON value with every string scrubbed."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_json(v) for k, v in value.items()}
        return value


def closed_statuses() -> tuple[str, ...]:
    """The delivery statuses :func:`is_closed` accepts, for a query."""
    return tuple(sorted(CLOSED_DELIVERY))

"""Notification rules: which messages a change causes, on which channel, to whom.

Everything here is pure, so the rules of DESIGN §4 live in one place and the outbox, the
worker and the admin all ask the same functions.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from anyascii import anyascii

from orderstatus.domain.statuses import FINAL, EventStatus


class Kind(enum.StrEnum):
    """What a message is about; each goes at most once per shipment (or order)."""

    ORDER_CONFIRMATION = "order_confirmation"
    SHIPPING_CONFIRMATION = "shipping_confirmation"
    SHIPPING_UPDATE = "shipping_update"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    READY_FOR_PICKUP = "ready_for_pickup"
    NO_RECENT_UPDATES = "no_recent_updates"
    """The carrier has gone silent for longer than usual: "we are looking into it"."""


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    """Web Push to a device the customer turned on on the status page; the recipient is
    the device's subscription id."""


class State(enum.StrEnum):
    """Where an outbox row stands.

    ``pending`` waits for ``next_attempt_at``; ``sending`` is claimed by a worker until
    its lease (``locked_until``) runs out, after which another worker may claim it;
    ``held`` was rendered but kept in the shop's mailbox because no transport for its
    channel is configured; ``skipped`` became pointless before it went (the shipment
    was found already delivered, or was cancelled); ``failed`` gave up, with the error.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    HELD = "held"
    SKIPPED = "skipped"
    FAILED = "failed"


RESENDABLE = frozenset({State.FAILED, State.HELD})
"""States a merchant may send again: nothing of these reached the customer."""

KIND_LABELS: dict[Kind, str] = {
    Kind.ORDER_CONFIRMATION: "Order confirmation",
    Kind.SHIPPING_CONFIRMATION: "Shipping confirmation",
    Kind.SHIPPING_UPDATE: "Shipping update",
    Kind.OUT_FOR_DELIVERY: "Out for delivery",
    Kind.DELIVERED: "Delivered",
    Kind.READY_FOR_PICKUP: "Ready for pickup",
    Kind.NO_RECENT_UPDATES: "No recent updates",
}
"""Staff-facing names (the admin timeline and settings)."""

SHIPMENT_KINDS = frozenset(Kind) - {Kind.ORDER_CONFIRMATION}

OPT_IN = frozenset({Kind.NO_RECENT_UPDATES})
"""Kinds that stay off until the merchant turns them on."""


def kinds_off(stored_off: Iterable[Kind], stored_on: Iterable[Kind]) -> frozenset[Kind]:
    """The kinds that do not go out: those turned off, and the opt-in kinds not turned on."""
    return frozenset(stored_off) - OPT_IN | (OPT_IN - frozenset(stored_on))


@dataclass(frozen=True, slots=True)
class Contacts:
    """How the customer can be reached: the checkout's contacts and the opt-in address."""

    email: str | None
    phone: str | None
    update_email: str | None = None
    devices: tuple[str, ...] = ()
    """Devices the customer asked to be notified on (their push subscription ids)."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """The merchant's choices for the shop's notifications."""

    kinds_off: frozenset[Kind] = frozenset()
    sms_confirmation_with_email: bool = False


@dataclass(frozen=True, slots=True)
class Planned:
    kind: Kind
    channel: Channel
    recipient: str


def plan(kind: Kind, contacts: Contacts, preferences: Preferences) -> tuple[Planned, ...]:
    """The messages one notification kind sends to this customer.

    An e-mail at checkout gets everything by e-mail. A phone alone gets the order
    confirmation by SMS and nothing else, unless the customer opted in on the page to
    get updates at an e-mail address. Both: e-mail, plus the SMS confirmation only if
    the merchant asked for it.

    Every kind also goes as a push to each device the customer turned notifications on
    for on the page: like the e-mail opt-in, asking is the customer's own choice, so a
    phone-only customer's device hears of the shipments too.
    """
    if kind in preferences.kinds_off:
        return ()
    messages: list[Planned] = []
    if kind is Kind.ORDER_CONFIRMATION:
        if contacts.email:
            messages.append(Planned(kind, Channel.EMAIL, contacts.email))
            if contacts.phone and preferences.sms_confirmation_with_email:
                messages.append(Planned(kind, Channel.SMS, contacts.phone))
        elif contacts.phone:
            messages.append(Planned(kind, Channel.SMS, contacts.phone))
    else:
        address = contacts.email or contacts.update_email
        if address:
            messages.append(Planned(kind, Channel.EMAIL, address))
    messages += [Planned(kind, Channel.PUSH, device) for device in contacts.devices]
    return tuple(messages)


_UPDATES = frozenset(
    {
        EventStatus.DELAYED,
        EventStatus.ATTEMPTED_DELIVERY,
        EventStatus.FAILURE,
        EventStatus.RETURNED_TO_SENDER,
    }
)


def kind_for_change(previous: EventStatus, new: EventStatus) -> Kind | None:
    """The notification a shipment's status change calls for, if any.

    Moving along the way (label, pickup, in transit) says nothing the shipping
    confirmation did not; an unchanged status says nothing at all.
    """
    if previous is new:
        return None
    if new is EventStatus.OUT_FOR_DELIVERY:
        return Kind.OUT_FOR_DELIVERY
    if new in FINAL:
        return Kind.DELIVERED
    if new is EventStatus.READY_FOR_PICKUP:
        return Kind.READY_FOR_PICKUP
    if new is EventStatus.NO_RECENT_UPDATES:
        return Kind.NO_RECENT_UPDATES
    if new in _UPDATES:
        return Kind.SHIPPING_UPDATE
    return None


def delivered_before_known(
    status: EventStatus, occurred_at: datetime, known_since: datetime
) -> bool:
    """Whether a delivery happened before the shipment reached us: then it is history
    (an import, a late fulfilment), not news to send."""
    return status in FINAL and occurred_at <= known_since


def idempotency_key(
    order_id: int,
    fulfillment_id: int | None,
    kind: Kind,
    channel: Channel,
    recipient: str = "",
) -> str:
    """One message per (order, shipment, kind, channel), and per device for a push: the
    outbox's unique key.

    It is made of dot-atom characters only, so it can stand in an e-mail Message-ID.
    """
    key = f"o{order_id}.f{fulfillment_id or 0}.{kind.value}.{channel.value}"
    if channel is Channel.PUSH:
        key += f".d{recipient}"
    return key


def parse_kinds(values: Iterable[str]) -> frozenset[Kind]:
    """Kinds by name; ValueError names the unknown ones."""
    names = list(values)
    unknown = sorted({v for v in names if v not in Kind.__members__.values()})
    if unknown:
        raise ValueError(f"unknown notification kinds {', '.join(unknown)}: use {', '.join(Kind)}")
    return frozenset(Kind(v) for v in names)


# GSM 03.38: the basic character set (one septet each) and its extension table (two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SMS_SINGLE = {"gsm7": 160, "ucs2": 70}
SMS_PART = {"gsm7": 153, "ucs2": 67}

_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u00ab": '"',
        "\u00bb": '"',
    }
)


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: str
    """``gsm7`` or ``ucs2``."""
    units: int
    """Septets for GSM-7, UTF-16 code units for UCS-2."""
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def sms_length(text: str) -> SmsLength:
    """How a phone network counts a text: GSM-7 when every character is in its basic or
    extension table (an extension character takes two septets), else UCS-2 (UTF-16 code
    units). A long text goes in parts, and neither an escape pair nor a surrogate pair
    is ever split between two parts, so a part may carry one unit less than its room."""
    if is_gsm7(text):
        encoding = "gsm7"
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
    else:
        encoding = "ucs2"
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    units = sum(sizes)
    if units <= SMS_SINGLE[encoding]:
        return SmsLength(encoding, units, 1)
    room = SMS_PART[encoding]
    segments, used = 1, 0
    for size in sizes:
        if used + size > room:
            segments, used = segments + 1, 0
        used += size
    return SmsLength(encoding, units, segments)


def _plain_letter(char: str) -> str:
    """A character outside GSM-7 written with GSM-7's letters: ``á`` → ``a``, ``ŋ`` →
    ``ng``, ``Ł`` → ``L``; symbols with no such form (emoji) are left out."""
    if unicodedata.category(char)[0] not in "LNPZ":
        return ""
    plain = anyascii(char)
    return plain if is_gsm7(plain) else ""


def fit_sms(text: str) -> str:
    """The text tidied to fit as few segments as it can: whitespace collapsed, and
    typographic quotes, dashes and spaces written plainly, since one curly apostrophe
    outside GSM-7 would cut the room of a segment from 160 characters to 70. When a
    letter outside GSM-7 remains (a shop called "Sámi Duodji") and UCS-2 would take more
    segments, such letters are written plainly too ("Sami Duodji"); GSM-7's own letters
    (æ, ø, å, é, ü …) stay as they are."""
    text = re.sub(r"\s+", " ", text.translate(_TYPOGRAPHY)).strip()
    if is_gsm7(text):
        return text
    plain = "".join(c if c in GSM7_BASIC or c in GSM7_EXTENSION else _plain_letter(c) for c in text)
    plain = re.sub(r"\s+", " ", plain).strip()
    if plain and sms_length(plain).segments < sms_length(text).segments:
        return plain
    return text


E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_e164(number: str) -> bool:
    return bool(E164.match(number))

"""Outbound webhooks: the topics a merchant's systems may subscribe to, and what a
subscription's URL may be. Pure rules; the sending is in ``notify.webhooks``."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

MAX_URL_LENGTH = 2000
MAX_ENDPOINTS_PER_SHOP = 20
RETRY_WINDOW = timedelta(hours=24)
"""A delivery the receiver keeps refusing is tried again, with back-off, for this long."""
RESPONSE_EXCERPT = 500
"""Characters of a receiver's answer kept with the delivery (shown in the admin)."""
GONE = 410
"""A receiver that answers 410 Gone has removed the address: the webhook is turned off
(its deliveries not yet sent fail) until it is turned on again, instead of being tried
for a whole retry window for every event."""
GONE_REASON = "answered 410 Gone"
STAFF_REASON = "turned off by {actor}"


class Topic(enum.StrEnum):
    ORDER_CREATED = "order.created"
    ORDER_UPDATED = "order.updated"
    SHIPMENT_CREATED = "shipment.created"
    SHIPMENT_STATUS_CHANGED = "shipment.status_changed"
    SHIPMENT_DELIVERED = "shipment.delivered"
    NOTIFICATION_FAILED = "notification.failed"


TOPIC_LABELS: dict[Topic, str] = {
    Topic.ORDER_CREATED: "An order was created",
    Topic.ORDER_UPDATED: "An order's fulfilment or delivery status changed",
    Topic.SHIPMENT_CREATED: "A shipment was created",
    Topic.SHIPMENT_STATUS_CHANGED: "A shipment's status changed",
    Topic.SHIPMENT_DELIVERED: "A shipment was delivered",
    Topic.NOTIFICATION_FAILED: "A customer notification failed for good",
}
"""Staff-facing descriptions (the admin's webhooks page)."""


class DeliveryState(enum.StrEnum):
    """``pending`` waits for its time; ``sending`` is claimed by a worker under a lease;
    ``sent`` got a 2xx; ``failed`` was refused (or never reached) for the whole retry
    window, or could never be sent (a forbidden address)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def parse_topics(values: Iterable[str]) -> list[Topic]:
    """Topics by name, in our order, each once; ValueError names unknown ones or none."""
    names = list(values)
    unknown = sorted({v for v in names if v not in Topic.__members__.values()})
    if unknown:
        raise ValueError(f"unknown topics {', '.join(unknown)}: use {', '.join(Topic)}")
    if not names:
        raise ValueError("choose at least one topic")
    wanted = set(names)
    return [t for t in Topic if t.value in wanted]


def check_url(value: str) -> str:
    """The URL to deliver to, trimmed; ValueError says what is wrong. Whether its host
    may be called is decided when it is called (after DNS resolution)."""
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with https:// or http://")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not carry a user name or password")
    if parts.fragment:
        raise ValueError("the URL must not have a #fragment")
    if port == 0:
        raise ValueError("the URL's port must be between 1 and 65535")
    if not url.isascii():
        raise ValueError("write the URL in ASCII (punycode for an international host name)")
    return url


URL_PATTERN = r"^https?://[!-~]+$"
"""Printable ASCII without spaces; :func:`check_url` says the rest."""


def _checked_url(value: str) -> str:
    return check_url(value)


WebhookUrl = Annotated[
    str,
    StringConstraints(max_length=MAX_URL_LENGTH, pattern=URL_PATTERN),
    AfterValidator(_checked_url),
    WithJsonSchema(
        {
            "type": "string",
            "format": "webhook-url",
            "maxLength": MAX_URL_LENGTH,
            "pattern": URL_PATTERN,
            "examples": ["https://example.com/hooks/orderstatus"],
        }
    ),
]


class WebhookChange(BaseModel):
    """A change to an outbound webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    active: bool = Field(
        description="false turns the webhook off (nothing is sent to it; deliveries waiting "
        "for a try fail); true turns it on again (events from now on are sent)"
    )


class WebhookInput(BaseModel):
    """An outbound webhook to add: where, and which topics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: WebhookUrl = Field(description="An https (or http) URL that answers POST with a 2xx")
    topics: list[Topic] = Field(min_length=1, max_length=len(Topic) * 2)

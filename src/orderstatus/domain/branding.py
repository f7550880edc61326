"""A shop's look on its pages: name, colour, logo, and the notes it shows customers.

The colour is checked for contrast because the pages put white text on it (buttons)
and use it for links on white; the logo is checked by its bytes because a file's name
and declared type are whatever the uploader says.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from orderstatus.domain.admin import (
    MAX_MESSAGE,
    MESSAGE_PLACEMENTS,
    expand_message_statuses,
)
from orderstatus.domain.inputs import normalize_email

MAX_LOGO_BYTES = 1024 * 1024
"""1 MiB: a logo is shown at 40 px high; anything bigger is a photo by mistake."""

MIN_CONTRAST = 4.5
"""WCAG AA for normal text: white button labels on the colour, and links in it on white."""

_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")

MESSAGE_LOCALES = ("en", "nb")
"""The languages the status page speaks: a note can be limited to one of them."""

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
"""Logo formats by the file extension we store them under."""


def normalize_color(value: str) -> str:
    """``#1f6f5c`` from ``1F6F5C``, ``#1f6f5c`` or ``#1f6``."""
    match = _HEX.fullmatch(value.strip())
    if match is None:
        raise ValueError("is not a colour like #1f6f5c")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _luminance(color: str) -> float:
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(color: str) -> float:
    """The WCAG contrast ratio of a ``#rrggbb`` colour against white (1 to 21)."""
    return 1.05 / (_luminance(color) + 0.05)


def check_accent(value: str) -> str:
    color = normalize_color(value)
    if contrast_with_white(color) < MIN_CONTRAST:
        raise ValueError(
            "is too light: white text on it and links in it would be hard to read "
            f"(contrast {contrast_with_white(color):.1f}:1, at least {MIN_CONTRAST}:1 needed)"
        )
    return color


def sniff_image(data: bytes) -> str | None:
    """The logo format of a file by its first bytes (``png``, ``jpg``, ``webp``), or None.

    SVG is not accepted: it is a document that can carry script, not just a picture.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _optional_email(value: str | None) -> str | None:
    return normalize_email(value) if value else None


def _optional_url(value: str | None) -> str | None:
    if not value:
        return None
    if not re.fullmatch(r"https?://[^\s/]+\S*", value):
        raise ValueError("must be a web address starting with https://")
    return value


class BrandingInput(BaseModel):
    """The branding form: what the status page's header and footer show."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    accent_color: Annotated[str, AfterValidator(check_accent)]
    contact_email: Annotated[str | None, AfterValidator(_optional_email)] = None
    website_url: Annotated[
        str | None, StringConstraints(max_length=2000), AfterValidator(_optional_url)
    ] = None


class PageMessageInput(BaseModel):
    """A note for the status page: Markdown, where it goes, when and in which language."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE)]
    placement: str = "top"
    statuses: list[str] | None = Field(default=None)
    locale: str | None = None

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: str) -> str:
        if value not in MESSAGE_PLACEMENTS:
            raise ValueError(f"must be one of {', '.join(MESSAGE_PLACEMENTS)}")
        return value

    @field_validator("statuses", mode="before")
    @classmethod
    def _statuses(cls, value: object) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list")
        return expand_message_statuses(str(v) for v in value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value not in MESSAGE_LOCALES:
            raise ValueError(f"must be one of {', '.join(MESSAGE_LOCALES)}")
        return value

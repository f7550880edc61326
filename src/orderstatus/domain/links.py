"""Pre-authenticated links: the page link in a message we send opens the owner's view.

A link carries, next to the order's status token, a key: its expiry and an HMAC of the
token and that expiry under the server's secret. Whoever holds the message holds the
right to see the order's details until the link expires (a forwarded message passes it
on, as Shopify's notification links do). The key is short, so that a text message stays
in one segment: the day it expires (days since 1970, in base 36: three characters for
decades) and 96 bits of HMAC-SHA256, which can only be tried against the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

LINK_PARAM = "key"
"""The query parameter that carries the key (a name the access log redacts)."""
_PURPOSE = b"orderstatus/order-link/v1"
_MAC_BYTES = 12
_DAY = 86400
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = _DIGITS[digit] + text
        if not number:
            return text


def _mac(secret_key: str, status_token: str, expires: str) -> str:
    key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()
    message = f"{status_token}\x00{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_key(secret_key: str, status_token: str, expires_at: datetime) -> str:
    """The key that opens ``status_token``'s page as its owner until ``expires_at``
    (rounded up to the end of its day in UTC)."""
    expires = _base36(max(0, -(-int(expires_at.timestamp()) // _DAY)))
    return f"{expires}.{_mac(secret_key, status_token, expires)}"


def link_opens(secret_key: str, status_token: str, key: str, now: datetime) -> bool:
    """Whether ``key`` was made by us for this order and has not expired."""
    expires, dot, mac = key.partition(".")
    if not dot or not expires or len(expires) > 8 or len(mac) > 64:
        return False
    if any(c not in _DIGITS for c in expires):
        return False
    expected = _mac(secret_key, status_token, expires)
    if not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        return False
    return int(expires, 36) * _DAY > now.timestamp()


def expiry(sent_at: datetime, days: int) -> datetime | None:
    """When a link sent at ``sent_at`` stops working; None when links are off (0 days)."""
    return sent_at + timedelta(days=days) if days > 0 else None


VIA_PARAM = "via"
"""Which kind of message a link came in (``e`` e-mail, ``s`` text): counted as a click."""
VIA = {"e": "click_email", "s": "click_sms", "p": "click_push"}


def page_link(
    base_url: str,
    status_token: str,
    *,
    secret_key: str | None,
    expires_at: datetime | None,
    via: str | None = None,
) -> str:
    """The page link a message carries: pre-authenticated when a secret and an expiry
    are given, else the plain page; ``via`` names the kind of message (see :data:`VIA`)."""
    url = f"{base_url}/orders/{status_token}"
    params = []
    if secret_key is not None and expires_at is not None:
        params.append(f"{LINK_PARAM}={link_key(secret_key, status_token, expires_at)}")
    if via is not None:
        params.append(f"{VIA_PARAM}={via}")
    return f"{url}?{'&'.join(params)}" if params else url

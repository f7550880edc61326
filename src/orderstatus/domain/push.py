"""Web Push subscriptions as a browser hands them over: which ones we take.

The worker will POST to whatever endpoint a subscription names, so an endpoint must be
a push service on the internet (https, no address of our own network), unless the
operator allows private ones (tests, a push service of their own).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from orderstatus.domain.errors import Invalid

MAX_ENDPOINT = 1024
MAX_DEVICES = 10
"""Devices one order keeps; a new one beyond it replaces the oldest."""


def check_endpoint(endpoint: str, *, allow_private: bool = False) -> str:
    """The endpoint when we may push to it; Invalid otherwise."""
    endpoint = endpoint.strip()
    if not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise Invalid("endpoint must be a push service's address", fields={"endpoint": "length"})
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise Invalid("endpoint is not a URL", fields={"endpoint": "not a URL"}) from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not host or parts.username or parts.password:
        raise Invalid("endpoint must be an https address", fields={"endpoint": "not https"})
    if not allow_private and _private(host):
        raise Invalid(
            "endpoint must be a push service on the internet", fields={"endpoint": "private"}
        )
    return endpoint


def _private(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return not address.is_global

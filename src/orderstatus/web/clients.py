"""Who is asking: the client address that per-client limits and logs use.

X-Forwarded-For is written by whoever sends it; only a proxy the operator trusts
(``ORDERSTATUS_TRUSTED_PROXIES``) is believed about the hop before it. The header is read
from the right (the entry the nearest proxy appended) through trusted proxies only, so a
value a client forged on the left is never the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import Scope

from orderstatus.config import Network

UNKNOWN = "unknown"


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]
) -> bool:
    return any(address in network for network in trusted)


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The address of the client: the peer, or, when the peer is a trusted proxy, the
    rightmost X-Forwarded-For entry that is not itself a trusted proxy."""
    peer = scope.get("client")
    if not peer:
        return UNKNOWN
    host = str(peer[0])
    current = _address(host)
    if not trusted or current is None or not _trusted(current, trusted):
        return host
    hops = [
        hop
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage before a trusted proxy: the last address we believe stands
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def client_host(request: Request) -> str:
    """The client address of a request, under the app's trusted proxies."""
    return client_address(request.scope, request.app.state.settings.trusted_proxies)

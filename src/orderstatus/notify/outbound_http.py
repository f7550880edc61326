"""HTTP requests to addresses a merchant chose (outbound webhooks, calls to their shops),
made so that a merchant cannot make the server call inside the network it runs in.

- The host name is resolved once, and every address it resolves to must be public:
  private, loopback, link-local, shared, multicast and reserved addresses are refused
  (:class:`Forbidden`) unless the operator allows them
  (``ORDERSTATUS_WEBHOOKS_ALLOW_PRIVATE``).
- The request goes to the address that was checked (the URL's host is kept in the
  ``Host`` header and as the TLS server name, so certificates are checked as usual): a
  DNS answer that changes between the check and the connection cannot slip through.
  Where a name has several addresses, the next is tried when one refuses the connection.
- The whole call, resolution included, has one time limit (5 s by default); a redirect is
  answered as it is, never followed; environment proxies are not used; the answer's body
  is read only up to a bound.

The interface is :func:`send` (and :func:`resolve` for a check on its own); anything that
goes wrong comes back as :class:`Forbidden` (never worth trying again) or
:class:`Unreachable` (maybe later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

TIMEOUT = 5.0
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "orderstatus-webhooks/1"


class Forbidden(Exception):
    """The URL may not be called (a private address, not http(s)): do not try again."""


class Unreachable(Exception):
    """No answer this time (no such host, refused, too slow): may be tried again."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    """At most ``max_answer_bytes`` of it."""


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global or address.is_multicast


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``, in the resolver's order:
    :class:`Forbidden` if any address the name resolves to is not public (and that is
    not allowed), :class:`Unreachable` if it resolves to none."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise Unreachable(f"the host name {host!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise Unreachable(f"the host name {host!r} does not resolve")
    if not allow_private and any(_forbidden(a) for a in addresses):
        raise Forbidden(
            f"{host} is on a private, loopback, link-local or reserved address "
            "(ORDERSTATUS_WEBHOOKS_ALLOW_PRIVATE allows it)"
        )
    return list(dict.fromkeys(str(a) for a in addresses))


def new_client(*, tls_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """A client for :func:`send` (``tls_context``: other trusted certificates than the
    system's). No connection is kept for another request: a kept TLS connection to one
    address would carry another host's request unchecked."""
    return httpx.AsyncClient(
        verify=tls_context if tls_context is not None else True,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"User-Agent": USER_AGENT},
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes = b"",
    headers: Mapping[str, str] | None = None,
    allow_private: bool = False,
    time_limit: float = TIMEOUT,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """Make one request (``client`` from :func:`new_client`) and return the answer,
    whatever its status; a redirect is returned, not followed."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise Forbidden("not a valid URL") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise Forbidden("not an http(s) URL")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        async with asyncio.timeout(time_limit):
            addresses = await resolve(target.host, port, allow_private=allow_private)
            for index, address in enumerate(addresses):
                request = client.build_request(
                    method,
                    target.copy_with(host=address),
                    content=content,
                    headers={
                        **(headers or {}),
                        "Host": target.netloc.decode("ascii"),
                        "Accept-Encoding": "identity",
                    },
                    extensions={"sni_hostname": target.host},
                    timeout=time_limit,
                )
                try:
                    response = await client.send(request, stream=True, follow_redirects=False)
                    break
                except httpx.ConnectError:
                    if index == len(addresses) - 1:
                        raise
            try:
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= max_answer_bytes:
                        break
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise Unreachable(f"no answer within {time_limit:g} s") from exc
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ) from exc
    return Answer(response.status_code, dict(response.headers), bytes(body[:max_answer_bytes]))

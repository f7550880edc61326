"""The access log: one line per request, with the client address we trust and without a
token or secret in it.

Status-page and share tokens are the keys to an order, capability links and webhook
secrets are passwords: none of them may reach a log file. uvicorn's own access log writes
the raw path, so ``orderstatus serve`` turns it off and this middleware writes the line
instead, in the same format (``orderstatus.access``).
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderstatus import logs, metrics
from orderstatus.config import Network
from orderstatus.web.clients import client_address

log = logging.getLogger("orderstatus.access")

REDACTED = "[redacted]"

_TOKEN_PREFIXES = {"orders": 2, "shared": 2, "wallet": 4}
"""First path segment → the segment after it that is a secret (``/orders/{token}/…``;
``/wallet/v1/devices/{device}/…``: Wallet's device identifier answers for the device)."""
_PUBLIC_DEPTH = {"webhooks": 3, "connect": 3}
"""First path segment → how many segments are names (``/webhooks/{source}/{shop}``);
anything after them may be a secret a sender put in the URL."""
_SECRET_NAME = re.compile(r"token|key|secret|sig|password|link|code|auth", re.IGNORECASE)


def redact_path(path: str) -> str:
    parts = path.split("/")
    first = parts[1] if len(parts) > 1 else ""
    index = _TOKEN_PREFIXES.get(first)
    if index is not None and len(parts) > index and parts[index]:
        parts[index] = REDACTED
    depth = _PUBLIC_DEPTH.get(first)
    if depth is not None:
        parts = parts[: depth + 1] + [REDACTED if p else p for p in parts[depth + 1 :]]
    return "/".join(parts)


def redact_query(query: str) -> str:
    fields = []
    for field in query.split("&"):
        name, equals, _value = field.partition("=")
        fields.append(f"{name}={REDACTED}" if equals and _SECRET_NAME.search(name) else field)
    return "&".join(fields)


_PATH_SAFE = "/:@!$&'()*+,;=-._~[]"
"""Kept as they are in a logged path; anything else (quotes, line ends) is escaped, so a
path cannot forge a log line."""


def redacted_target(path: str, query: bytes) -> str:
    """The request's path and query as they may be logged."""
    logged = quote(redact_path(path), safe=_PATH_SAFE)
    if not query:
        return logged
    fields = redact_query(query.decode("latin-1")).replace('"', "%22")
    return f"{logged}?{fields}"


ROUTE = "orderstatus.route"
"""Scope key where a handler that skips routing (the webhook lane) names its route."""
REQUEST_ID = b"x-request-id"


def route_template(scope: Scope) -> str:
    """The matched route's path as written (``/orders/{token}``), never the requested one:
    tokens are in paths, and every distinct path would be a new series."""
    named = scope.get(ROUTE)
    if named is not None:
        return str(named)
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else metrics.UNMATCHED


class AccessLog:
    """Pure ASGI, outermost: give each HTTP request its id (the caller's sane
    ``X-Request-ID`` or a new one, returned in that header) for every line logged while
    it is handled; when its response starts, log it and count it by route template (a
    live stream is logged and timed when it opens)."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID), None)
        rid = logs.sane_request_id(given.decode("latin-1") if given is not None else None)
        rid_token = logs.request_id.set(rid)
        route_token = logs.route.set(None)
        started = False
        # Read now: routing rewrites the scope's path and root_path for mounted apps.
        request = (
            client_address(scope, self.trusted),
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            scope.get("http_version", "1.1"),
        )

        def answered(status: int) -> None:
            template = route_template(scope)
            logs.route.set(template)
            seconds = time.perf_counter() - arrived
            metrics.request_answered(template, request[1], status, seconds)
            if log.isEnabledFor(logging.INFO):
                _write(request, status, seconds)

        async def logged_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                answered(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except Exception:
            if not started:
                answered(500)
            raise
        finally:
            logs.route.reset(route_token)
            logs.request_id.reset(rid_token)


def _write(request: tuple[str, str, str, bytes, str], status: int, seconds: float) -> None:
    client, method, path, query, version = request
    log.info(
        '%s - "%s %s HTTP/%s" %d',
        client,
        method,
        redacted_target(path, query),
        version,
        status,
        extra={"method": method, "status": status, "duration_ms": round(seconds * 1000, 1)},
    )

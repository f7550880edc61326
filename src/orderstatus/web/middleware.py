"""Pure ASGI middleware (no per-request task overhead)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
BODY_IDLE_SECONDS = 10.0
"""How long a request body may pause between two of its pieces."""
BODY_TOTAL_FACTOR = 6
"""The whole body must arrive within this many pauses (60 s by default)."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without Content-Length grows past the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body is larger than {limit // 1024} KiB")


class BodySizeLimit:
    """Refuse request bodies over the limit with 413, before the app reads them whole."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})
        """Paths allowed a larger body (an upload that checks its own size)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(send, limit)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"The body is larger than {limit // 1024} KiB",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTimedOut(HTTPException):
    """Raised from ``receive`` when a request body stalls or trickles in too slowly."""

    def __init__(self) -> None:
        super().__init__(408, "The request body did not arrive in time", {"Connection": "close"})


class BodyReadTimeout:
    """Give up on a request body that stalls (``idle`` seconds between two pieces) or
    trickles (``total`` for all of it), with 408: a client sending half a body would
    otherwise hold its connection and its task for ever. Requests without a body (pages,
    live streams) pass untouched."""

    def __init__(
        self, app: ASGIApp, idle: float = BODY_IDLE_SECONDS, total: float | None = None
    ) -> None:
        self.app = app
        self.idle = idle
        self.total = total if total is not None else idle * BODY_TOTAL_FACTOR

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total
        whole = False
        started = False

        async def timed_receive() -> Message:
            nonlocal whole
            if whole:  # after the body only a disconnect can come: wait for it as long as it takes
                return await receive()
            try:
                async with asyncio.timeout_at(min(loop.time() + self.idle, deadline)):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                whole = True
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except BodyTimedOut as exc:  # raised where no handler turned it into an answer
            if started:
                raise
            await _answer(send, 408, "request_timeout", exc.detail, [(b"connection", b"close")])


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value != b"0"
        if name == b"transfer-encoding":
            return True
    return False


class NulRefused(HTTPException):
    """Raised from ``receive`` when a form body carries a NUL character."""

    def __init__(self) -> None:
        super().__init__(400, NUL_MESSAGE)


NUL_MESSAGE = "The request contains a NUL character, which cannot be stored"
_FORM = b"application/x-www-form-urlencoded"


class RefuseNul:
    """400 for a NUL character in the address or in a form, before any handler sees it:
    PostgreSQL cannot store one, and no real name, token or number holds one. (JSON
    bodies are checked by their one reader; other text never carries a NUL.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await _answer(send, 400, "bad_request", NUL_MESSAGE)
            return
        form = any(
            name == b"content-type" and value.lower().startswith(_FORM)
            for name, value in scope["headers"]
        )
        if not form:
            await self.app(scope, receive, send)
            return
        tail = b""

        async def checked_receive() -> Message:
            nonlocal tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = tail + message.get("body", b"")
                if b"%00" in chunk or b"\x00" in chunk:
                    raise NulRefused()
                tail = chunk[-2:]
            return message

        await self.app(scope, checked_receive, send)


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

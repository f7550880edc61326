"""Pure ASGI middleware (no per-request task overhead)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024


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


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

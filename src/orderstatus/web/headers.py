"""Headers every response carries, whoever made it (routes, static files, streams, the
webhook lane, refusals)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = b"max-age=31536000"


class SecurityHeaders:
    """Pure ASGI: ``nosniff`` always, so no browser reads a JSON answer or an upload as a
    page; HSTS when the public address is https, so browsers never try plain http again."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _value in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if self.https and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)

"""Request bodies read one way: JSON through the domain's one reader."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from orderstatus.domain.inputs import parse_json


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is read by :func:`parse_json`, so a body nested too deep
    or holding text no database stores is a 400 like any other malformed JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_checked(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return read_checked

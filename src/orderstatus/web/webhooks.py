"""Carrier webhooks: ``POST /webhooks/{source}/{shop handle}``.

Carriers send these in bursts of thousands, so they skip the framework: :class:`WebhookLane`
answers them straight from ASGI (no routing, dependency solving or validation of the
request), and the OpenAPI description gets the route from :func:`document`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from secrets import token_urlsafe
from typing import Any, Protocol
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstatus import metrics
from orderstatus.carriers.geocode import Gazetteer
from orderstatus.carriers.sources import PayloadError, SignatureError, SignedRequest, registry
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.services import webhooks
from orderstatus.services.batching import WriteBatcher
from orderstatus.services.webhooks import Delivery, IngestResult
from orderstatus.web.accesslog import ROUTE
from orderstatus.web.deps import TtlCache
from orderstatus.web.errors import error_response

SOURCES = registry()
PATH = "/webhooks/{source}/{handle}"
_PREFIX = "/webhooks/"

SECRET_CACHE_SECONDS = 10.0


class WebhookIntake:
    """What every webhook request shares: the shops' secrets, kept for a few seconds,
    and one batcher that records the webhooks arriving together in one transaction.

    A webhook that fails verification with a kept secret is checked once more against
    the stored one, so a secret just set works at once in every process; a replaced
    secret stops working within :data:`SECRET_CACHE_SECONDS` (at once in the process
    where it was replaced, which calls :meth:`forget`)."""

    def __init__(self, database: Database, gazetteer: Gazetteer) -> None:
        self.database = database
        self.gazetteer = gazetteer
        self.secrets: TtlCache[tuple[str, str], tuple[int, str]] = TtlCache(SECRET_CACHE_SECONDS)
        self.decoy = token_urlsafe(32)
        self.batcher: WriteBatcher[Delivery, IngestResult] = WriteBatcher(
            database, self._ingest, name="webhook-batcher", writers=2
        )

    async def shop_and_secret(
        self, handle: str, source: str, *, fresh: bool = False
    ) -> tuple[int | None, str | None]:
        kept = None if fresh else self.secrets.get((handle, source))
        if kept is not None:
            return kept
        async with self.database.read() as session:
            shop_id, secret = await webhooks.shop_and_secret(session, handle=handle, source=source)
        if shop_id is not None and secret is not None:
            self.secrets.put((handle, source), (shop_id, secret))
        return shop_id, secret

    def forget(self) -> None:
        self.secrets.clear()

    async def receive(self, source: str, handle: str, signed: SignedRequest) -> Response:
        """Authenticate, parse and record one webhook; the answer for its sender."""
        response, result = await self._receive(source, handle, signed)
        metrics.webhook_received(source if source in SOURCES else "unknown", result)
        return response

    async def _receive(
        self, source: str, handle: str, signed: SignedRequest
    ) -> tuple[Response, str]:
        module = SOURCES.get(source)
        if module is None:
            unknown = f"unknown source; use one of {sorted(SOURCES)}"
            return error_response(404, "not_found", unknown), "unknown_source"
        shop_id, secret = await self.shop_and_secret(handle, source)
        try:
            try:
                # An unknown shop, or one without a secret, is checked against a secret
                # nobody knows: its answer is a bad signature's, word for word.
                module.verify(signed, secret or self.decoy)
            except SignatureError:
                # The secret may have been changed since it was kept: check the stored one.
                stored_shop, stored_secret = await self.shop_and_secret(handle, source, fresh=True)
                if stored_shop is None or stored_secret is None or stored_secret == secret:
                    raise
                module.verify(signed, stored_secret)
                shop_id = stored_shop
            if shop_id is None:
                raise SignatureError("the signature does not match")
        except SignatureError as exc:
            return error_response(401, "bad_signature", str(exc)), "bad_signature"
        try:
            updates = module.parse(signed.body)
        except PayloadError as exc:
            return error_response(400, "malformed", str(exc)), "malformed"
        await self.gazetteer.load()  # read once per process; at once afterwards
        try:
            result = await self.batcher.submit(Delivery(shop_id, source, updates))
        except DomainError as exc:
            response = error_response(exc.status_code, exc.code, exc.message, exc.fields)
            return response, "refused"
        answer = JSONResponse(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "unmatched": result.unmatched,
            }
        )
        return answer, "accepted"

    async def _ingest(
        self, session: AsyncSession, deliveries: list[Delivery]
    ) -> list[IngestResult | DomainError]:
        return await webhooks.ingest_many(session, deliveries, self.gazetteer)


class Intake(Protocol):
    async def receive(self, kind: str, handle: str, signed: SignedRequest, /) -> Response: ...


class SignedLane:
    """ASGI middleware that answers ``POST {prefix}{kind}/{handle}`` itself (a signed
    delivery for ``intake``) and hands every other request on. Install it inside the
    body size limit."""

    prefix = ""
    route = ""

    def __init__(self, app: ASGIApp, intake: Intake) -> None:
        self.app = app
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = self._parts(scope)
        if parts is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE] = self.route
        if scope["method"] != "POST":
            response: Response = error_response(
                405, "method_not_allowed", "Method Not Allowed", headers={"Allow": "POST"}
            )
        else:
            try:
                body = await read_body(receive)
            except HTTPException as exc:  # the body size limit or read timeout, a NUL in a form
                code = {408: "request_timeout", 413: "payload_too_large"}.get(
                    exc.status_code, "bad_request"
                )
                response = error_response(exc.status_code, code, exc.detail, headers=exc.headers)
            else:
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
                }
                query = dict(parse_qsl(scope["query_string"].decode("latin-1"), True))
                signed = SignedRequest(body=body, headers=headers, query=query)
                response = await self.intake.receive(parts[0], parts[1], signed)
        await response(scope, receive, send)

    def _parts(self, scope: Scope) -> tuple[str, str] | None:
        """(kind, handle) of a delivery, or None for any other request."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return None
        parts = scope["path"][len(self.prefix) :].split("/")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            return None
        return parts[0], parts[1]


class WebhookLane(SignedLane):
    """Carriers' tracking webhooks at ``POST /webhooks/{source}/{handle}``."""

    prefix = _PREFIX
    route = PATH


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def error_doc(description: str) -> dict[str, Any]:
    """An error answer of a delivery route, for the OpenAPI description."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def delivery_parameters(kind: str, choices: Iterable[str]) -> dict[str, Any]:
    """The path parameters and body of ``POST /…/{kind}/{handle}``, for the OpenAPI
    description."""
    return {
        "parameters": [
            {
                "name": kind,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": sorted(choices)},
            },
            {
                "name": "handle",
                "in": "path",
                "required": True,
                "description": "The shop's handle",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    }


def document(app: FastAPI) -> None:
    """Add the webhook route, which :class:`WebhookLane` serves, to the app's OpenAPI (its
    error shape is the API's ``ErrorOut``)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        spec["paths"].setdefault(PATH, _OPERATION)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


_OPERATION: dict[str, Any] = {
    "post": {
        "tags": ["webhooks"],
        "summary": "Receive a tracking webhook",
        "description": "Point EasyPost, Shippo, AfterShip or your own system (source `custom`) "
        "here. The body and its signature are the source's own (see the README). Bad "
        "signature: 401; malformed body: 400; an unknown tracking number is acknowledged.",
        "operationId": "receive_webhook",
        **delivery_parameters("source", SOURCES),
        "responses": {
            "200": {
                "description": "Recorded; unknown tracking numbers are acknowledged and listed",
                "content": {
                    "application/json": {"schema": TypeAdapter(IngestResult).json_schema()}
                },
            },
            "400": error_doc("The body is not what this source sends; the message says why"),
            "401": error_doc(
                "The signature is wrong; also the answer for an unknown shop or a shop "
                "without a secret for this source"
            ),
            "404": error_doc("No such source"),
            "405": error_doc("Only POST"),
            "413": error_doc("The body is larger than 1 MiB"),
        },
    }
}

"""Shop platform webhooks: ``POST /connect/{platform}/{shop handle}``.

Answered straight from ASGI like the carriers' webhooks (:mod:`orderstatus.web.webhooks`):
verify with the connection's secret (401), parse and map with the platform's connector
(400), then apply in a batch with the deliveries arriving together.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from secrets import token_urlsafe
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from orderstatus.connectors import (
    Message,
    PayloadError,
    SignatureError,
    SignedRequest,
    examples,
    registry,
    saleor,
)
from orderstatus.connectors.jwks import JwksCache, fetch
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.services import connections
from orderstatus.services.batching import WriteBatcher
from orderstatus.services.connections import Applied, ConnectorDelivery, Target
from orderstatus.web.deps import TtlCache
from orderstatus.web.errors import error_response
from orderstatus.web.webhooks import SignedLane, delivery_parameters, error_doc

CONNECTORS = registry()
PATH = "/connect/{platform}/{handle}"
_PREFIX = "/connect/"
CACHE_SECONDS = 10.0


class ConnectIntake:
    """The connections' secrets, kept for a few seconds (a failed check looks at the
    stored one again, as for carrier webhooks), the Saleor instances' keys, and the
    batcher that applies deliveries arriving together in one transaction."""

    def __init__(
        self, database: Database, jwks: JwksCache | None = None, *, allow_private: bool = False
    ) -> None:
        self.database = database
        self.jwks = jwks or JwksCache(functools.partial(fetch, allow_private=allow_private))
        self.targets: TtlCache[tuple[str, str], Target] = TtlCache(CACHE_SECONDS)
        self.decoy = Target(0, 0, token_urlsafe(32), None)
        self.batcher: WriteBatcher[ConnectorDelivery, Applied] = WriteBatcher(
            database, connections.apply_many, name="connect-batcher", writers=2
        )

    async def target(self, handle: str, platform: str, *, fresh: bool = False) -> Target | None:
        kept = None if fresh else self.targets.get((handle, platform))
        if kept is not None:
            return kept
        async with self.database.read() as session:
            found = await connections.target(session, handle=handle, platform=platform)
        if found is not None:
            self.targets.put((handle, platform), found)
        return found

    def forget(self) -> None:
        self.targets.clear()

    async def _verify(self, platform: str, signed: SignedRequest, target: Target) -> None:
        module = CONNECTORS[platform]
        if platform != saleor.NAME:
            module.verify(signed, target.secret)
            return
        instance = target.shop_url
        keys = await self.jwks.get(instance) if instance else None
        try:
            saleor.verify(signed, saleor.Key(target.secret, keys))
        except saleor.UnknownKey:
            if not instance:
                raise
            keys = await self.jwks.get(instance, fresh=True)
            saleor.verify(signed, saleor.Key(target.secret, keys))

    async def receive(self, platform: str, handle: str, signed: SignedRequest) -> Response:
        module = CONNECTORS.get(platform)
        if module is None:
            unknown = f"unknown platform; use one of {sorted(CONNECTORS)}"
            return error_response(404, "not_found", unknown)
        target = await self.target(handle, platform)
        try:
            try:
                await self._verify(platform, signed, target or self.decoy)
            except SignatureError:
                stored = await self.target(handle, platform, fresh=True)
                if stored is None or stored == target:
                    raise
                await self._verify(platform, signed, stored)
                target = stored
            if target is None:
                raise SignatureError("the signature does not match")
        except SignatureError as exc:
            return error_response(401, "bad_signature", str(exc))
        message: Message | None = None
        try:
            message = module.parse(signed)
            mapped = module.map(message)
        except PayloadError as exc:
            topic = message.topic if message is not None else "?"
            async with self.database.write() as session:
                await connections.note_refused(
                    session, target=target, topic=topic, delivery_id=None, reason=str(exc)
                )
            return error_response(400, "malformed", str(exc))
        if message.ping:
            return JSONResponse({"result": "ping"})
        delivery = ConnectorDelivery(target, platform, message.topic, message.delivery_id, mapped)
        try:
            applied = await self.batcher.submit(delivery)
        except DomainError as exc:
            async with self.database.write() as session:
                await connections.note_refused(
                    session,
                    target=target,
                    topic=message.topic,
                    delivery_id=None,
                    reason=exc.message,
                )
            return error_response(exc.status_code, exc.code, exc.message, exc.fields)
        return JSONResponse({"result": applied.result, "order": applied.order_number})

    async def test(self, platform: str, handle: str) -> tuple[str, str | None]:
        """Check a connection with the platform's example delivery, signed with its
        secret: verified, read and mapped as a real one, but not applied (no order,
        no message to anyone). The result, also listed with the deliveries."""
        target = await self.target(handle, platform, fresh=True)
        if target is None:
            return "not_connected", None
        module = CONNECTORS[platform]
        signed = examples.example(platform, target.secret)
        try:
            await self._verify(platform, signed, target)
            message = module.parse(signed)
            mapped = module.map(message)
            result, detail = (
                "test",
                f"order {mapped.order['number']}" if mapped and mapped.order else None,
            )
        except (SignatureError, PayloadError) as exc:
            result, detail = "test_failed", str(exc)
        async with self.database.write() as session:
            await connections.note_test(session, target=target, result=result, detail=detail)
        return result, detail


class ConnectLane(SignedLane):
    """Shop platforms' order webhooks at ``POST /connect/{platform}/{handle}``."""

    prefix = _PREFIX
    route = PATH


def document(app: FastAPI) -> None:
    """Add the route, which :class:`ConnectLane` serves, to the app's OpenAPI."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        spec["paths"].setdefault(PATH, _OPERATION)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


_OPERATION: dict[str, Any] = {
    "post": {
        "tags": ["webhooks"],
        "summary": "Receive a shop platform's order webhook",
        "description": "Point a WooCommerce, Shopify or Saleor webhook here (see the README, "
        '"Connect your shop"). The body and its signature are the platform\'s own. Bad '
        "signature: 401; malformed body: 400.",
        "operationId": "receive_platform_webhook",
        **delivery_parameters("platform", CONNECTORS),
        "responses": {
            "200": {
                "description": "Applied (or a repeat, an older version, a topic of no use)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "result": {"type": "string"},
                                "order": {"type": ["string", "null"]},
                            },
                        }
                    }
                },
            },
            "400": error_doc("The body is not what this platform sends; the message says why"),
            "401": error_doc(
                "The signature is wrong; also the answer for an unknown shop or a shop "
                "without this connection"
            ),
            "404": error_doc("No such platform"),
            "405": error_doc("Only POST"),
            "413": error_doc("The body is larger than 1 MiB"),
        },
    }
}

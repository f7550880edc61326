"""Carrier webhooks: /webhooks/{source}/{shop handle}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.carriers.sources import PayloadError, SignatureError, SignedRequest, registry
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.services import webhooks
from orderstatus.services.batching import WriteBatcher
from orderstatus.services.webhooks import Delivery, IngestResult
from orderstatus.web.deps import TtlCache
from orderstatus.web.errors import error_response

router = APIRouter(tags=["webhooks"])
SOURCES = registry()

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

    async def record(self, delivery: Delivery) -> IngestResult:
        await self.gazetteer.load()  # read once per process; at once afterwards
        return await self.batcher.submit(delivery)

    async def _ingest(
        self, session: AsyncSession, deliveries: list[Delivery]
    ) -> list[IngestResult | DomainError]:
        return await webhooks.ingest_many(session, deliveries, self.gazetteer)


@router.post(
    "/webhooks/{source}/{handle}",
    summary="Receive a tracking webhook",
    description="Point EasyPost, Shippo, AfterShip or your own system (source `custom`) here. "
    "Bad signature: 401; malformed body: 400; an unknown tracking number is acknowledged.",
)
async def receive(source: str, handle: str, request: Request) -> Response:
    module = SOURCES.get(source)
    if module is None:
        return error_response(404, "not_found", f"unknown source; use one of {sorted(SOURCES)}")
    intake: WebhookIntake = request.app.state.webhooks
    body = await request.body()
    shop_id, secret = await intake.shop_and_secret(handle, source)
    if shop_id is None:
        return error_response(404, "not_found", "no such shop")
    if secret is None:
        return error_response(401, "unauthorized", f"no {source} webhook secret is set up")
    signed = SignedRequest(
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
    )
    try:
        try:
            module.verify(signed, secret)
        except SignatureError:
            # The secret may have been changed since it was kept: check the stored one.
            stored_shop, stored_secret = await intake.shop_and_secret(handle, source, fresh=True)
            if stored_shop is None or stored_secret is None or stored_secret == secret:
                raise
            module.verify(signed, stored_secret)
            shop_id = stored_shop
    except SignatureError as exc:
        return error_response(401, "bad_signature", str(exc))
    try:
        updates = module.parse(body)
    except PayloadError as exc:
        return error_response(400, "malformed", str(exc))
    result = await intake.record(Delivery(shop_id, source, updates))
    return JSONResponse(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "unmatched": result.unmatched,
        }
    )

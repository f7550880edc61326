"""Carrier webhooks: /webhooks/{source}/{shop handle}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderstatus.carriers.sources import PayloadError, SignatureError, SignedRequest, registry
from orderstatus.services import webhooks
from orderstatus.web.deps import DatabaseDep, GazetteerDep
from orderstatus.web.errors import error_response

router = APIRouter(tags=["webhooks"])
SOURCES = registry()


@router.post(
    "/webhooks/{source}/{handle}",
    summary="Receive a tracking webhook",
    description="Point EasyPost, Shippo, AfterShip or your own system (source `custom`) here. "
    "Bad signature: 401; malformed body: 400; an unknown tracking number is acknowledged.",
)
async def receive(
    source: str, handle: str, request: Request, database: DatabaseDep, gazetteer: GazetteerDep
) -> JSONResponse:
    module = SOURCES.get(source)
    if module is None:
        return error_response(404, "not_found", f"unknown source; use one of {sorted(SOURCES)}")
    body = await request.body()
    async with database.read() as session:
        shop_id, secret = await webhooks.shop_and_secret(session, handle=handle, source=source)
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
        module.verify(signed, secret)
    except SignatureError as exc:
        return error_response(401, "bad_signature", str(exc))
    try:
        updates = module.parse(body)
    except PayloadError as exc:
        return error_response(400, "malformed", str(exc))
    async with database.write() as session:
        result = await webhooks.ingest(
            session=session, shop_id=shop_id, source=source, updates=updates, gazetteer=gazetteer
        )
    return JSONResponse(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "unmatched": result.unmatched,
        }
    )

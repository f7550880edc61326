"""Apple Wallet orders: "Add to Apple Wallet" on the owner's page, and the web service
Wallet calls to keep the order up to date (Apple's Wallet Orders web service, under
``/wallet/v1``). Nothing here answers unless Wallet orders are set up."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from orderstatus.config import WalletKeys, load_wallet_keys
from orderstatus.domain.view import Viewer
from orderstatus.i18n import N_
from orderstatus.notify.wallet import CONTENT_TYPE
from orderstatus.services import wallet
from orderstatus.services.wallet import MAX_ID_LENGTH, PUSH_TOKEN, Unauthorized
from orderstatus.web.deps import DatabaseDep, SettingsDep
from orderstatus.web.errors import error_response
from orderstatus.web.pages import PagesDep
from orderstatus.web.storefront.status import (
    NOT_FOUND,
    NOT_FOUND_TITLE,
    key_for_token,
    owner_or_public,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("orderstatus.wallet")

SCHEME = "AppleOrder "
MAX_LOG_LINES = 20


def _keys(settings: SettingsDep) -> WalletKeys:
    keys = load_wallet_keys(settings)
    if keys is None:
        raise HTTPException(404)
    return keys


KeysDep = Annotated[WalletKeys, Depends(_keys)]


def _token(authorization: str | None) -> str | None:
    if authorization and authorization.startswith(SCHEME):
        return authorization.removeprefix(SCHEME).strip() or None
    return None


def _unauthorised() -> JSONResponse:
    return error_response(401, "unauthorized", "Not this order's authentication token.")


def _check(keys: WalletKeys, order_type_id: str, *ids: str) -> None:
    if order_type_id != keys.order_type_id or any(
        not value or len(value) > MAX_ID_LENGTH for value in ids
    ):
        raise HTTPException(404)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _package_response(package: wallet.Package, name: str) -> Response:
    return Response(
        package.body,
        media_type=CONTENT_TYPE,
        headers={
            "Last-Modified": _http_date(package.last_modified),
            "Content-Disposition": f'attachment; filename="{name}.order"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/orders/{token}/wallet.order")
async def add_to_wallet(
    token: str,
    request: Request,
    pages: PagesDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """The owner's order as a Wallet package (the page offers it on Apple devices)."""
    keys = load_wallet_keys(settings)
    key = await key_for_token(pages, database, token) if keys is not None else None
    if keys is None or key is None:
        return pages.error(request, 404, NOT_FOUND_TITLE, NOT_FOUND)
    if owner_or_public(request, pages, key) is not Viewer.OWNER:
        return pages.error(
            request,
            403,
            N_("Sign in first"),
            N_("Only the customer who placed the order can do this."),
        )
    package = await wallet.build_package(database, settings, keys, order_id=key.order_id)
    return _package_response(package, "order")


@router.post("/wallet/v1/devices/{device_id}/registrations/{order_type_id}/{identifier}")
async def register(
    device_id: str,
    order_type_id: str,
    identifier: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    keys: KeysDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    _check(keys, order_type_id, device_id, identifier)
    try:
        body: Any = json.loads(await request.body())
        push_token = body["pushToken"]
    except (ValueError, TypeError, KeyError):
        return error_response(400, "bad_request", 'Send {"pushToken": "…"} as JSON.')
    if not isinstance(push_token, str) or not PUSH_TOKEN.fullmatch(push_token):
        return error_response(400, "bad_request", "pushToken must be an APNs device token.")
    try:
        new = await wallet.register(
            database,
            settings,
            device_id=device_id,
            identifier=identifier,
            token=_token(authorization),
            push_token=push_token,
        )
    except Unauthorized:
        return _unauthorised()
    return Response(status_code=201 if new else 200)


@router.delete("/wallet/v1/devices/{device_id}/registrations/{order_type_id}/{identifier}")
async def unregister(
    device_id: str,
    order_type_id: str,
    identifier: str,
    database: DatabaseDep,
    settings: SettingsDep,
    keys: KeysDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    _check(keys, order_type_id, device_id, identifier)
    try:
        await wallet.unregister(
            database,
            settings,
            device_id=device_id,
            identifier=identifier,
            token=_token(authorization),
        )
    except Unauthorized:
        return _unauthorised()
    return Response(status_code=200)


@router.get("/wallet/v1/devices/{device_id}/registrations/{order_type_id}")
async def registrations(
    device_id: str,
    order_type_id: str,
    request: Request,
    database: DatabaseDep,
    keys: KeysDep,
) -> Response:
    _check(keys, order_type_id, device_id)
    found = await wallet.changed_orders(
        database, device_id=device_id, since=request.query_params.get("ordersModifiedSince")
    )
    if found is None:
        return Response(status_code=204)
    identifiers, last_modified = found
    return JSONResponse({"orderIdentifiers": identifiers, "lastModified": last_modified})


def _if_modified_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


@router.get("/wallet/v1/orders/{order_type_id}/{identifier}")
async def latest_order(
    order_type_id: str,
    identifier: str,
    database: DatabaseDep,
    settings: SettingsDep,
    keys: KeysDep,
    authorization: Annotated[str | None, Header()] = None,
    if_modified_since: Annotated[str | None, Header()] = None,
) -> Response:
    _check(keys, order_type_id, identifier)
    try:
        found = await wallet.latest(
            database,
            settings,
            keys,
            identifier=identifier,
            token=_token(authorization),
            if_modified_since=_if_modified_since(if_modified_since),
        )
    except Unauthorized:
        return _unauthorised()
    if isinstance(found, datetime):
        return Response(status_code=304, headers={"Last-Modified": _http_date(found)})
    return _package_response(found, "order")


@router.post("/wallet/v1/log")
async def wallet_log(request: Request, keys: KeysDep) -> Response:
    """Wallet's own reports of trouble with our packages or service, for the operator."""
    try:
        lines = json.loads(await request.body()).get("logs", [])
    except (ValueError, AttributeError):
        return error_response(400, "bad_request", 'Send {"logs": ["…"]} as JSON.')
    if not isinstance(lines, list):
        return error_response(400, "bad_request", "logs must be a list of strings.")
    for line in lines[:MAX_LOG_LINES]:
        log.warning("Apple Wallet reports: %s", str(line)[:500])
    return Response(status_code=200)

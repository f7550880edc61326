"""The page link written back to the order on its platform, where the merchant's e-mail
template can show it: WooCommerce order meta (REST API, consumer key and secret),
Shopify an order metafield (Admin API, access token), Saleor order metadata (GraphQL,
app token).

Each platform's request is built here, from the connection and the order, as plain data;
:data:`Send` is the one function that makes it, so the HTTP client can be swapped (the
tests point it at local fakes of each endpoint).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from orderstatus.notify import outbound_http

META_KEY = "_orderstatus_page_url"
"""WooCommerce: the order meta key (hidden from the order screen, as underscored keys are)."""
SHOPIFY_NAMESPACE = "orderstatus"
SHOPIFY_KEY = "page_url"
SHOPIFY_API_VERSION = "2025-01"
SALEOR_KEY = "orderstatus_page_url"
TIMEOUT_SECONDS = 5.0

SALEOR_MUTATION = (
    "mutation WritePageLink($id: ID!, $input: [MetadataInput!]!) { "
    "updateMetadata(id: $id, input: $input) { errors { field message } } }"
)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    """Carries the credentials: never logged."""
    json: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


Send = Callable[[Request], Awaitable[Answer]]


class CannotWrite(Exception):
    """The connection lacks what the platform's API needs: not tried again."""


async def send(request: Request, *, allow_private: bool = False) -> Answer:
    """Make the request as every call to an address a merchant chose is made
    (:mod:`orderstatus.notify.outbound_http`): public addresses only unless allowed, a few
    seconds at most, no redirects, no proxies from the environment. An address that may
    not be called is :class:`CannotWrite`."""
    async with outbound_http.new_client() as client:
        try:
            answer = await outbound_http.send(
                client,
                request.method,
                request.url,
                content=json.dumps(request.json).encode(),
                headers={**request.headers, "Content-Type": "application/json"},
                allow_private=allow_private,
                time_limit=TIMEOUT_SECONDS,
            )
        except outbound_http.Forbidden as exc:
            raise CannotWrite(str(exc)) from None
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    return Answer(answer.status, body)


def request(
    platform: str,
    *,
    shop_url: str | None,
    credentials: dict[str, Any] | None,
    order_id: str,
    page_url: str,
) -> Request:
    """The request that writes ``page_url`` to the platform's order ``order_id``."""
    creds = credentials or {}
    if not shop_url:
        raise CannotWrite("the connection has no shop URL")
    base = shop_url.rstrip("/")
    if platform == "woocommerce":
        key, secret = creds.get("key"), creds.get("secret")
        if not key or not secret:
            raise CannotWrite("WooCommerce needs a REST API consumer key and secret")
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        return Request(
            "PUT",
            f"{base}/wp-json/wc/v3/orders/{quote(order_id, safe='')}",
            {"Authorization": f"Basic {basic}", "Accept": "application/json"},
            {"meta_data": [{"key": META_KEY, "value": page_url}]},
        )
    token = creds.get("token")
    if not token:
        raise CannotWrite(f"{platform} needs an API token")
    if platform == "shopify":
        return Request(
            "POST",
            f"{base}/admin/api/{SHOPIFY_API_VERSION}/orders/{quote(order_id, safe='')}"
            "/metafields.json",
            {"X-Shopify-Access-Token": token, "Accept": "application/json"},
            {
                "metafield": {
                    "namespace": SHOPIFY_NAMESPACE,
                    "key": SHOPIFY_KEY,
                    "type": "url",
                    "value": page_url,
                }
            },
        )
    if platform == "saleor":
        return Request(
            "POST",
            shop_url,
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
            {
                "query": SALEOR_MUTATION,
                "variables": {"id": order_id, "input": [{"key": SALEOR_KEY, "value": page_url}]},
            },
        )
    raise CannotWrite(f"no write-back for {platform}")


def refused(platform: str, answer: Answer) -> str | None:
    """Why a 2xx answer still did not write the link (Saleor's GraphQL errors), or None."""
    if platform != "saleor":
        return None
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("errors"):
        return str(body["errors"])[:200]
    result = (body.get("data") or {}).get("updateMetadata") or {}
    if result.get("errors"):
        return str(result["errors"])[:200]
    if not body.get("data"):
        return "no data in the answer"
    return None

"""One error shape for every JSON response: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from orderstatus.domain.errors import DomainError
from orderstatus.i18n import N_

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.fields, headers)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return not content_type or content_type == "application/json" or content_type.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e["loc"] and e["loc"][0] == "path" for e in errors):
        # An id that is no number, or one larger than any row can have, names nothing.
        return await _http_error(request, StarletteHTTPException(404, "Nothing at this address"))
    if not _is_json(request) and any(tuple(e["loc"]) == ("body",) for e in errors):
        return error_response(
            415,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'",
        )
    for error in errors:
        if error["type"] == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            return error_response(400, "malformed_json", f"The body is not valid JSON: {detail}")
    if any(e["type"] == "missing" and tuple(e["loc"]) == ("body",) for e in errors):
        return error_response(400, "missing_body", "The request needs a JSON body")
    fields: dict[str, str] = {}
    for error in errors:
        fields.setdefault(_field_name(tuple(error["loc"])), _message(error))
    summary = "; ".join(f"{name}: {text}" for name, text in fields.items())
    return error_response(422, "invalid", f"Some fields are not valid: {summary}", fields)


_JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz")

_PAGE_TITLES = {404: N_("Page not found"), 405: N_("Not allowed")}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(_JSON_PREFIXES) and exc.status_code in _PAGE_TITLES:
        pages = request.app.state.pages
        return pages.error(  # type: ignore[no-any-return]
            request,
            exc.status_code,
            _PAGE_TITLES[exc.status_code],
            N_("There is nothing at this address. Check the link and try again."),
        )
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route at this path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

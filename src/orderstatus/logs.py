"""How the processes log: plain text by default, or one JSON object a line
(ORDERSTATUS_LOG_FORMAT=json), every line written during a request carrying its id.

The request id and route template are kept in context variables by the web layer, so any
line logged while a request is handled (by a service, the database layer) carries them.
A JSON line holds the record's fields we name and nothing else, so an argument added to a
log call for a person (an address, a token) never reaches it by accident.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
route: ContextVar[str | None] = ContextVar("route", default=None)

ACCESS_LOGGER = "orderstatus.access"
REQUEST_ID_MAX = 128
EXTRA_FIELDS = (
    "method",
    "status",
    "duration_ms",
    "outbox_id",
    "kind",
    "channel",
    "result",
)
"""Fields a log call may add (``extra=``) that a JSON line shows."""


_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d ()-]{6,18}\d")


def scrub(text: str) -> str:
    """Text with e-mail addresses and phone numbers taken out (an error message may
    quote a recipient)."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def sane_request_id(given: str | None) -> str:
    """The caller's X-Request-ID when it is short visible ASCII, else a new one."""
    if given and len(given) <= REQUEST_ID_MAX and all("!" <= c <= "~" for c in given):
        return given
    return secrets.token_hex(16)


class RequestContext(logging.Filter):
    """Put the current request's id and route template on every record, and take
    e-mail addresses and phone numbers out of its message and exception (the access log's
    lines, already redacted, keep their fields for its formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.route = route.get()
        if record.name != ACCESS_LOGGER and not getattr(record, "scrubbed", False):
            record.msg, record.args = scrub(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = scrub(_PLAIN.formatException(record.exc_info))
            record.scrubbed = True
        return True


_PLAIN = logging.Formatter()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request's id and route,
    and the named extra fields that are set."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == ACCESS_LOGGER:
            # The text line holds the client's address and the (redacted) path: here the
            # route template stands for the path, and no address is written.
            route_name = getattr(record, "route", None)
            status = getattr(record, "status", None)
            line["message"] = f"{getattr(record, 'method', '')} {route_name} {status}"
        for name in ("request_id", "route", *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_text:
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def log_config(fmt: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's logging set-up with our access log (``orderstatus.access``), the request
    context on every line, and JSON lines when asked for."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request": {"()": "orderstatus.logs.RequestContext"}}
    if fmt == "json":
        config["formatters"] = {"json": {"()": "orderstatus.logs.JsonFormatter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["request"]
        if fmt == "json":
            handler["formatter"] = "json"
    config["loggers"]["orderstatus"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    config["loggers"][ACCESS_LOGGER] = {
        "handlers": ["access"],
        "level": "INFO",
        "propagate": False,
    }
    return config

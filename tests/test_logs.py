"""Log lines: a request id only as given when it is sane, JSON lines that parse, and no
e-mail address or phone number in a message or a traceback."""

from __future__ import annotations

import json
import logging

from orderstatus import logs


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(
        "orderstatus.notify", logging.WARNING, __file__, 1, message, args, exc_info
    )


def test_a_request_id_is_kept_only_when_short_visible_ascii() -> None:
    assert logs.sane_request_id("abc-123_X.y") == "abc-123_X.y"
    for bad in (None, "", "a b", "x" * 129, "line\nbreak", "ærlig"):
        made = logs.sane_request_id(bad)
        assert made != bad and len(made) == 32


def test_a_json_line_has_the_request_and_no_address_or_number() -> None:
    token_rid, token_route = logs.request_id.set("rid-1"), logs.route.set("/orders/{token}")
    try:
        try:
            raise RuntimeError("550 <kari@example.com> refused")
        except RuntimeError as exc:
            record = _record(
                "sending to %s and %s failed", "ola@example.no", "+4791234567", exc=exc
            )
        assert logs.RequestContext().filter(record)
    finally:
        logs.route.reset(token_route)
        logs.request_id.reset(token_rid)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "rid-1" and line["route"] == "/orders/{token}"
    assert line["message"] == "sending to [email] and [phone] failed"
    assert "RuntimeError: 550 <[email]> refused" in line["exception"]
    written = json.dumps(line)
    assert (
        "example.com" not in written and "example.no" not in written and "4791234567" not in written
    )

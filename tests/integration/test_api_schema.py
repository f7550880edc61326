"""The REST API against its own OpenAPI description, with Schemathesis: for every
operation, valid data is accepted, invalid data is refused with a documented 4xx, and
every answer (status, headers, body) is the documented one. Never a 5xx.

The app is served by uvicorn on a loopback port from a thread of its own, so that the
database and the batchers live in one event loop however Schemathesis calls it."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import email_validator
import phonenumbers
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.domain.errors import Invalid
from orderstatus.domain.inputs import OrderInput
from orderstatus.services.accounts import create_api_key, create_shop
from orderstatus.services.webhooks import set_webhook_secret
from orderstatus.web.app import create_app
from tests.integration.live_server import serving

EXAMPLES_PER_OPERATION = 10
SPECIAL_USE = {name.rpartition(".")[2] for name in email_validator.SPECIAL_USE_DOMAIN_NAMES}


class _Server:
    """The app served in a thread with its own event loop until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.base_url = ""
        self.key = ""
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="schema-server", daemon=True)
        self._thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise RuntimeError("the app did not start") from self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        database = Database(self.settings.database_url)
        try:
            async with database.write() as session:
                shop = await create_shop(
                    session=session, handle="acme", name="Acme", currency="NOK"
                )
                _row, self.key = await create_api_key(session=session, shop=shop, name="schema")
                await set_webhook_secret(session, shop_id=shop.id, source="custom")
            async with serving(self.settings, database) as (base_url, _app):
                self.base_url = base_url
                self.ready.set()
                await self._stop.wait()
        finally:
            await database.dispose()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[_Server]:
    settings = Settings.from_env(
        {},
        database_url=database_url,
        base_url="https://status.example.test",
        secret_key="s" * 40,
        var_dir=str(tmp_path / "var"),
    )
    running = _Server(settings)
    yield running
    running.stop()


def _description() -> dict[str, Any]:
    """The app's own OpenAPI description (building the app opens no database)."""
    settings = Settings.from_env(
        {},
        database_url="sqlite+aiosqlite:///unused.db",
        secret_key="s" * 40,
        base_url="https://x.test",
    )
    return create_app(settings).openapi()


def _phones() -> st.SearchStrategy[str]:
    """Phone numbers as people type them, valid in their country ("phone" is our format)."""
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    numbers = (phonenumbers.example_number(r) for r in regions)
    e164 = sorted(
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) for n in numbers if n
    )
    return st.sampled_from(e164)


# Our own formats: what a valid value is cannot be said with a pattern.
schemathesis.openapi.format("phone", _phones())
schemathesis.openapi.format(
    "cursor",
    st.integers(1, 2**63 - 1).map(
        lambda n: base64.urlsafe_b64encode(f"o:{n}".encode()).decode().rstrip("=")
    ),
)
schemathesis.openapi.format(
    "webhook-url",
    st.builds(
        "{}://{}.example.com{}/{}".format,
        st.sampled_from(["https", "http"]),
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
        st.sampled_from(["", ":8443", ":80"]),
        st.from_regex(r"[A-Za-z0-9._~/-]{0,40}(\?[A-Za-z0-9=&]{1,20})?", fullmatch=True),
    ),
)
schema = schemathesis.openapi.from_dict(_description())
# Every check on; strings without NUL (refused everywhere with 400, see test_never_500).
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, allow_x00=False)
# The generated phases, which the rules below apply to (the coverage phase ignores them).
schema.config.phases.update(phases=["examples", "fuzzing"])


# Rules no JSON Schema can state: valid data, as far as the description can tell, that
# the API rightly refuses. Such cases are not sent.


@schema.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    if not isinstance(body, dict):
        return True
    when = body.get("occurred_at")
    if isinstance(when, str):  # not in the future
        try:
            if datetime.fromisoformat(when).astimezone(UTC) > datetime.now(UTC):
                return False
        except (ValueError, OverflowError):
            return True
    if "currency" in body and body.get("totals") is None:  # the items' sum is an amount
        prices = [(i.get("price"), i.get("quantity")) for i in body.get("line_items") or []]
        try:
            if sum(Decimal(p) * Decimal(str(q)) for p, q in prices) >= 10**12:
                return False
        except (TypeError, ArithmeticError, ValueError):
            return True
    email = body.get("email")
    if isinstance(email, str) and email.rpartition(".")[2].lower() in SPECIAL_USE:
        return False  # e-mail at a reserved name (.test, .local, …)
    items = body.get("line_items")
    if isinstance(items, list) and context.operation and "fulfillments" in context.operation.path:
        ids = [i.get("id") for i in items if isinstance(i, dict)]  # each line item once
        return len(ids) == len(set(map(str, ids)))
    if "currency" in body and isinstance(body.get("totals"), dict):  # totals that add up
        try:
            order = OrderInput.model_validate(body)
        except ValueError:
            return True  # invalid anyway: sent, and refused
        try:
            order.checked_totals(taxes_included=False)  # the test shop's setting
        except Invalid:
            return False
    return True


@schema.hook
def filter_query(context: schemathesis.HookContext, query: Any) -> bool:
    cursor = query.get("cursor") if isinstance(query, dict) else None
    if not isinstance(cursor, str):
        return True
    try:  # only the cursors this API gives out
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        return False
    return decoded.startswith("o:") and decoded[2:].isascii() and decoded[2:].isdigit()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, server: _Server) -> None:
    case.call_and_validate(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.key}"}
    )

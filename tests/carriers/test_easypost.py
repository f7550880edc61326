"""EasyPost as it really sends: its signature as its own library checks it, and the demo's
simulated carrier speaking only EasyPost's documented vocabulary."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from easypost.errors import SignatureVerificationError
from easypost.util import validate_webhook
from hypothesis import given, settings
from hypothesis import strategies as st

from orderstatus.carriers import simulator
from orderstatus.carriers.sources import SignatureError, SignedRequest, easypost
from orderstatus.domain.statuses import EventStatus, StatusPoint, derive_status
from tests.carriers.test_mappings import DOCUMENTED


def official_accepts(body: bytes, header: str | None, secret: str) -> bool:
    headers = {} if header is None else {"X-Hmac-Signature": header}
    try:
        validate_webhook(event_body=body, headers=headers, webhook_secret=secret)
    except SignatureVerificationError:
        return False
    return True


def ours_accepts(body: bytes, header: str | None, secret: str) -> bool:
    headers = {} if header is None else {"x-hmac-signature": header}
    try:
        easypost.verify(SignedRequest(body=body, headers=headers), secret)
    except SignatureError:
        return False
    return True


def _signature(body: bytes, key: bytes) -> str:
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


# Secrets whose NFKD form differs from what was typed: ligatures, composed letters,
# full-width digits, a non-breaking space.
TRICKY = st.sampled_from(["ﬁ", "Å", "é", "\uff11\uff12", "\u00a0", "Ω", "x"])
SECRETS = st.lists(st.one_of(TRICKY, st.text(min_size=1, max_size=4)), min_size=1).map("".join)
BODIES = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4).map(
    lambda d: json.dumps(d, ensure_ascii=False).encode()
)


@st.composite
def headers(draw: st.DrawFn, body: bytes, secret: str) -> str | None:
    right = _signature(body, unicodedata.normalize("NFKD", secret).encode())
    return draw(
        st.sampled_from(
            [
                right,
                _signature(body, secret.encode()),  # the secret as typed, not normalised
                _signature(body + b" ", unicodedata.normalize("NFKD", secret).encode()),
                right.upper(),
                right.removeprefix("hmac-sha256-hex="),
                right[:-1],
                "",
                None,
            ]
        )
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), body=BODIES, secret=SECRETS)
def test_our_check_agrees_with_easyposts_own(data: st.DataObject, body: bytes, secret: str) -> None:
    header = data.draw(headers(body, secret))
    assert ours_accepts(body, header, secret) == official_accepts(body, header, secret)


@pytest.mark.parametrize("secret", ["whsec_plain", "ﬁne-Ångström-\uff11\uff12", "e\u0301te\u0301"])
def test_the_simulators_signature_passes_easyposts_check(secret: str) -> None:
    body = simulator.tracker_event("70123", [(simulator.ROUTE[0], datetime.now(UTC))])
    header = simulator.sign(body, secret)
    assert official_accepts(body, header, secret)
    assert ours_accepts(body, header, secret)


def test_the_simulator_sends_only_documented_values() -> None:
    for stop in simulator.ROUTE:
        assert stop.status in DOCUMENTED["easypost"]["status"], stop
        assert stop.detail in DOCUMENTED["easypost"]["detail"], stop


def _status_after(stops: list[Any]) -> EventStatus:
    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    sent = [(stop, start + timedelta(seconds=stop.after_seconds)) for stop in stops]
    [update] = easypost.parse(simulator.tracker_event("70123", sent))
    events = [e.validated() for e in update.events]
    return derive_status(StatusPoint(e.status, e.occurred_at) for e in events)


def test_the_simulated_journey_shows_every_step_and_the_missed_delivery() -> None:
    seen = [_status_after(list(simulator.ROUTE[: n + 1])) for n in range(len(simulator.ROUTE))]
    assert seen[0] == EventStatus.LABEL_PURCHASED
    assert EventStatus.CARRIER_PICKED_UP in seen
    assert EventStatus.OUT_FOR_DELIVERY in seen
    assert EventStatus.ATTEMPTED_DELIVERY in seen
    assert seen.index(EventStatus.ATTEMPTED_DELIVERY) > seen.index(EventStatus.OUT_FOR_DELIVERY)
    assert seen[-1] == EventStatus.DELIVERED

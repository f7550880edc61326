"""Fixtures the integration tests share: a customer's browser, a shop with its storefront,
a real SMTP server."""

import os
from collections.abc import AsyncIterator

import pytest

from tests.integration.test_status_page import browser, storefront  # noqa: F401
from tests.messaging import MailServer


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that counts what it receives."""
    server = await MailServer().start()
    yield server
    await server.stop()


REDIS_ENV = "ORDERSTATUS_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> str:
    """The Redis the suite may use (mandatory in CI), or a skip with one line."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis suite: set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0)")
    return url

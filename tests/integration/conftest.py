"""Fixtures the integration tests share: a customer's browser, a shop with its storefront,
a real SMTP server."""

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

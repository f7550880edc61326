"""Fixtures the integration tests share: a customer's browser, a shop with its storefront."""

from tests.integration.test_status_page import browser, storefront  # noqa: F401

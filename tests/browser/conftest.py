"""A real browser (Debian's Chromium driven by Playwright) against a real server.

The suite runs where /usr/bin/chromium exists; ORDERSTATUS_TEST_BROWSER=1 (CI) makes a
missing browser a failure instead of a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DEMO_FOLDERS: dict[str, Path] = {}
"""Base URL → the folder a demo server runs in (its var/ holds the secret key)."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


# Module scope: Playwright's sync API keeps an event loop running in this thread while it
# is open, which the async tests in other modules cannot share.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("ORDERSTATUS_TEST_BROWSER"):
            pytest.fail(f"ORDERSTATUS_TEST_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(f"browser suite: install Chromium ({CHROMIUM}) to run it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`orderstatus demo` in a folder of its own: (base URL, its start-up output)."""
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    # No ORDERSTATUS_MAP_TILE_URL: maps draw the app's own base map, as they do by default.
    with server("demo", "--no-carrier", env=env, cwd=folder) as (base, log):
        DEMO_FOLDERS[base] = folder
        yield base, log.read_text()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

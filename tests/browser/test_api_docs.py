"""The API docs work in a browser with nothing but our own server to talk to."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def test_the_api_docs_render_from_our_server_alone_under_their_policy(
    chromium: Any, demo_server: tuple[str, str], screenshots: Path
) -> None:
    base, _output = demo_server
    page = chromium.new_page()
    hosts: set[str] = set()
    refused: list[str] = []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{base}/api/docs")
    page.get_by_text("/api/v1/orders").first.wait_for(timeout=15000)
    page.locator(".opblock").first.click()
    page.screenshot(path=str(screenshots / "api-docs.png"))
    page.close()
    assert hosts == {urlsplit(base).netloc}
    assert refused == []

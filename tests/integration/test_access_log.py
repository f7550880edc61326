"""The access log of the real server never holds a token or a secret."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from orderstatus.domain.links import page_link
from tests.factories import order_payload
from tests.live import SECRET, env_for, run, server


def test_the_access_log_never_writes_page_tokens_or_webhook_secrets(
    database_url: str, tmp_path: Path
) -> None:
    env = env_for(database_url)
    assert run("create-shop", "--handle", "shop", "--currency", "NOK", env=env).returncode == 0
    key = run("create-api-key", "--shop", "shop", env=env).stdout.strip()
    share = secrets.token_urlsafe(24)
    webhook_secret = secrets.token_hex(16)
    capability = secrets.token_urlsafe(24)
    signature = secrets.token_hex(20)
    with server("serve", env=env, cwd=tmp_path) as (base, log):
        with httpx.Client(base_url=base, timeout=10) as http:
            order = http.post(
                "/api/v1/orders", json=order_payload(), headers={"Authorization": f"Bearer {key}"}
            ).json()
            token = order["status_page_url"].rsplit("/", 1)[1]
            assert http.get(f"/orders/{token}").status_code == 200
            http.get(f"/orders/{token}?link={capability}&lang=nb")
            # A pre-authenticated link from a message: its key never reaches the log.
            later = datetime.now(UTC) + timedelta(days=30)
            sent = page_link(base, token, secret_key=SECRET, expires_at=later)
            link_key = sent.partition("?key=")[2]
            assert http.get(sent).status_code == 303
            http.post(f"/orders/{token}/login", data={"number": "1", "email": "x@example.com"})
            http.get(f"/shared/{share}")
            http.post(f"/webhooks/shippo/shop?token={webhook_secret}", json={})
            http.post(f"/webhooks/custom/shop/{webhook_secret}", json={})
            http.get("/static/app.css")
            http.get(f"/healthz?key={capability}&signature={signature}&secret={webhook_secret}")
        time.sleep(0.3)
        written = log.read_text()
    lines = [line for line in written.splitlines() if '"GET ' in line or '"POST ' in line]
    assert any("/orders/" in line and "lang=nb" in line for line in lines), written
    assert any("/shared/" in line for line in lines), written
    assert any("/webhooks/shippo/shop" in line for line in lines), written
    assert any("/healthz" in line for line in lines), written
    assert any('"GET /static/app.css HTTP/1.1" 200' in line for line in lines), written
    assert any('"GET /orders/[redacted]?key=[redacted] HTTP/1.1" 303' in x for x in lines), written
    for secret in (token, share, webhook_secret, capability, signature, key, link_key):
        assert secret not in written


def test_a_logged_path_cannot_forge_a_line_or_keep_a_token() -> None:
    from orderstatus.web.accesslog import redacted_target

    forged = redacted_target('/shop/x" 200\nINFO: 1.2.3.4 - "GET /', b"a=1&Signature=s3cr3t")
    assert "\n" not in forged and '"' not in forged and "s3cr3t" not in forged
    assert redacted_target("/orders/T0KEN/events", b"v=3") == "/orders/[redacted]/events?v=3"
    assert (
        redacted_target("/connect/shopify/acme/S3CRET", b"") == "/connect/shopify/acme/[redacted]"
    )

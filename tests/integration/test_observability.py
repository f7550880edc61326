"""What an operator watches, from real `serve` processes: /metrics with its token, the
numbers of several processes added up, and JSON log lines with a request id."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import order_payload
from tests.live import env_for, run, server

TOKEN = "m" * 24


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "orderstatus.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _shop_with_order(env: dict[str, str], base: str) -> tuple[str, str]:
    """An order made through the API of the server at ``base``: its page token and key."""
    key = run("create-api-key", "--shop", "shop", env=env).stdout.strip()
    order = httpx.post(
        f"{base}/api/v1/orders",
        json=order_payload(),
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).json()
    return order["status_page_url"].rsplit("/", 1)[1], key


def test_two_processes_count_into_one_scrape_by_route_template(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = env_for(sqlite_url, ORDERSTATUS_METRICS_TOKEN=TOKEN)
    assert run("create-shop", "--handle", "shop", "--currency", "NOK", env=env).returncode == 0
    # Two units started separately, sharing the folder under the same VAR_DIR.
    with (
        server("serve", env=env, cwd=tmp_path) as (one, _),
        server("serve", env=env, cwd=tmp_path) as (two, _),
    ):
        token, key = _shop_with_order(env, one)
        for _ in range(3):
            assert httpx.get(f"{one}/orders/{token}", timeout=10).status_code == 200
        for _ in range(2):
            assert httpx.get(f"{two}/orders/{token}", timeout=10).status_code == 200
        assert httpx.get(f"{two}/no/such/{token}", timeout=10).status_code == 404

        assert httpx.get(f"{one}/metrics", timeout=10).status_code == 404
        wrong = {"Authorization": "Bearer " + "x" * 24}
        assert httpx.get(f"{one}/metrics", headers=wrong, timeout=10).status_code == 404
        answer = httpx.get(f"{two}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")

    text = answer.text
    found = samples(text)
    families = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "orderstatus_http_requests",
        "orderstatus_http_request_duration_seconds",
        "orderstatus_live_streams_open",
        "orderstatus_broker_connected",
        "orderstatus_db_connections_in_use",
        "orderstatus_outbox_pending",
        "orderstatus_outbox_oldest_pending_age_seconds",
    } <= families, families
    page = {"route": "/orders/{token}", "method": "GET", "status": "200"}
    assert value(found, "orderstatus_http_requests_total", **page) == 5
    latency = {"route": "/orders/{token}", "method": "GET"}
    assert value(found, "orderstatus_http_request_duration_seconds_count", **latency) == 5
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(found, "orderstatus_http_requests_total", **unmatched) == 1
    # Both processes hear changes (the local broker).
    assert value(found, "orderstatus_broker_connected", broker="local") == 1
    assert token not in text and key not in text


def test_json_logs_carry_the_request_id_and_route_but_no_token_or_address(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = env_for(sqlite_url, ORDERSTATUS_LOG_FORMAT="json")
    assert run("create-shop", "--handle", "shop", "--currency", "NOK", env=env).returncode == 0
    mine = "trace-" + secrets.token_hex(4)
    with server("serve", env=env, cwd=tmp_path) as (base, log):
        token, key = _shop_with_order(env, base)
        given = httpx.get(f"{base}/orders/{token}", headers={"X-Request-ID": mine}, timeout=10)
        made = httpx.get(f"{base}/orders/{token}", timeout=10)
        refused = httpx.get(f"{base}/orders/{token}", headers={"X-Request-ID": "a b\tc" * 40})
        deadline = time.monotonic() + 20
        while "order_confirmation" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.3)
        written = log.read_text()

    assert given.headers["X-Request-ID"] == mine
    made_id = made.headers["X-Request-ID"]
    assert made_id and made_id != mine
    assert refused.headers["X-Request-ID"] not in ("", "a b\tc" * 40)
    lines = [json.loads(line) for line in written.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "orderstatus.access"]
    for request_id in (mine, made_id, refused.headers["X-Request-ID"]):
        [line] = [a for a in access if a.get("request_id") == request_id]
        assert line["route"] == "/orders/{token}"
        assert line["status"] == 200 and line["method"] == "GET"
    [delivery] = [line for line in lines if line.get("outbox_id") is not None]
    assert delivery["kind"] == "order_confirmation" and delivery["result"] == "held"
    for secret in (token, key, "kari@example.com", "127.0.0.1 -"):
        assert secret not in written

"""The `orderstatus` command, run as a user would: real processes, real HTTP."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import order_payload
from tests.live import env_for, free_port, run, server


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/shop.db"


def test_set_up_a_shop_from_the_command_line(tmp_path: Path) -> None:
    env = env_for(sqlite_url(tmp_path))
    assert run("migrate", env=env).returncode == 0
    assert run("migrate", env=env).returncode == 0  # again: nothing to do
    made = run(
        "create-shop",
        "--handle",
        "myshop",
        "--name",
        "My Shop",
        "--currency",
        "nok",
        "--timezone",
        "America/Los_Angeles",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(tmp_path / "shop.db") as db:
        assert db.execute("select currency, timezone from shops").fetchall() == [
            ("NOK", "America/Los_Angeles")
        ]
    key = run("create-api-key", "--shop", "myshop", env=env)
    assert key.returncode == 0, key.stderr
    assert key.stdout.count("\n") == 1 and key.stdout.startswith("os_")
    staff = run(
        "create-staff",
        "--shop",
        "myshop",
        "--email",
        "Boss@Example.com",
        "--password-stdin",
        env=env,
        stdin="a long enough password\n",
    )
    assert staff.returncode == 0, staff.stderr
    assert "boss@example.com" not in staff.stdout  # stdout stays clean for scripts


def test_connect_a_platform_from_the_command_line(tmp_path: Path) -> None:
    env = env_for(sqlite_url(tmp_path))
    run("migrate", env=env)
    run("create-shop", "--handle", "myshop", "--name", "My Shop", "--currency", "NOK", env=env)
    made = run("create-connection", "--shop", "myshop", "--platform", "woocommerce", env=env)
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(": ", 1) for line in made.stdout.splitlines())
    assert lines["url"].endswith("/connect/woocommerce/myshop")
    assert len(lines["secret"]) >= 32
    given = "shpss_" + "a" * 32
    made = run(
        "create-connection", "--shop", "myshop", "--platform", "shopify", "--secret", given, env=env
    )
    assert made.stdout.splitlines()[1] == f"secret: {given}"
    saleor = run("create-connection", "--shop", "myshop", "--platform", "saleor", env=env)
    assert saleor.returncode == 1 and "API URL" in saleor.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create-api-key", "--shop", "nope"), "no shop 'nope'"),
        (("create-shop", "--handle", "Bad Handle!", "--currency", "NOK"), "a shop handle is"),
        (("create-shop", "--handle", "ok", "--currency", "XYZW"), "unknown currency"),
        (
            ("create-shop", "--handle", "ok", "--currency", "NOK", "--timezone", "Mars/Olympus"),
            "unknown time zone 'Mars/Olympus'",
        ),
    ],
)
def test_command_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    env = env_for(sqlite_url(tmp_path))
    run("migrate", env=env)
    result = run(*args, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("orderstatus: ") and says in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_bad_setting_stops_it_with_one_line(tmp_path: Path) -> None:
    result = run("migrate", env=env_for("mysql://root@localhost/x"))
    assert result.returncode == 1
    assert result.stderr == (
        "orderstatus: ORDERSTATUS_DATABASE_URL unsupported database 'mysql': "
        "use sqlite:// or postgresql://\n"
    )


def test_serve_refuses_a_database_that_was_not_migrated(tmp_path: Path) -> None:
    result = run("serve", "--port", str(free_port()), env=env_for(sqlite_url(tmp_path)))
    assert result.returncode == 1
    assert "run `orderstatus migrate`" in result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run("migrate", env=env_for("postgresql://postgres@127.0.0.1:9/none"))
    assert result.returncode == 1
    assert result.stderr.startswith("orderstatus: cannot use the database:")
    assert result.stderr.count("\n") == 1


def walk(base: str, key: str) -> None:
    """Create an order, fulfil 2 of 3 items, post events out of order and twice."""
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        order = http.post("/api/v1/orders", json=order_payload()).json()
        lines = [{"id": i["id"], "quantity": 1} for i in order["line_items"][:2]]
        shipment = http.post(
            f"/api/v1/orders/{order['id']}/fulfillments",
            json={"line_items": lines, "carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        ).json()
        events: list[dict[str, Any]] = [
            {"status": "delivered", "occurred_at": "2026-11-20T15:00:00+01:00", "external_id": "3"},
            {"status": "in_transit", "occurred_at": "2026-11-20T08:00:00Z", "external_id": "1"},
            {
                "status": "out_for_delivery",
                "occurred_at": "2026-11-20T12:00:00Z",
                "external_id": "2",
            },
        ]
        codes = [
            http.post(f"/api/v1/fulfillments/{shipment['id']}/events", json=e).status_code
            for e in events + events
        ]
        assert codes == [201, 201, 201, 200, 200, 200]
        status = http.get(f"/api/v1/orders/{order['id']}/status").json()
        assert status["fulfillment_status"] == "partial"
        assert status["fulfillments"][0]["status"] == "delivered"
        assert [e["status"] for e in status["fulfillments"][0]["events"]] == [
            "delivered",
            "out_for_delivery",
            "in_transit",
        ]
        assert http.post("/api/v1/orders", content=b"{").status_code == 400
        assert http.get("/api/v1/orders/424242").status_code == 404
        over = {"line_items": [{"id": order["line_items"][0]["id"], "quantity": 1}]}
        assert http.post(f"/api/v1/orders/{order['id']}/fulfillments", json=over).status_code == 409
        wrong = http.get("/api/v1/orders", headers={"Authorization": "Bearer os_nope"})
        assert wrong.status_code == 401


def test_serve_answers_the_api_over_http(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run("create-shop", "--handle", "shop", "--currency", "EUR", env=env).returncode == 0
    key = run("create-api-key", "--shop", "shop", env=env).stdout.strip()
    with server("serve", env=env, cwd=tmp_path) as (base, _log):
        walk(base, key)
        # A real shop has no storefront where strangers could place orders.
        assert httpx.get(f"{base}/shop/shop/").status_code == 404


def test_demo_seeds_once_and_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    with server("demo", "--no-carrier", env=env, cwd=tmp_path) as (base, log):
        output = log.read_text()
        key = next(
            line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("API key: ")
        )
        assert "Staff login: staff@demo.example / " in output
        assert httpx.get(f"{base}/shop/demo/").status_code == 200
        assert output.count(f"{base}/orders/") == 15
        assert (tmp_path / "var" / "orderstatus.db").exists()
        auth = {"Authorization": f"Bearer {key}"}
        orders = httpx.get(f"{base}/api/v1/orders", params={"limit": 100}, headers=auth).json()
        statuses = {o["delivery_status"] for o in orders["orders"]}
        assert statuses >= {
            None,
            "in_transit",
            "out_for_delivery",
            "delivered",
            "attempted_delivery",
            "delayed",
            "ready_for_pickup",
            "failure",
            "returned_to_sender",
            "no_recent_updates",
        }
        three = next(o for o in orders["orders"] if len(o["fulfillments"]) == 3)
        assert len({f["carrier"] for f in three["fulfillments"]}) == 2
        assert any(o["email"] is None and o["phone"] for o in orders["orders"])
        assert any(o["fulfillment_status"] == "partial" for o in orders["orders"])
        walk(base, key)
    # A second start finds the shop and the same key, and adds no orders.
    with server("demo", "--no-carrier", env=env, cwd=tmp_path) as (base, log):
        assert f"API key: {key}" in log.read_text()
        again = httpx.get(f"{base}/api/v1/orders", params={"status": "unfulfilled"}, headers=auth)
        assert len(again.json()["orders"]) == 1


def test_the_demo_prints_links_to_full_pages_and_the_live_order_before_the_server_log(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    with server("demo", env=env, cwd=tmp_path) as (base, log):
        output = log.read_text()
        lines = output.splitlines()
        links = dict(re.findall(r"(#10\d\d)\s.*?(http\S+/orders/\S+)", output))
        assert len(links) == 15 and all("?key=" in link for link in links.values())
        with httpx.Client() as browser:
            opened = browser.get(links["#1008"])
            assert opened.status_code == 303 and "?" not in opened.headers["location"]
            page = browser.get(f"{base}{opened.headers['location']}")
            assert "Sofie" in page.text and "+47 40 00 10 07" in page.text  # the owner's view
        carrier = next(i for i, line in enumerate(lines) if "demo carrier is moving" in line)
        live = lines[carrier + 1].strip()
        assert live.startswith(f"{base}/orders/") and "?key=" in live
        started = next(i for i, line in enumerate(lines) if "Started server process" in line)
        assert carrier < started
        assert httpx.get(live).status_code == 303


def test_the_demo_carrier_moves_a_parcel_to_delivered_through_the_webhook(tmp_path: Path) -> None:
    from orderstatus.carriers.simulator import Simulator

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    with server("demo", "--no-carrier", env=env, cwd=tmp_path) as (base, log):
        output = log.read_text()
        key = next(
            line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("API key: ")
        )
        secret = (tmp_path / "var" / "secret_key").read_text().strip()
        from orderstatus.services.demo import demo_webhook_secret

        simulator = Simulator(
            base_url=base,
            shop_handle="demo",
            api_key=key,
            webhook_secret=demo_webhook_secret(secret),
            speed=70,
        )
        thread = simulator.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert simulator.status_page_url
        auth = {"Authorization": f"Bearer {key}"}
        newest = httpx.get(f"{base}/api/v1/orders", params={"limit": 1}, headers=auth).json()
        status = httpx.get(
            f"{base}/api/v1/orders/{newest['orders'][0]['id']}/status", headers=auth
        ).json()
        shipment = status["fulfillments"][0]
        assert shipment["status"] == "delivered"
        statuses = [e["status"] for e in shipment["events"]]
        assert "attempted_delivery" in statuses and statuses[0] == "delivered"
        cities = {e["location"]["city"] for e in shipment["events"]}
        assert {"OSLO", "TRONDHEIM", "BERGEN"} <= cities
        assert all(e["location"]["latitude"] for e in shipment["events"])
        assert 'POST /webhooks/easypost/demo HTTP/1.1" 200' in log.read_text()


def test_the_var_dir_holds_the_default_database_wherever_it_is_started(tmp_path: Path) -> None:
    var, elsewhere = tmp_path / "var", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in env_for("").items() if k != "ORDERSTATUS_DATABASE_URL"}
    env["ORDERSTATUS_VAR_DIR"] = str(var)
    assert run("migrate", env=env, cwd=elsewhere).returncode == 0
    made = run("create-shop", "--handle", "myshop", "--currency", "NOK", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr  # the same database from another folder
    assert (var / "orderstatus.db").is_file()
    assert not (elsewhere / "var").exists() and not (tmp_path / "var" / "var").exists()


def test_backup_copies_a_live_sqlite_database_and_the_media(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = env_for(f"sqlite:///{var}/orderstatus.db", ORDERSTATUS_VAR_DIR=str(var))
    assert run("migrate", env=env).returncode == 0
    assert run("create-shop", "--handle", "myshop", "--currency", "NOK", env=env).returncode == 0
    image = var / "media" / "products" / "abc"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG not really")

    # Another process keeps writing while the copy is taken.
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        conn = sqlite3.connect(var / "orderstatus.db", timeout=30)
        try:
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO activities (shop_id, kind, actor, message, created_at)"
                    " VALUES (1, 'test', 'test', 'busy', '2026-12-01 00:00:00.000000')"
                )
                conn.commit()
                written.append(1)
        finally:
            conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 50:
            time.sleep(0.01)
        made = run("backup", str(tmp_path / "backup"), env=env)
        during = len(written)
    finally:
        stop.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert "backup written to" in made.stderr

    copy = tmp_path / "backup" / "orderstatus.db"
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT handle FROM shops").fetchall() == [("myshop",)]
        copied = conn.execute("SELECT count(*) FROM activities WHERE kind = 'test'").fetchone()[0]
        assert 50 <= copied <= during
    finally:
        conn.close()
    assert not (tmp_path / "backup" / "orderstatus.db-wal").exists()  # one self-contained file
    assert (tmp_path / "backup" / "media" / "products" / "abc").read_bytes() == image.read_bytes()
    # The copy is a working database: the command runs on it.
    restored = env_for(f"sqlite:///{copy}", ORDERSTATUS_VAR_DIR=str(tmp_path / "backup"))
    assert run("create-api-key", "--shop", "myshop", env=restored).returncode == 0

    again = run("backup", str(tmp_path / "backup"), env=env)
    assert again.returncode == 1 and "not an empty folder" in again.stderr


def test_backup_on_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    env = env_for("postgresql://nobody@127.0.0.1:1/nothing")
    result = run("backup", str(tmp_path / "backup"), env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "pg_dump" in result.stderr
    assert not (tmp_path / "backup").exists()

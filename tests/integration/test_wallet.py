"""Apple Wallet orders: the signed package the owner adds, the web service Wallet calls,
and the APNs push that tells a device an order changed."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import select, update

from orderstatus.config import Settings, load_wallet_keys
from orderstatus.db.engine import Database
from orderstatus.db.models import Order, WalletPush, WalletRegistration
from orderstatus.notify.wallet import WalletPusher
from orderstatus.notify.worker import Worker
from orderstatus.services.wallet import is_current, last_modified
from orderstatus.web.accesslog import redacted_target
from orderstatus.web.app import create_app
from tests.apns_server import FakeApns, fake_apns
from tests.conftest import ShopClient, _shop
from tests.integration.admin.conftest import Staff, add_staff, sign_in, staff  # noqa: F401
from tests.integration.helpers import create_order, fulfil
from tests.integration.test_status_page import login, path_of
from tests.wallet_keys import (
    APNS_KEY_ID,
    APNS_TEAM_ID,
    ORDER_TYPE_ID,
    WalletFiles,
    make_wallet_files,
)

ORDER_TYPE = "application/vnd.apple.finance.order"
DEVICE = "device-1"
PUSH_TOKEN = "a" * 64


@pytest.fixture(scope="session")
def wallet_files(tmp_path_factory: pytest.TempPathFactory) -> WalletFiles:
    return make_wallet_files(tmp_path_factory.mktemp("wallet"))


@pytest.fixture
async def apns(tmp_path: Path) -> AsyncIterator[FakeApns]:
    async with fake_apns(tmp_path) as server:
        yield server


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, wallet_files: WalletFiles, apns: FakeApns
) -> Settings:
    return Settings.from_env(
        {},
        database_url=database_url,
        base_url="https://status.example.test",
        secret_key="s" * 40,
        var_dir=str(tmp_path / "var"),
        **wallet_files.settings(apns.url),
    )


@pytest.fixture
async def owner(api: ShopClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as client:
        client.cookies.set("os_lang", "en", domain="testserver.local")
        yield client


async def shipped_order(api: ShopClient) -> dict[str, Any]:
    order = await create_order(api.http)
    await fulfil(
        api.http,
        order,
        [(0, 1)],
        carrier="ups",
        tracking_number="1Z999AA10123456784",
    )
    return order


async def package_of(owner: httpx.AsyncClient, order: dict[str, Any]) -> httpx.Response:
    assert (
        await login(owner, path_of(order), order["number"], "kari@example.com")
    ).status_code == 303
    return await owner.get(f"{path_of(order)}/wallet.order")


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def verifies(folder: Path, files: dict[str, bytes], root: Path) -> bool:
    """openssl's verdict on the detached signature of manifest.json, up to our root."""
    (folder / "manifest.json").write_bytes(files["manifest.json"])
    (folder / "signature").write_bytes(files["signature"])
    done = subprocess.run(
        [
            "openssl", "smime", "-verify", "-binary", "-inform", "DER",
            "-in", str(folder / "signature"), "-content", str(folder / "manifest.json"),
            "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    return done.returncode == 0


def auth(order_json: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"AppleOrder {order_json['authenticationToken']}"}


async def test_the_owner_gets_a_signed_package_whose_manifest_matches(
    api: ShopClient, owner: httpx.AsyncClient, wallet_files: WalletFiles, tmp_path: Path
) -> None:
    order = await shipped_order(api)
    response = await package_of(owner, order)
    assert response.status_code == 200
    assert response.headers["content-type"] == ORDER_TYPE
    assert "Last-Modified" in response.headers
    files = unzip(response.content)
    assert {"order.json", "manifest.json", "signature"} <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    assert verifies(tmp_path, files, wallet_files.root)
    signed_with = {
        c.subject.rfc4514_string() for c in pkcs7.load_der_pkcs7_certificates(files["signature"])
    }
    assert signed_with == {f"CN=Order Type ID: {ORDER_TYPE_ID}", "CN=Test WWDR"}
    # A changed manifest no longer verifies: the check above can fail.
    tampered = {
        **files,
        "manifest.json": files["manifest.json"].replace(b"order.json", b"order.jsoN"),
    }
    assert not verifies(tmp_path, tampered, wallet_files.root)

    data = json.loads(files["order.json"])
    assert data["schemaVersion"] == 1
    assert data["orderTypeIdentifier"] == ORDER_TYPE_ID
    assert data["orderType"] == "ecommerce"
    assert data["orderNumber"] == order["number"]
    assert data["status"] == "open"
    assert data["webServiceURL"] == "https://status.example.test/wallet/"
    assert len(data["authenticationToken"]) >= 16
    assert data["orderManagementURL"] == order["status_page_url"]
    assert data["merchant"]["displayName"] == "Acme"
    assert [i["title"] for i in data["lineItems"]] == ["Mug", "Scarf", "Socks"]
    assert data["lineItems"][0]["subtitle"] == "Blue"
    assert data["lineItems"][0]["price"] == {"amount": 249.0, "currency": "NOK"}
    [shipment] = data["fulfillments"]
    assert shipment["fulfillmentType"] == "shipping"
    assert shipment["status"] == "onTheWay"
    assert shipment["carrier"] == "UPS"
    assert shipment["trackingNumber"] == "1Z999AA10123456784"
    assert shipment["trackingURL"].startswith("https://")
    assert [i["title"] for i in shipment["lineItems"]] == ["Mug"]


async def test_a_package_carries_only_what_the_owner_view_shows(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    order = await shipped_order(api)
    response = await package_of(owner, order)
    page = (await owner.get(path_of(order))).text
    raw = unzip(response.content)["order.json"].decode()
    # Never the contacts, addresses, payment details or the SKU (not on the page).
    for secret in ("kari@example.com", "Nordmann", "Storgata", "0155", "4242", "Visa", "MUG-B"):
        assert secret not in raw, secret
    data = json.loads(raw)

    def texts(value: Any, key: str = "") -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return [t for k, v in value.items() for t in texts(v, k)]
        if isinstance(value, list):
            return [t for v in value for t in texts(v, key)]
        return [(key, value)] if isinstance(value, str) else []

    technical = {
        "orderTypeIdentifier", "orderIdentifier", "orderType", "authenticationToken",
        "webServiceURL", "merchantIdentifier", "status", "fulfillmentType",
        "fulfillmentIdentifier", "createdAt", "updatedAt", "shippedAt", "currency",
        "orderManagementURL", "url",
    }  # fmt: skip
    shown = [(k, v) for k, v in texts(data) if k not in technical]
    assert shown, "the package says something the customer reads"
    for key, value in shown:
        assert value.replace("&", "&amp;") in page, (key, value)


async def test_only_the_owner_gets_the_package(api: ShopClient, owner: httpx.AsyncClient) -> None:
    order = await shipped_order(api)
    stranger = await owner.get(f"{path_of(order)}/wallet.order")
    assert stranger.status_code == 403
    assert stranger.headers["content-type"].startswith("text/html")
    assert (await owner.get("/orders/nope/wallet.order")).status_code == 404
    public = (await owner.get(path_of(order))).text
    assert "wallet.order" not in public
    await login(owner, path_of(order), order["number"], "kari@example.com")
    page = (await owner.get(path_of(order))).text
    assert "Add to Apple Wallet" in page and "data-apple-wallet" in page
    assert "/static/wallet." in page


async def test_without_certificates_nothing_of_it_shows(
    database_url: str, tmp_path: Path, database: Database
) -> None:
    settings = Settings.from_env(
        {},
        database_url=database_url,
        base_url="https://status.example.test",
        secret_key="s" * 40,
        var_dir=str(tmp_path / "var"),
    )
    assert database.before_commit is None
    app = create_app(settings, database)
    assert database.before_commit is None  # no pushes queued, not even a query
    _shop_id, key = await _shop(database, "acme")
    await add_staff(database, "acme", "anna@acme.example")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as http:
        order = await create_order(
            httpx.AsyncClient(
                transport=http._transport,
                base_url="https://testserver",
                headers={"Authorization": f"Bearer {key}"},
            )
        )
        await login(http, path_of(order), order["number"], "kari@example.com")
        page = (await http.get(path_of(order))).text
        assert "Kari" in page
        assert "Add to Apple Wallet" not in page and "/static/wallet." not in page
        assert (await http.get(f"{path_of(order)}/wallet.order")).status_code == 404
        answer = await http.get(f"/wallet/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}")
        assert answer.status_code == 404
        assert (await sign_in(http, "anna@acme.example")).status_code == 303
        admin = (await http.get("/admin/notifications")).text
        assert "Apple Wallet" in admin and "Not set up" in admin


async def test_the_web_service_answers_as_wallet_expects(
    api: ShopClient, owner: httpx.AsyncClient, database: Database
) -> None:
    order = await shipped_order(api)
    async with database.write() as session:  # changed a while ago, not in this second
        await session.execute(
            update(Order).values(updated_at=datetime.now(UTC) - timedelta(seconds=5))
        )
    data = json.loads(unzip((await package_of(owner, order)).content)["order.json"])
    wallet = httpx.AsyncClient(transport=api.http._transport, base_url="https://testserver/wallet")
    identifier = data["orderIdentifier"]
    registration = f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}/{identifier}"
    body = {"pushToken": PUSH_TOKEN}

    assert (await wallet.post(registration, json=body)).status_code == 401
    wrong = {"Authorization": "AppleOrder " + "x" * 64}
    assert (await wallet.post(registration, json=body, headers=wrong)).status_code == 401
    unknown = f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}/999999"
    assert (await wallet.post(unknown, json=body, headers=auth(data))).status_code == 401
    other_type = f"/v1/devices/{DEVICE}/registrations/order.other/{identifier}"
    assert (await wallet.post(other_type, json=body, headers=auth(data))).status_code == 404
    assert (await wallet.post(registration, content=b"{", headers=auth(data))).status_code == 400
    assert (await wallet.post(registration, json=body, headers=auth(data))).status_code == 201
    assert (await wallet.post(registration, json=body, headers=auth(data))).status_code == 200

    listing = await wallet.get(f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}")
    assert listing.status_code == 200
    assert listing.json()["orderIdentifiers"] == [identifier]
    tag = listing.json()["lastModified"]
    since = {"ordersModifiedSince": tag}
    same = await wallet.get(f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}", params=since)
    assert same.status_code == 204
    other = await wallet.get(f"/v1/devices/other/registrations/{ORDER_TYPE_ID}")
    assert other.status_code == 204

    latest = await wallet.get(f"/v1/orders/{ORDER_TYPE_ID}/{identifier}", headers=auth(data))
    assert latest.status_code == 200 and latest.headers["content-type"] == ORDER_TYPE
    modified = latest.headers["Last-Modified"]
    unchanged = await wallet.get(
        f"/v1/orders/{ORDER_TYPE_ID}/{identifier}",
        headers={**auth(data), "If-Modified-Since": modified},
    )
    assert unchanged.status_code == 304
    assert (await wallet.get(f"/v1/orders/{ORDER_TYPE_ID}/{identifier}")).status_code == 401

    # The order changes: it is listed again, and the package is new.
    shipment = (await api.http.get(f"/api/v1/orders/{order['id']}")).json()["fulfillments"][0]
    event = {"status": "out_for_delivery", "occurred_at": datetime.now(UTC).isoformat()}
    posted = await api.http.post(f"/api/v1/fulfillments/{shipment['id']}/events", json=event)
    assert posted.status_code in (200, 201), posted.text
    changed = await wallet.get(f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}", params=since)
    assert changed.status_code == 200 and changed.json()["orderIdentifiers"] == [identifier]
    assert changed.json()["lastModified"] != tag
    fresh = await wallet.get(
        f"/v1/orders/{ORDER_TYPE_ID}/{identifier}",
        headers={**auth(data), "If-Modified-Since": modified},
    )
    assert fresh.status_code == 200
    now = json.loads(unzip(fresh.content)["order.json"])
    assert now["fulfillments"][0]["status"] == "outForDelivery"
    assert now["updatedAt"] >= data["updatedAt"]

    assert (await wallet.post("/v1/log", json={"logs": ["could not parse"]})).status_code == 200
    assert (await wallet.delete(registration)).status_code == 401
    assert (await wallet.delete(registration, headers=auth(data))).status_code == 200
    gone = await wallet.get(f"/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}")
    assert gone.status_code == 204
    await wallet.aclose()


async def register(
    api: ShopClient, owner: httpx.AsyncClient, order: dict[str, Any], token: str
) -> None:
    data = json.loads(unzip((await package_of(owner, order)).content)["order.json"])
    path = f"/wallet/v1/devices/{token[:8]}/registrations/{ORDER_TYPE_ID}/{data['orderIdentifier']}"
    answer = await owner.post(path, json={"pushToken": token}, headers=auth(data))
    assert answer.status_code == 201


async def test_a_change_pushes_to_the_registered_device_over_http2(
    api: ShopClient,
    owner: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    apns: FakeApns,
    wallet_files: WalletFiles,
) -> None:
    order = await create_order(api.http)
    await register(api, owner, order, PUSH_TOKEN)
    async with database.read() as session:
        assert (await session.scalars(select(WalletPush))).all() == []
    await fulfil(api.http, order, [(0, 1)], carrier="ups", tracking_number="1Z999AA10123456784")
    await fulfil(api.http, order, [(1, 1)])
    async with database.read() as session:
        waiting = (await session.scalars(select(WalletPush))).all()
    assert [(p.push_token, p.state) for p in waiting] == [(PUSH_TOKEN, "pending")]  # one wakes it

    keys = load_wallet_keys(settings)
    assert keys is not None
    pusher = WalletPusher(database, keys, verify=apns.client_tls)
    try:
        assert await pusher.drain() == {"sent": 1}
    finally:
        await pusher.apns.close()
    [push] = apns.pushes
    assert push.http_version == "2"
    assert push.path == f"/3/device/{PUSH_TOKEN}"
    assert push.headers["apns-topic"] == ORDER_TYPE_ID
    assert push.headers["apns-push-type"] == "background"
    assert push.body == b"{}"
    scheme, token = push.headers["authorization"].split(" ", 1)
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token)["kid"] == APNS_KEY_ID
    claims = jwt.decode(token, wallet_files.apns_public, algorithms=["ES256"])
    assert claims["iss"] == APNS_TEAM_ID and isinstance(claims["iat"], int)
    async with database.read() as session:
        assert (await session.scalars(select(WalletPush.state))).all() == ["sent"]


async def test_a_token_apns_calls_gone_loses_its_registrations(
    api: ShopClient,
    owner: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    apns: FakeApns,
) -> None:
    order = await create_order(api.http)
    gone, busy = "b" * 64, "c" * 64
    await register(api, owner, order, gone)
    await register(api, owner, order, busy)
    apns.refuse[gone] = (410, "Unregistered")
    apns.refuse[busy] = (429, "TooManyRequests")
    await fulfil(api.http, order, [(0, 1)])
    keys = load_wallet_keys(settings)
    assert keys is not None
    pusher = WalletPusher(database, keys, verify=apns.client_tls)
    try:
        assert await pusher.drain() == {"failed": 1, "retry": 1}
    finally:
        await pusher.apns.close()
    async with database.read() as session:
        tokens = (await session.scalars(select(WalletRegistration.push_token))).all()
        states = dict(
            (await session.execute(select(WalletPush.push_token, WalletPush.state))).all()
        )
    assert tokens == [busy]
    assert states == {gone: "failed", busy: "pending"}


def test_last_modified_never_hides_a_change_in_the_same_second() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    later = moment + timedelta(minutes=1)
    assert last_modified(moment, later) == datetime(2030, 1, 2, 3, 4, 6, tzinfo=UTC)
    assert last_modified(moment.replace(microsecond=0), later) == moment.replace(microsecond=0)
    # Asked within the second of the change: the second's start, so another change
    # later in it is newer than the date Wallet got.
    same_second = moment + timedelta(microseconds=1000)
    given = last_modified(moment, same_second)
    assert given == moment.replace(microsecond=0)
    assert not is_current(moment, given)  # one more fetch, never a missed change
    assert not is_current(same_second + timedelta(microseconds=1), given)
    assert is_current(moment, last_modified(moment, later))
    assert format_datetime(given, usegmt=True) == "Wed, 02 Jan 2030 03:04:05 GMT"


async def test_the_admin_shows_the_channel_and_its_counts(
    api: ShopClient,
    owner: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    apns: FakeApns,
    staff: Staff,  # noqa: F811
) -> None:
    order = await create_order(api.http)
    await register(api, owner, order, PUSH_TOKEN)
    await fulfil(api.http, order, [(0, 1)])
    keys = load_wallet_keys(settings)
    assert keys is not None
    pusher = WalletPusher(database, keys, verify=apns.client_tls)
    try:
        await pusher.drain()
    finally:
        await pusher.apns.close()
    page = (await staff.http.get("/admin/notifications")).text
    assert "Apple Wallet" in page and "Set up" in page and "Not set up" not in page
    for name, count in {"orders": 1, "devices": 1, "sent": 1, "waiting": 0, "failed": 0}.items():
        assert f'id="wallet-{name}">{count}<' in page, name


async def test_odd_requests_get_a_4xx_never_a_5xx(
    api: ShopClient, owner: httpx.AsyncClient
) -> None:
    order = await shipped_order(api)
    data = json.loads(unzip((await package_of(owner, order)).content)["order.json"])
    base = f"/wallet/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}"
    identifiers = ["99999999999", "9" * 30, "-1", "0", "٣", "1e3", "%00", "x" * 300]
    for identifier in identifiers:
        for method in ("POST", "DELETE"):
            answer = await owner.request(
                method, f"{base}/{identifier}", json={"pushToken": PUSH_TOKEN}, headers=auth(data)
            )
            assert 400 <= answer.status_code < 500, (method, identifier, answer.status_code)
        answer = await owner.get(
            f"/wallet/v1/orders/{ORDER_TYPE_ID}/{identifier}", headers=auth(data)
        )
        assert 400 <= answer.status_code < 500, (identifier, answer.status_code)
    registration = f"{base}/{data['orderIdentifier']}"
    bodies: list[Any] = [[], "x", None, 5, {"pushToken": None}, {"pushToken": "a/../b" * 4},
                         {"pushToken": "z" * 64}, {"pushToken": "a" * 500}]  # fmt: skip
    for body in bodies:
        answer = await owner.post(registration, json=body, headers=auth(data))
        assert answer.status_code == 400, body
    for since in ("9" * 30, "-5", "yesterday", "1" * 17, ""):
        answer = await owner.get(base, params={"ordersModifiedSince": since})
        assert answer.status_code in (200, 204), since
    for date in ("not a date", "Mon, 99 Foo 2030 99:99:99 GMT", "0", "Wed, 02 Jan 2030 03:04:05"):
        answer = await owner.get(
            f"/wallet/v1/orders/{ORDER_TYPE_ID}/{data['orderIdentifier']}",
            headers={**auth(data), "If-Modified-Since": date},
        )
        assert answer.status_code == 200, date
    for body in (b"[]", b"{", b'{"logs": "x"}', b'{"logs": [1, {"a": 2}]}'):
        answer = await owner.post("/wallet/v1/log", content=body)
        assert answer.status_code in (200, 400), body


async def test_the_notification_worker_delivers_the_pushes_too(
    api: ShopClient,
    owner: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    apns: FakeApns,
) -> None:
    order = await create_order(api.http)
    await register(api, owner, order, PUSH_TOKEN)
    await fulfil(api.http, order, [(0, 1)])
    worker = Worker(database, settings, tls_context=apns.client_tls)
    try:
        done = await worker.drain()
    finally:
        await worker.close()
    assert done["wallet_sent"] == 1
    assert [p.path for p in apns.pushes] == [f"/3/device/{PUSH_TOKEN}"]


def test_the_access_log_keeps_device_identifiers_and_order_tokens_out() -> None:
    assert (
        redacted_target(f"/wallet/v1/devices/{DEVICE}/registrations/{ORDER_TYPE_ID}", b"")
        == f"/wallet/v1/devices/[redacted]/registrations/{ORDER_TYPE_ID}"
    )
    assert redacted_target("/orders/T0KEN/wallet.order", b"") == "/orders/[redacted]/wallet.order"

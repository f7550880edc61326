"""Apple Wallet package benchmark: how long one ``.order`` package takes to make.

Builds a throw-away certificate chain (root → WWDR → Order Type ID certificate, RSA
2048 as Apple issues them) and times, in this process, what
``GET /orders/{token}/wallet.order`` does after reading the order: ``order.json`` of an
order with three items and two shipments, the manifest, the detached PKCS #7 signature
and the zip, with and without two 40 KiB product images. Prints packages per second and
the median and 99th percentile per package on one core.

    .venv/bin/python bench/wallet.py
    .venv/bin/python bench/wallet.py --rounds 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from orderstatus.config import WalletKeys
from orderstatus.domain.statuses import EventStatus
from orderstatus.domain.view import (
    EventData,
    ItemData,
    OrderData,
    ShipmentData,
    ShopData,
    Viewer,
    build_view,
)
from orderstatus.domain.wallet import WalletOrder, order_json
from orderstatus.notify.wallet import package


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, by: rsa.RSAPrivateKey
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(by, hashes.SHA256())
    )


def _keys() -> WalletKeys:
    root, wwdr, signer = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    return WalletKeys(
        order_type_id="order.bench.orderstatus",
        merchant_id="order.bench.orderstatus",
        certificate=_certificate("Order Type ID", signer, "WWDR", wwdr),
        key=signer,
        wwdr=_certificate("WWDR", wwdr, "Root", root),
        apns_key=ec.generate_private_key(ec.SECP256R1()),
        apns_key_id="KEY",
        apns_team_id="TEAM",
        apns_url="https://127.0.0.1:9",
    )


def _order() -> dict[str, object]:
    now = datetime.now(UTC)
    items = [
        ItemData(i, f"Item {i}", "Blue", 1, Decimal("249.00"), f"https://s.test/media/products/{i}")
        for i in range(1, 4)
    ]
    events = [
        EventData(
            n,
            EventStatus.IN_TRANSIT,
            now - timedelta(hours=n),
            "Sorted",
            "Oslo",
            None,
            "NO",
            None,
            None,
        )
        for n in range(1, 6)
    ]
    shipments = [
        ShipmentData(
            s, "ups", "UPS", f"1Z{s}", "https://ups.test/t", True, now, now, [(s, 1)], events
        )
        for s in (1, 2)
    ]
    order = OrderData(
        1, "1001", "t" * 43, None, "NOK", "en", now, "Kari", "Nordmann", "k@example.com", None,
        None, {"address1": "Storgata 1"}, None, "card", "Visa", "4242", Decimal(747), Decimal(0),
        Decimal(0), Decimal(0), False, Decimal(747), "partial", "in_transit", items, shipments,
    )  # fmt: skip
    shop = ShopData("acme", "Acme", None, "#1f6f5c", None, None, "UTC", "en")
    view = build_view(order, shop, Viewer.OWNER, locale="en")
    wallet = WalletOrder(
        "order.bench.orderstatus", "order.bench.orderstatus", "1", "a" * 64,
        "https://s.test/wallet/", "https://s.test/orders/t", now, None,
        {f"https://s.test/media/products/{i}": f"item-{i}.png" for i in (1, 2)},
    )  # fmt: skip
    return order_json(view, wallet)


def _time(rounds: int, work: object) -> list[float]:
    assert callable(work)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    keys = _keys()
    order = _order()
    images = {"item-1.png": os.urandom(40 * 1024), "item-2.png": os.urandom(40 * 1024)}
    for name, files in (("order.json only", {}), ("with two 40 KiB images", images)):
        package(keys, order, files)  # warm up
        times = _time(args.rounds, lambda files=files: package(keys, order, files))
        ms = sorted(t * 1000 for t in times)
        print(
            f"{name:>24}: {len(ms) / sum(times):7.0f} packages/s,"
            f" median {statistics.median(ms):.2f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms"
            f" ({len(package(keys, order, files)) // 1024} KiB)"
        )


if __name__ == "__main__":
    main()

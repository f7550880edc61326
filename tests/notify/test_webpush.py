"""Web Push's parts: the VAPID token a push service checks (RFC 8292) and the encryption
only the device can undo (RFC 8291), checked with other libraries than the ones that
make them (PyJWT; http-ece's decryption with the device's key)."""

from __future__ import annotations

import json
import ssl
import time

import http_ece
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec

from orderstatus.config import vapid_raw_key
from orderstatus.domain.errors import Invalid
from orderstatus.domain.push import check_endpoint
from orderstatus.notify.email import DeliveryError
from orderstatus.notify.webpush import (
    PushSender,
    Subscription,
    Vapid,
    b64url_decode,
    default_subject,
    encrypt,
    public_key_of,
    valid_keys,
)
from tests.messaging import Device, PushService

RAW = vapid_raw_key("ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY")


def test_the_token_names_the_push_service_and_expires_within_a_day() -> None:
    vapid = Vapid(RAW, "mailto:ops@status.example")
    header = vapid.authorization("https://fcm.googleapis.com/fcm/send/abc:def")
    scheme, _, params = header.partition(" ")
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and fields["k"] == vapid.public_key == public_key_of(RAW)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    claims = jwt.decode(
        fields["t"], key=key, algorithms=["ES256"], audience="https://fcm.googleapis.com"
    )
    assert claims["sub"] == "mailto:ops@status.example"
    assert 0 < claims["exp"] - time.time() <= 86400
    # Reused for the same service while young; another service gets its own.
    assert vapid.authorization("https://fcm.googleapis.com/other") == header
    assert vapid.authorization("https://web.push.apple.com/x") != header
    later = vapid.authorization("https://fcm.googleapis.com/x", now=time.time() + 7 * 3600)
    assert later != header


def test_only_the_device_can_read_the_message() -> None:
    device, stranger = Device("phone"), Device("other")
    subscription = Subscription("https://push.example/x", device.p256dh, device.auth)
    message = json.dumps({"title": "Din bestilling #1001 er sendt", "body": "Bring har den"})
    body = encrypt(message.encode(), subscription)
    assert body != encrypt(message.encode(), subscription)  # a fresh key and salt each time
    plain = http_ece.decrypt(
        body, private_key=device.key, auth_secret=device.auth_secret, version="aes128gcm"
    )
    assert json.loads(plain)["title"] == "Din bestilling #1001 er sendt"
    with pytest.raises(http_ece.ECEException):
        http_ece.decrypt(
            body, private_key=stranger.key, auth_secret=stranger.auth_secret, version="aes128gcm"
        )


def test_subscription_keys_and_endpoints_are_checked() -> None:
    device = Device("phone")
    assert valid_keys(device.p256dh, device.auth)
    assert not valid_keys("AAAA", device.auth)
    assert not valid_keys(device.p256dh, "c2hvcnQ")
    assert check_endpoint(" https://fcm.googleapis.com/fcm/send/x ") == (
        "https://fcm.googleapis.com/fcm/send/x"
    )
    for endpoint in (
        "http://fcm.googleapis.com/x",
        "https://user:pw@push.example/x",
        "https://192.168.1.1/x",
        "https://localhost/x",
        "https://push:99999/x",
        "",
    ):
        with pytest.raises(Invalid):
            check_endpoint(endpoint)
    assert check_endpoint("http://127.0.0.1:8080/x", allow_private=True)


def test_the_subject_is_the_https_site_else_the_sender() -> None:
    assert default_subject("https://status.example", "o@x.example") == "https://status.example"
    assert default_subject("http://127.0.0.1:8000", "no-reply@localhost") == (
        "mailto:no-reply@localhost"
    )


@pytest.fixture
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for ``localhost`` and a client context that trusts it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_a_push_service_on_a_private_address_is_never_called(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """The endpoint names a host that resolves to this machine: refused for good before
    any connection, whatever the subscription said."""
    service = await PushService(tls=tls[0]).start()
    sender = PushSender(Vapid(RAW, "mailto:ops@status.example"), verify=tls[1])
    try:
        device = service.device("phone")
        subscription = Subscription(service.endpoint("phone"), device.p256dh, device.auth)
        with pytest.raises(DeliveryError, match="private, loopback") as refused:
            await sender.send(subscription, b"{}")
        assert refused.value.permanent
    finally:
        await sender.close()
        await service.stop()
    assert service.received == [] and service.refused == []


async def test_the_push_goes_to_the_address_that_was_checked(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Connected by the address looked up, with the name for TLS and Host: the push
    service's certificate and its VAPID audience still match."""
    service = await PushService(tls=tls[0]).start()
    sender = PushSender(
        Vapid(RAW, "mailto:ops@status.example"), verify=tls[1], public=lambda address: True
    )
    try:
        device = service.device("phone")
        subscription = Subscription(service.endpoint("phone"), device.p256dh, device.auth)
        answer = await sender.send(subscription, b'{"title": "Sendt"}')
        await sender.send(subscription, b'{"title": "Levert"}')
    finally:
        await sender.close()
        await service.stop()
    assert service.refused == []
    assert [p.message["title"] for p in service.received] == ["Sendt", "Levert"]
    assert service.received[0].headers["Host"] == f"localhost:{service.port}"
    assert answer["push_id"].startswith(service.origin)

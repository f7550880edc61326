"""E-mail: a proper MIME message, sent over plain SMTP, STARTTLS or SMTPS with a login."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
import trustme

from orderstatus.notify.email import (
    DeliveryError,
    Recipient,
    SmtpConfig,
    SmtpConnection,
    build_message,
    message_bytes,
    message_id,
    recipient_of,
    sender_address,
)
from orderstatus.notify.templates import RenderedEmail
from tests.messaging import MailServer, strictly_parsed

RENDERED = RenderedEmail(
    subject="Bestillingen din #1001 er på vei \u2013 sporing og detaljer for hele sendingen din",
    text="Hei Kåre,\n.en linje som starter med punktum\n" + "ø" * 300 + "\n",
    html="<p>Hei Kåre, 😀</p>",
)


def built(**overrides: object) -> bytes:
    options: dict[str, object] = {
        "sender": "orders@status.example.com",
        "sender_name": "Fjord & Wøøl",
        "recipient": "kari@example.com",
        "reply_to": "hello@fjord.example",
        "message_id": "<o1.f0.order_confirmation.email.5f@status.example.com>",
        "language": "nb",
    }
    return message_bytes(build_message(RENDERED, **(options | overrides)))  # type: ignore[arg-type]


def parsed(data: bytes) -> EmailMessage:
    return strictly_parsed(data)


def test_the_message_is_multipart_text_and_html_in_utf8() -> None:
    data = built()
    assert all(b < 128 for b in data), "7-bit clean: passes any server"
    assert max(len(line) for line in data.split(b"\n")) <= 78
    message = parsed(data)
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content() == RENDERED.text.replace("\n", "\r\n").replace("\r\n", "\n")
    assert html.get_content() == RENDERED.html
    assert message["Subject"] == RENDERED.subject
    assert message["From"].addresses[0].display_name == "Fjord & Wøøl"
    assert message["From"].addresses[0].addr_spec == "orders@status.example.com"
    assert message["Reply-To"] == "hello@fjord.example"
    assert message["Message-ID"].strip() == "<o1.f0.order_confirmation.email.5f@status.example.com>"
    assert message["Content-Language"] == "nb" and message["Auto-Submitted"] == "auto-generated"
    assert abs((parsedate_to_datetime(message["Date"]) - datetime.now(UTC)).total_seconds()) < 60


@pytest.mark.parametrize(
    "given",
    [
        "=?utf-8?q?BETALT_x?=",
        "Order =?UTF-8?B?QkVUQUxU?= ready",
        "Bestilling =?utf-8?q?=C3=A5?= klar",
    ],
)
def test_header_values_show_as_given_even_when_they_look_like_encoded_words(given: str) -> None:
    rendered = RenderedEmail(subject=f"Order #{given} confirmed", text="x\n", html="<p>x</p>")
    data = message_bytes(
        build_message(
            rendered,
            sender="orders@status.example.com",
            sender_name=given,
            recipient="kari@example.com",
            reply_to=None,
            message_id="<o1.f0.order_confirmation.email.5f@status.example.com>",
            language="en",
        )
    )
    message = parsed(data)
    assert message["Subject"] == f"Order #{given} confirmed"
    assert message["From"].addresses[0].display_name == given
    assert message["From"].addresses[0].addr_spec == "orders@status.example.com"


@pytest.mark.parametrize(
    ("address", "header", "envelope", "smtputf8"),
    [
        ("kari@example.com", "kari@example.com", "kari@example.com", False),
        ("kari@blåbær.no", "kari@xn--blbr-roah.no", "kari@xn--blbr-roah.no", False),
        ("kåre@example.no", "kåre@example.no", "kåre@example.no", True),
        ("kåre@blåbær.no", "kåre@blåbær.no", "kåre@xn--blbr-roah.no", True),
    ],
)
def test_addresses_outside_ascii(address: str, header: str, envelope: str, smtputf8: bool) -> None:
    assert recipient_of(address) == Recipient(header, envelope, smtputf8)
    data = built(recipient=address)
    assert data.isascii() is not smtputf8
    message = strictly_parsed(data, smtputf8=smtputf8)
    assert message["To"].addresses[0].addr_spec == header


def test_the_message_id_is_fixed_by_the_outbox_row() -> None:
    written = datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)
    first = message_id("o7.f3.delivered.email", written, "orders@status.example.com")
    assert first == message_id("o7.f3.delivered.email", written, "orders@status.example.com")
    assert first.startswith("<o7.f3.delivered.email.") and first.endswith("@status.example.com>")
    assert first != message_id("o7.f3.delivered.email", written.replace(second=1), "a@b.example")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 25, False, None, None)),
        ("smtps://mail.example.com", SmtpConfig("mail.example.com", 465, True, None, None)),
        (
            "smtp://user%40shop:p%40ss%3Aword@mail.example.com:587",
            SmtpConfig("mail.example.com", 587, False, "user@shop", "p@ss:word"),
        ),
    ],
)
def test_smtp_urls(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    ("configured", "base", "sender"),
    [
        ("orders@shop.example", "https://status.example.com", "orders@shop.example"),
        (None, "https://status.example.com", "no-reply@status.example.com"),
        (None, "http://127.0.0.1:8000", "no-reply@localhost"),
    ],
)
def test_the_sender(configured: str | None, base: str, sender: str) -> None:
    assert sender_address(configured, base) == sender


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    yield server, client


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
async def test_sends_over_tls_with_a_login(
    mode: str, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_tls, client_tls = tls
    box = MailServer(
        credentials=("shop@example.com", "s3cret pass"),
        starttls=server_tls if mode == "starttls" else None,
        implicit_tls=server_tls if mode == "smtps" else None,
    )
    await box.start()
    url = box.url.replace("s3cret pass", "s3cret%20pass")
    connection = SmtpConnection(SmtpConfig.from_url(url), tls_context=client_tls, timeout=5)
    try:
        for n in range(2):  # the second goes over the same session
            await connection.send(
                built(message_id=f"<m{n}@status.example.com>"),
                sender="orders@status.example.com",
                recipient="kari@example.com",
            )
    finally:
        await connection.close()
        await box.stop()
    assert box.logins == ["shop@example.com"], "one session, one login"
    assert [r.message_id for r in box.received] == [
        "<m0@status.example.com>",
        "<m1@status.example.com>",
    ]
    assert box.received[0].part("plain").startswith("Hei Kåre,\n.en linje")


async def test_a_wrong_password_can_be_retried_a_refused_recipient_cannot() -> None:
    box = await MailServer(credentials=("shop", "right")).start()
    box.refuse.add("gone@example.com")
    wrong = SmtpConnection(SmtpConfig.from_url(box.url.replace("right", "wrong")), timeout=5)
    right = SmtpConnection(SmtpConfig.from_url(box.url), timeout=5)
    try:
        with pytest.raises(DeliveryError) as login:
            await wrong.send(built(), sender="a@b.example", recipient="kari@example.com")
        assert not login.value.permanent
        with pytest.raises(DeliveryError) as refused:
            await right.send(built(), sender="a@b.example", recipient="gone@example.com")
        assert refused.value.permanent and "550" in str(refused.value)
        await right.send(built(), sender="a@b.example", recipient="kari@example.com")
    finally:
        await wrong.close()
        await right.close()
        await box.stop()
    assert [r.recipients for r in box.received] == [["kari@example.com"]]


async def test_a_server_that_is_not_there_is_a_retry() -> None:
    box = MailServer()  # never started
    connection = SmtpConnection(SmtpConfig.from_url(box.url), timeout=5)
    with pytest.raises(DeliveryError) as error:
        await connection.send(built(), sender="a@b.example", recipient="kari@example.com")
    assert not error.value.permanent and error.value.args[0].startswith("SMTP: ")

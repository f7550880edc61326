"""E-mail: building a proper message and handing it to an SMTP server.

The Message-ID comes from the outbox row, not from the moment of sending, so a message
that is sent again after a crash carries the same id and the receiving side can tell
it is the same message.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from orderstatus.notify.templates import RenderedEmail

SMTP_PORT = 25
SMTPS_PORT = 465
SEND_TIMEOUT = 30.0
IDLE_RECONNECT = 15.0
"""Seconds after which an idle connection is replaced rather than trusted: servers
drop idle clients, and a failure on a stale connection would cost a retry."""


NEEDS_SMTPUTF8 = (
    "the address has characters outside ASCII before the @, which needs SMTPUTF8,"
    " and the SMTP server does not offer it"
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One address as the message and the SMTP envelope need it."""

    header: str
    """For the To header: the address as given, or with its domain in IDNA (xn--) when
    the message cannot carry UTF-8 headers."""
    envelope: str
    """For RCPT TO: the domain always in IDNA."""
    smtputf8: bool
    """The part before the @ is not ASCII: only a server with SMTPUTF8 takes it."""


def recipient_of(address: str) -> Recipient:
    """How to send to an address; an ASCII one goes as it is."""
    if address.isascii():
        return Recipient(address, address, smtputf8=False)
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        # Not ours to refuse here (input is checked at the door): the server decides.
        return Recipient(address, address, smtputf8=True)
    if checked.ascii_email:
        return Recipient(checked.ascii_email, checked.ascii_email, smtputf8=False)
    envelope = f"{checked.local_part}@{checked.ascii_domain}"
    return Recipient(checked.normalized, envelope, smtputf8=True)


class DeliveryError(Exception):
    """A send that did not happen. ``permanent``: trying again will not help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """``smtp://user:pass@host:587`` (STARTTLS when the server offers it) or
        ``smtps://…`` (TLS from the first byte); user and password are URL-quoted."""
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (SMTPS_PORT if implicit else SMTP_PORT),
            implicit_tls=implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def sender_address(smtp_from: str | None, base_url: str) -> str:
    """The envelope and From address: the configured one, else no-reply at our host."""
    if smtp_from:
        return smtp_from
    host = urlsplit(base_url).hostname or "localhost"
    if host.replace(".", "").isdigit() or ":" in host or "." not in host:
        host = "localhost"
    return f"no-reply@{host}"


def message_id(key: str, created_at: datetime, sender: str) -> str:
    """A Message-ID fixed for the life of the outbox row: its key, the time it was
    written (so a database started afresh never repeats one) and our domain."""
    stamp = format(int(created_at.timestamp() * 1_000_000), "x")
    return f"<{key}.{stamp}@{sender.rpartition('@')[2] or 'localhost'}>"


def _utf8_qp() -> Charset:
    charset = Charset("utf-8")
    charset.header_encoding = QP
    charset.body_encoding = QP
    return charset


_UTF8 = _utf8_qp()


def _plain(value: str) -> bool:
    """Whether a header value can go as it is: ASCII, and nothing a reader would take
    for an encoded word (``=?utf-8?q?…?=`` must show as typed, not decoded)."""
    return value.isascii() and "=?" not in value


def _header(name: str, value: str) -> str:
    """An encoded-word header, folded knowing its name so no line runs long."""
    return value if _plain(value) else Header(value, _UTF8, header_name=name).encode()


def _mailbox(name: str, address: str) -> str:
    """``Name <address>``, the name quoted or, when not plain, in an encoded word."""
    if _plain(name):
        return formataddr((name, address))
    return f"{Header(name, _UTF8, header_name='From').encode()} <{address}>"


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    sender_name: str,
    recipient: str,
    reply_to: str | None,
    message_id: str,
    language: str,
    date: datetime | None = None,
) -> Message:
    """multipart/alternative (text, then HTML), UTF-8 in quoted-printable so it passes
    any server, names and subject in encoded words where they are not ASCII.

    Built with the classic MIME classes: they make the same message as EmailMessage at
    a tenth of the cost, which is most of what a busy worker spends per message.
    """
    message = MIMEMultipart("alternative")
    message["From"] = _mailbox(sender_name, sender)
    to = recipient_of(recipient)
    message["To"] = to.header
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = _header("Subject", rendered.subject)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Content-Language"] = language
    message["Auto-Submitted"] = "auto-generated"
    message.attach(_text_part(rendered.text, "plain"))
    message.attach(_text_part(rendered.html, "html"))
    return message


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8)
    return part


def message_bytes(message: Message) -> bytes:
    """The message as sent (the SMTP client turns line ends into CRLF). A message to an
    address outside ASCII carries it in a UTF-8 header (RFC 6532), sent with SMTPUTF8."""
    if str(message["To"]).isascii():
        return message.as_bytes()
    return message.as_bytes(policy=policy.SMTPUTF8)


class SmtpConnection:
    """One SMTP session kept open between messages (connecting costs more than a send),
    opened again after an error or when it has been idle too long."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        timeout: float = SEND_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.tls_context = tls_context
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and (
            not self._client.is_connected or time.monotonic() - self._last_used > IDLE_RECONNECT
        ):
            await self.close()
        if self._client is None:
            client = aiosmtplib.SMTP(
                hostname=self.config.host,
                port=self.config.port,
                use_tls=self.config.implicit_tls,
                start_tls=None if not self.config.implicit_tls else False,
                username=self.config.username,
                password=self.config.password,
                timeout=self.timeout,
                tls_context=self.tls_context,
            )
            await client.connect()
            self._client = client
        return self._client

    async def send(self, data: bytes, *, sender: str, recipient: str) -> None:
        to = recipient_of(recipient)
        client: aiosmtplib.SMTP | None = None
        try:
            client = await self._connected()
            await client.sendmail(
                sender, [to.envelope], data, mail_options=["SMTPUTF8"] if to.smtputf8 else None
            )
        except aiosmtplib.SMTPNotSupported as exc:
            if to.smtputf8 and client is not None and not client.supports_extension("smtputf8"):
                raise DeliveryError(NEEDS_SMTPUTF8, permanent=True) from None
            await self.close()
            raise DeliveryError(_describe(exc)) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self.close()
            codes = [error.code for error in exc.recipients]
            raise DeliveryError(
                f"the server refused the recipient: {_describe(exc)}",
                permanent=bool(codes) and all(500 <= code < 600 for code in codes),
            ) from None
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            await self.close()
            raise DeliveryError(_describe(exc), permanent=500 <= exc.code < 600) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise DeliveryError(_describe(exc)) from None
        self._last_used = time.monotonic()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit(timeout=2)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"SMTP: {text}"[:500]

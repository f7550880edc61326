"""Settings from the environment (prefix ``ORDERSTATUS_``), checked once at start.

One :class:`Settings` object is made by the entry point and passed in; nothing reads the
environment anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orderstatus.domain.notifications import is_e164

DEFAULT_VAR_DIR = Path("var")
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
SMS_SENDER_NAME_MAX = 11
"""The longest alphanumeric sender id phone networks accept."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_raw_key(text: str) -> str:
    """A VAPID private key (a P-256 key) as its 32 bytes in unpadded base64url, the form
    web push tools print; given as that or as PEM. ValueError when it is neither."""
    text = text.strip()
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("is not a PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("must be a P-256 (prime256v1) key")
        return _b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "must be a P-256 private key: 32 bytes in base64url (as web push tools print it) or PEM"
        )
    try:
        ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise ValueError("is not a valid P-256 private key") from None
    return _b64url(raw)


WALLET_SETTINGS = (
    "wallet_order_type_id",
    "wallet_cert",
    "wallet_key",
    "wallet_wwdr",
    "apns_key",
    "apns_key_id",
    "apns_team_id",
)


class SettingsError(Exception):
    """A setting is wrong; the message is one line an operator can act on."""


def _async_database_url(url: str) -> str:
    """Accept the plain URLs operators know and pick the async driver we ship."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as sqlite:///var/orderstatus.db or postgresql://…")
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
    }.get(scheme.lower())
    if driver is None:
        raise ValueError(f"unsupported database {scheme!r}: use sqlite:// or postgresql://")
    return f"{driver}://{rest}"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = ""
    """Empty: a SQLite file in ``var_dir`` (filled in by :meth:`_default_database`)."""
    redis_url: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    sms_url: str | None = None
    smtp_from: str | None = None
    sms_from: str | None = Field(default=None, validate_default=True)
    map_tile_url: str | None = None
    """None: maps draw the built-in base map (static/basemap/world.json) and load no tiles."""
    map_attribution: str = "© OpenStreetMap contributors"
    """Shown with the tiles of ``map_tile_url``, whose licence usually asks for it."""
    var_dir: Path = DEFAULT_VAR_DIR
    trusted_proxies: tuple[Network, ...] = ()
    """Peers whose X-Forwarded-For is believed (see web.clients)."""
    media_allow_private: bool = False
    """Let product images be fetched from private, loopback and link-local addresses."""
    webhooks_allow_private: bool = False
    """Let outbound webhooks go to private, loopback and link-local addresses."""
    link_days: int = Field(default=30, ge=0, le=3650)
    """How long the page links in e-mails and texts open the owner's view; 0: never."""
    retain_pii_days: int | None = None
    """Days after a finished order last changed before its customer's data is removed;
    unset: kept."""
    metrics_token: str | None = Field(default=None, repr=False)
    """The bearer token `/metrics` answers to; unset, `/metrics` is not there (404)."""
    metrics_dir: Path | None = None
    """Where the processes of this host keep their numbers; empty: ``var_dir/metrics``."""
    log_format: Literal["text", "json"] = "text"
    vapid_private_key: str | None = Field(default=None, repr=False)
    """The key web pushes are signed with (RFC 8292); unset: one made at first start and
    kept in the var folder, like the secret key."""
    vapid_subject: str | None = None
    """How push services can reach the operator: ``mailto:…`` or ``https://…``; unset:
    the public address when it is https, else ``mailto:`` the sender address."""
    push_allow_private: bool = False
    """Accept push endpoints on plain http and private addresses (tests, a push service
    of one's own on a private network)."""
    wallet_order_type_id: str | None = None
    """Apple Wallet orders: the Order Type ID (``order.com.example.shop``); with the
    certificate, its key, Apple's WWDR certificate and the APNs key below, or none."""
    wallet_cert: Path | None = None
    """The Order Type ID certificate (PEM or DER)."""
    wallet_key: Path | None = None
    """The certificate's private key (PEM, unencrypted)."""
    wallet_wwdr: Path | None = None
    """Apple's WWDR intermediate certificate that issued ``wallet_cert`` (PEM or DER)."""
    wallet_merchant_id: str | None = None
    """The Apple Merchant ID shown in Wallet; unset: the Order Type ID."""
    apns_key: Path | None = None
    """The APNs authentication key (``AuthKey_XXXXXXXXXX.p8``) that tells devices of changes."""
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_url: str = "https://api.push.apple.com"
    """APNs' address; ``https://api.sandbox.push.apple.com`` for development devices."""

    @model_validator(mode="before")
    @classmethod
    def _default_database(cls, values: Any) -> Any:
        """The default SQLite file lives in the var folder, so a server started from
        another working directory still opens the same database."""
        if isinstance(values, dict) and not values.get("database_url"):
            var_dir = values.get("var_dir") or DEFAULT_VAR_DIR
            values = {**values, "database_url": f"sqlite:///{var_dir}/orderstatus.db"}
        return values

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        return _async_database_url(value.strip())

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be the public http(s) address, e.g. https://status.example.com")
        return value.strip().rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("must start with smtp:// or smtps://")
        return value or None

    @field_validator("sms_url", "map_tile_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value or None

    @field_validator("smtp_url")
    @classmethod
    def _smtp_host(cls, value: str | None) -> str | None:
        if value and not urlsplit(value).hostname:
            raise ValueError("must name a host, e.g. smtp://user:pass@mail.example.com:587")
        return value

    @field_validator("sms_url")
    @classmethod
    def _sms_account(cls, value: str | None) -> str | None:
        parts = urlsplit(value) if value else None
        if parts and not (parts.username and parts.password):
            raise ValueError(
                "must carry the account and token: https://ACCOUNT:TOKEN@host/…/Messages.json"
            )
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str | None) -> str | None:
        if not value:
            return None
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or not domain or any(c.isspace() or c in "<>" for c in value):
            raise ValueError("must be an e-mail address, e.g. orders@status.example.com")
        return value.strip()

    @field_validator("sms_from")
    @classmethod
    def _sms_from(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            if info.data.get("sms_url"):
                raise ValueError("is needed with ORDERSTATUS_SMS_URL: a +E.164 number or a name")
            return None
        if value.startswith("+"):
            if not is_e164(value):
                raise ValueError("must be a number in E.164 form such as +4712345678")
        elif not (
            len(value) <= SMS_SENDER_NAME_MAX
            and value.replace(" ", "").isalnum()
            and value.isascii()
            and any(c.isalpha() for c in value)
        ):
            raise ValueError(
                f"must be a +E.164 number or a name of at most {SMS_SENDER_NAME_MAX} letters"
                " and digits"
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks = []
        for part in value.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"has {part!r}, which is not an address or network:"
                    " list them separated by commas, e.g. 10.0.0.1,192.168.0.0/16"
                ) from None
        return tuple(networks)

    @field_validator("retain_pii_days", mode="before")
    @classmethod
    def _days(cls, value: object) -> int | None:
        if value is None:
            return None
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ValueError("must be a whole number of days, 1 or more (unset: keep)")
        return int(text)

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and (
            len(value) < MIN_METRICS_TOKEN_LENGTH or not all("!" <= c <= "~" for c in value)
        ):
            raise ValueError(
                f"must be at least {MIN_METRICS_TOKEN_LENGTH} characters of random text"
                " (letters, digits, punctuation; no spaces)"
            )
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("text", "json"):
                raise ValueError("must be text or json")
        return value

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid_key(cls, value: str | None) -> str | None:
        return vapid_raw_key(value) if value and value.strip() else None

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            return None
        if value.startswith("mailto:") and "@" in value:
            return value
        if value.startswith("https://") and urlsplit(value).hostname:
            return value
        raise ValueError("must be mailto:you@example.com or an https:// address")

    @field_validator("apns_url")
    @classmethod
    def _apns_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an https URL such as https://api.push.apple.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _wallet(self) -> Settings:
        """Apple Wallet orders need every part or none: a half set-up would offer
        orders that Wallet refuses, or never tells of their changes."""
        parts = {name: getattr(self, name) for name in WALLET_SETTINGS}
        given = [name for name, value in parts.items() if value]
        if not given:
            return self
        missing = [name for name, value in parts.items() if not value]
        if missing:
            raise ValueError(
                f"ORDERSTATUS_{missing[0].upper()} is needed with ORDERSTATUS_"
                f"{given[0].upper()} (Apple Wallet orders need "
                + ", ".join(f"ORDERSTATUS_{n.upper()}" for n in WALLET_SETTINGS)
                + ")"
            )
        load_wallet_keys(self)
        return self

    @property
    def wallet_enabled(self) -> bool:
        return bool(self.wallet_order_type_id)

    @property
    def metrics_folder(self) -> Path:
        return self.metrics_dir or self.var_dir / "metrics"

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters of random text")
        return value

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read and check the settings; raise :class:`SettingsError` with one clear line."""
        env = os.environ if environ is None else environ
        values = {
            key[len("ORDERSTATUS_") :].lower(): value
            for key, value in env.items()
            if key.startswith("ORDERSTATUS_")
            and not key.startswith("ORDERSTATUS_TEST_")
            and value != ""
        }
        values |= {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a setting (see the README for the list)"
            if not error["loc"]:  # a rule across settings: its message names them
                raise SettingsError(message) from None
            name = "ORDERSTATUS_" + str(error["loc"][0]).upper()
            raise SettingsError(f"{name} {message}") from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The configured key, or one kept in the var folder so a single box just works."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key

    def resolved_vapid_key(self) -> str:
        """The configured VAPID key, or one made at first start and kept in the var
        folder (readable by the owner only), so a single box just works. Several
        processes share it as they share the secret key: the same var folder, or the
        setting."""
        if self.vapid_private_key:
            return self.vapid_private_key
        path = self.var_dir / "vapid_private_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            raw = _b64url(key.private_numbers().private_value.to_bytes(32, "big"))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it meanwhile
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(raw + "\n")
                return raw
        return vapid_raw_key(path.read_text())

    def prepare_storage(self) -> None:
        """Create the folder of a SQLite file so a fresh checkout starts without setup."""
        if self.is_sqlite:
            path = self.database_url.split(":///", 1)[-1]
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True)
class WalletKeys:
    """What signs Wallet order packages and authenticates the pushes that tell of changes."""

    order_type_id: str
    merchant_id: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    wwdr: x509.Certificate
    apns_key: ec.EllipticCurvePrivateKey
    apns_key_id: str
    apns_team_id: str
    apns_url: str


def _read(name: str, path: Path | None) -> bytes:
    try:
        return Path(path or "").read_bytes()
    except OSError as exc:
        raise ValueError(
            f"ORDERSTATUS_{name.upper()} cannot be read ({exc.strerror or exc})"
        ) from None


def _certificate(name: str, path: Path | None) -> x509.Certificate:
    data = _read(name, path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError(
            f"ORDERSTATUS_{name.upper()} is not a certificate (PEM or DER): {path}"
        ) from None


def _private_key(name: str, path: Path | None) -> Any:
    data = _read(name, path)
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValueError(
            f"ORDERSTATUS_{name.upper()} is not an unencrypted private key (PEM or DER): {path}"
        ) from None


@functools.cache
def load_wallet_keys(settings: Settings) -> WalletKeys | None:
    """The Wallet keys read and checked once; None when Wallet orders are not set up.
    Raises ValueError with one line when a file is missing or is not what it should be."""
    if not settings.wallet_order_type_id:
        return None
    certificate = _certificate("wallet_cert", settings.wallet_cert)
    key = _private_key("wallet_key", settings.wallet_key)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("ORDERSTATUS_WALLET_KEY must be an RSA or EC key")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError("ORDERSTATUS_WALLET_KEY is not the key of ORDERSTATUS_WALLET_CERT")
    apns_key = _private_key("apns_key", settings.apns_key)
    if not isinstance(apns_key, ec.EllipticCurvePrivateKey):
        raise ValueError("ORDERSTATUS_APNS_KEY must be the .p8 key APNs gave (EC P-256)")
    return WalletKeys(
        order_type_id=settings.wallet_order_type_id,
        merchant_id=settings.wallet_merchant_id or settings.wallet_order_type_id,
        certificate=certificate,
        key=key,
        wwdr=_certificate("wallet_wwdr", settings.wallet_wwdr),
        apns_key=apns_key,
        apns_key_id=settings.apns_key_id or "",
        apns_team_id=settings.apns_team_id or "",
        apns_url=settings.apns_url,
    )

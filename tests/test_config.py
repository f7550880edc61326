from __future__ import annotations

import pytest

from orderstatus.config import Settings, SettingsError


def test_defaults_run_on_a_sqlite_file_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///var/orderstatus.db"
    assert settings.redis_url is None
    assert settings.is_sqlite


def test_plain_database_urls_get_the_async_driver() -> None:
    env = {"ORDERSTATUS_DATABASE_URL": "postgresql://postgres@127.0.0.1/shop"}
    assert Settings.from_env(env).database_url == "postgresql+asyncpg://postgres@127.0.0.1/shop"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "ORDERSTATUS_DATABASE_URL unsupported"),
        ("DATABASE_URL", "just-a-path.db", "ORDERSTATUS_DATABASE_URL must be a URL"),
        ("SECRET_KEY", "short", "ORDERSTATUS_SECRET_KEY must be at least 32"),
        ("BASE_URL", "status.example.com", "ORDERSTATUS_BASE_URL must be"),
        ("REDIS_URL", "http://localhost", "ORDERSTATUS_REDIS_URL must start"),
        ("SMTP_URL", "mail.example.com", "ORDERSTATUS_SMTP_URL must start"),
        ("DATABSE_URL", "sqlite:///x.db", "ORDERSTATUS_DATABSE_URL is not a setting"),
        ("TRUSTED_PROXIES", "10.0.0.1,proxy.lan", "ORDERSTATUS_TRUSTED_PROXIES has 'proxy.lan'"),
        ("RETAIN_PII_DAYS", "0", "ORDERSTATUS_RETAIN_PII_DAYS must be a whole number of days"),
        (
            "RETAIN_PII_DAYS",
            "a month",
            "ORDERSTATUS_RETAIN_PII_DAYS must be a whole number of days",
        ),
        (
            "RETAIN_PII_DAYS",
            "\u0663\u0660",
            "ORDERSTATUS_RETAIN_PII_DAYS must be a whole number of days",
        ),
    ],
)
def test_a_bad_setting_is_one_clear_line(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({f"ORDERSTATUS_{name}": value})
    message = str(info.value)
    assert message.startswith(says)
    assert "\n" not in message


def test_test_only_variables_are_not_settings() -> None:
    Settings.from_env({"ORDERSTATUS_TEST_DATABASE_URL": "postgresql://x/y"})


def test_without_a_secret_key_one_is_made_once_and_kept(tmp_path: object) -> None:
    settings = Settings.from_env({}, var_dir=str(tmp_path))
    first = settings.resolved_secret_key()
    assert len(first) >= 32
    assert Settings.from_env({}, var_dir=str(tmp_path)).resolved_secret_key() == first


def test_the_var_dir_moves_the_default_database(tmp_path: object) -> None:
    settings = Settings.from_env({"ORDERSTATUS_VAR_DIR": f"{tmp_path}/state"})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/state/orderstatus.db"
    given = {"ORDERSTATUS_VAR_DIR": "/srv/x", "ORDERSTATUS_DATABASE_URL": "sqlite:///a.db"}
    assert Settings.from_env(given).database_url == "sqlite+aiosqlite:///a.db"


def test_trusted_proxies_are_addresses_and_networks_none_by_default() -> None:
    assert Settings.from_env({}).trusted_proxies == ()
    settings = Settings.from_env({"ORDERSTATUS_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16 ::1"})
    assert [str(n) for n in settings.trusted_proxies] == [
        "10.0.0.1/32",
        "192.168.0.0/16",
        "::1/128",
    ]


def test_personal_data_is_kept_unless_a_retention_period_is_set() -> None:
    assert Settings.from_env({}).retain_pii_days is None
    assert Settings.from_env({"ORDERSTATUS_RETAIN_PII_DAYS": "90"}).retain_pii_days == 90


def test_without_a_vapid_key_one_is_made_once_and_kept(tmp_path: object) -> None:
    from pathlib import Path

    var = Path(str(tmp_path)) / "var"
    settings = Settings.from_env({"ORDERSTATUS_VAR_DIR": str(var)})
    key = settings.resolved_vapid_key()
    assert settings.resolved_vapid_key() == key
    assert (var / "vapid_private_key").stat().st_mode & 0o777 == 0o600
    assert Settings.from_env({"ORDERSTATUS_VAR_DIR": str(var)}).resolved_vapid_key() == key


def test_a_vapid_key_is_taken_as_web_push_tools_print_it_or_as_pem() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    from_pem = Settings.from_env({"ORDERSTATUS_VAPID_PRIVATE_KEY": pem})
    raw = from_pem.resolved_vapid_key()
    assert Settings.from_env({"ORDERSTATUS_VAPID_PRIVATE_KEY": raw}).resolved_vapid_key() == raw
    assert raw not in repr(from_pem) and "vapid_private_key" not in repr(from_pem)
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for bad, says in (
        ("not-a-key", "must be a P-256 private key"),
        (other.decode(), "must be a P-256"),
    ):
        with pytest.raises(SettingsError, match=f"ORDERSTATUS_VAPID_PRIVATE_KEY {says}"):
            Settings.from_env({"ORDERSTATUS_VAPID_PRIVATE_KEY": bad})
    with pytest.raises(SettingsError, match="ORDERSTATUS_VAPID_SUBJECT must be mailto:"):
        Settings.from_env({"ORDERSTATUS_VAPID_SUBJECT": "ops@example.com"})
    assert Settings.from_env({"ORDERSTATUS_VAPID_SUBJECT": "mailto:ops@example.com"}).vapid_subject

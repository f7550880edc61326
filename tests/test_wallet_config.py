"""Apple Wallet settings: every part or none, each file checked at start, one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderstatus.config import Settings, SettingsError, load_wallet_keys
from tests.wallet_keys import ORDER_TYPE_ID, WalletFiles, make_wallet_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> WalletFiles:
    return make_wallet_files(tmp_path_factory.mktemp("wallet"))


def env(values: dict[str, str]) -> dict[str, str]:
    return {f"ORDERSTATUS_{k.upper()}": v for k, v in values.items()}


def error(values: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env(values))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unset_means_no_wallet() -> None:
    settings = Settings.from_env({})
    assert not settings.wallet_enabled
    assert load_wallet_keys(settings) is None


def test_every_part_set_loads_the_keys(files: WalletFiles) -> None:
    settings = Settings.from_env(env(files.settings()))
    keys = load_wallet_keys(settings)
    assert keys is not None and settings.wallet_enabled
    assert keys.order_type_id == ORDER_TYPE_ID
    assert keys.merchant_id == ORDER_TYPE_ID
    assert keys.apns_url == "https://127.0.0.1:9"


@pytest.mark.parametrize(
    "left_out", ["wallet_cert", "wallet_key", "wallet_wwdr", "apns_key", "apns_team_id"]
)
def test_a_missing_part_names_it(files: WalletFiles, left_out: str) -> None:
    values = files.settings()
    del values[left_out]
    message = error(values)
    assert message.startswith(f"ORDERSTATUS_{left_out.upper()} is needed with ORDERSTATUS_")


def test_a_file_that_is_not_what_it_should_be_says_which(
    files: WalletFiles, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    assert error(files.settings() | {"wallet_cert": str(junk)}).startswith(
        "ORDERSTATUS_WALLET_CERT is not a certificate"
    )
    assert error(files.settings() | {"wallet_key": str(tmp_path / "absent.key")}).startswith(
        "ORDERSTATUS_WALLET_KEY cannot be read"
    )
    assert error(files.settings() | {"wallet_key": str(files.apns_key)}).startswith(
        "ORDERSTATUS_WALLET_KEY is not the key of ORDERSTATUS_WALLET_CERT"
    )
    assert error(files.settings() | {"apns_key": str(files.key)}).startswith(
        "ORDERSTATUS_APNS_KEY must be the .p8 key"
    )
    assert error(files.settings() | {"apns_url": "api.push.apple.com"}).startswith(
        "ORDERSTATUS_APNS_URL must be an https URL"
    )

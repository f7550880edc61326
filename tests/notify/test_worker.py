"""The worker's numbers, its settings and its command."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderstatus.config import Settings, SettingsError
from orderstatus.notify.jobs import WorkerConfig, backoff
from tests.live import env_for, run


def test_back_off_doubles_with_jitter_up_to_the_cap() -> None:
    lows = [backoff(n, base=30, cap=3600, rand=0.0) for n in range(1, 11)]
    highs = [backoff(n, base=30, cap=3600, rand=1.0) for n in range(1, 11)]
    assert highs == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert lows == [h / 2 for h in highs]
    assert 15 <= backoff(1, base=30, cap=3600) <= 30


def test_a_lease_must_outlast_a_send() -> None:
    with pytest.raises(ValueError, match="at least twice the send timeout"):
        WorkerConfig(lease=10, send_timeout=6)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ORDERSTATUS_SMTP_URL": "http://mail"}, "ORDERSTATUS_SMTP_URL must start with smtp://"),
        ({"ORDERSTATUS_SMTP_FROM": "nobody"}, "ORDERSTATUS_SMTP_FROM must be an e-mail address"),
        (
            {"ORDERSTATUS_SMS_URL": "https://api.example.com/Messages.json"},
            "ORDERSTATUS_SMS_URL must carry the account and token",
        ),
        (
            {"ORDERSTATUS_SMS_URL": "https://a:b@api.example.com/Messages.json"},
            "ORDERSTATUS_SMS_FROM is needed with ORDERSTATUS_SMS_URL",
        ),
        (
            {
                "ORDERSTATUS_SMS_URL": "https://a:b@api.example.com/Messages.json",
                "ORDERSTATUS_SMS_FROM": "A name too long",
            },
            "ORDERSTATUS_SMS_FROM must be a \\+E.164 number or a name",
        ),
    ],
)
def test_bad_notification_settings_stop_the_start(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(env)


def test_good_notification_settings() -> None:
    settings = Settings.from_env(
        {
            "ORDERSTATUS_SMTP_URL": "smtps://u:p@mail.example.com",
            "ORDERSTATUS_SMTP_FROM": "orders@shop.example",
            "ORDERSTATUS_SMS_URL": "https://a:b@api.example.com/Messages.json",
            "ORDERSTATUS_SMS_FROM": "+4790000000",
        }
    )
    assert settings.sms_from == "+4790000000" and settings.smtp_from == "orders@shop.example"


def test_the_worker_command_wants_a_current_schema(tmp_path: Path) -> None:
    result = run("worker", env=env_for(f"sqlite:///{tmp_path}/none.db"))
    assert result.returncode == 1
    assert result.stderr == (
        "orderstatus: the database schema is not up to date: run `orderstatus migrate`\n"
    )


def test_the_worker_command_checks_its_numbers(tmp_path: Path) -> None:
    result = run("worker", "--lease", "0", env=env_for(f"sqlite:///{tmp_path}/none.db"))
    assert result.returncode == 1
    assert result.stderr == "orderstatus: the lease and the timeouts must be positive\n"

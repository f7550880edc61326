"""The client address every per-client limit keys on: X-Forwarded-For counts only when it
comes from a proxy the operator trusts (ORDERSTATUS_TRUSTED_PROXIES), served for real."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import httpx
import pytest

from orderstatus.web.admin.session import CLIENT_ATTEMPTS
from tests.live import env_for, server


def _sign_in_attempts(base: str, forwarded: list[str]) -> list[int]:
    """One failed staff sign-in per X-Forwarded-For value, each for another account (so
    only the per-client limit can stop them); the status codes answered."""
    codes = []
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        for number, value in enumerate(forwarded):
            answer = http.post(
                "/admin/login",
                data={
                    "email": f"nobody{number}@example.com",
                    "password": "wrong",
                    "csrf_token": token.group(1),
                },
                headers={"X-Forwarded-For": value},
            )
            codes.append(answer.status_code)
    return codes


def test_a_forged_forwarded_for_from_an_untrusted_client_resets_no_limit(
    database_url: str, tmp_path: Path
) -> None:
    forged = [f"198.51.100.{n}" for n in range(CLIENT_ATTEMPTS + 1)]
    with server("serve", env=env_for(database_url), cwd=tmp_path) as (base, _log):
        codes = _sign_in_attempts(base, forged)
    assert codes[:CLIENT_ATTEMPTS] == [401] * CLIENT_ATTEMPTS
    assert codes[CLIENT_ATTEMPTS] == 429


def test_behind_a_trusted_proxy_each_real_client_has_its_own_limit(
    database_url: str, tmp_path: Path
) -> None:
    env = env_for(database_url, ORDERSTATUS_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")
    # The client forges the left part; the proxies append what they saw (the right part).
    chain = [f"192.0.2.{n}, 203.0.113.7, 10.1.2.3" for n in range(CLIENT_ATTEMPTS + 1)]
    with server("serve", env=env, cwd=tmp_path) as (base, log):
        codes = _sign_in_attempts(base, chain)
        other = _sign_in_attempts(base, ["203.0.113.8, 10.1.2.3"])
        written = log.read_text()
    assert codes[:CLIENT_ATTEMPTS] == [401] * CLIENT_ATTEMPTS
    assert codes[CLIENT_ATTEMPTS] == 429
    assert other == [401]
    assert '203.0.113.7 - "POST /admin/login' in written
    assert "192.0.2." not in written


def _nets(*values: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v) for v in values)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", "1.2.3.4", (), "127.0.0.1"),
        ("198.51.100.1", "1.2.3.4", ("127.0.0.1",), "198.51.100.1"),
        ("127.0.0.1", "1.2.3.4", ("127.0.0.1",), "1.2.3.4"),
        ("127.0.0.1", "6.6.6.6, 1.2.3.4", ("127.0.0.1",), "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.9.9.9", ("10.0.0.0/8",), "1.2.3.4"),
        ("10.0.0.5", "10.0.0.7, 10.9.9.9", ("10.0.0.0/8",), "10.0.0.7"),
        ("10.0.0.5", "not-an-address, 10.9.9.9", ("10.0.0.0/8",), "10.9.9.9"),
        ("10.0.0.5", None, ("10.0.0.0/8",), "10.0.0.5"),
        ("::1", "2001:db8::1", ("::1",), "2001:db8::1"),
    ],
)
def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote(
    peer: str, forwarded: str | None, trusted: tuple[str, ...], client: str
) -> None:
    from orderstatus.web.clients import client_address

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {"type": "http", "client": (peer, 50000), "headers": headers}
    assert client_address(scope, _nets(*trusted)) == client

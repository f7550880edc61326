"""Calls to addresses a merchant chose: private addresses refused unless allowed (checked
after DNS resolution), the checked address is the one connected to with the URL's host
kept for Host and TLS, redirects answered but not followed, a time limit, a bounded
answer. Against a real receiver on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import trustme

from orderstatus.notify import outbound_http
from tests.messaging import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = await WebhookReceiver().start()
    yield hooks
    await hooks.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with outbound_http.new_client() as http:
        yield http


async def test_an_allowed_private_address_gets_the_request_with_its_own_host_name(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    answer = await outbound_http.send(
        client,
        "POST",
        receiver.url("localhost", "/hooks?a=1"),
        content=b'{"x":1}',
        headers={"Content-Type": "application/json"},
        allow_private=True,
    )
    assert answer.status == 200
    assert answer.body.startswith(b"answer 200")
    [hook] = receiver.received
    assert hook.body == b'{"x":1}'
    assert hook.headers["Host"] == f"localhost:{receiver.port}"
    assert hook.headers["User-Agent"] == outbound_http.USER_AGENT


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",  # a name that resolves to loopback
        "[::1]",
        "10.1.2.3",
        "192.168.0.10",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
    ],
)
async def test_private_loopback_and_link_local_addresses_are_refused_without_the_setting(
    host: str, receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    with pytest.raises(outbound_http.Forbidden, match="ALLOW_PRIVATE"):
        await outbound_http.send(client, "POST", receiver.url(host), content=b"{}")
    assert receiver.received == []


async def test_a_name_that_does_not_resolve_is_unreachable(client: httpx.AsyncClient) -> None:
    with pytest.raises(outbound_http.Unreachable, match="does not resolve"):
        await outbound_http.send(client, "POST", "https://no-such-host.invalid/hooks")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "not a url"])
async def test_only_http_urls_are_called(url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(outbound_http.Forbidden):
        await outbound_http.send(client, "POST", url)


async def test_a_redirect_is_answered_not_followed(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    answer = await outbound_http.send(
        client, "POST", receiver.url(path="/moved"), content=b"{}", allow_private=True
    )
    assert answer.status == 302
    assert [h.path for h in receiver.received] == ["/moved"]


async def test_a_slow_receiver_is_given_up_on_at_the_time_limit(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    receiver.delay = 2.0
    with pytest.raises(outbound_http.Unreachable, match=r"no answer within 0\.3 s"):
        await outbound_http.send(
            client, "POST", receiver.url(), content=b"{}", allow_private=True, time_limit=0.3
        )


async def test_the_answer_is_read_only_up_to_the_bound(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    answer = await outbound_http.send(
        client, "POST", receiver.url(), allow_private=True, max_answer_bytes=100
    )
    assert len(answer.body) == 100


async def test_tls_is_checked_against_the_urls_host_while_connecting_to_the_checked_address() -> (
    None
):
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    receiver = await WebhookReceiver(tls=server).start()
    try:
        async with outbound_http.new_client(tls_context=trusted) as client:
            answer = await outbound_http.send(
                client, "POST", receiver.url("localhost"), content=b"{}", allow_private=True
            )
            assert answer.status == 200
            # The certificate names localhost, not 127.0.0.1: refused under that name.
            with pytest.raises(outbound_http.Unreachable, match="ConnectError"):
                await outbound_http.send(
                    client, "POST", receiver.url("127.0.0.1"), content=b"{}", allow_private=True
                )
        assert len(receiver.received) == 1
    finally:
        await receiver.stop()

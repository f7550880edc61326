"""Changes published through Redis reach every process, also when Redis drops the
publisher's connection or refuses it for a while (the subscriptions of the others stay
up, so only the publisher can make up for it)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from orderstatus.realtime.broker import RedisBroker


@pytest.fixture
async def pair(
    redis_url: str,
) -> AsyncIterator[tuple[RedisBroker, RedisBroker, list[tuple[int, int]]]]:
    """Two processes' brokers on one channel; what the second hears."""
    namespace = "test-" + secrets.token_hex(4)
    publisher = RedisBroker(redis_url, namespace=namespace)
    listener = RedisBroker(redis_url, namespace=namespace)
    heard: list[tuple[int, int]] = []
    listener.hub.listeners.append(lambda order, version: heard.append((order, version)))
    await publisher.start()
    await listener.start()
    await until(lambda: publisher.healthy and listener.healthy)
    yield publisher, listener, heard
    await publisher.stop()
    await listener.stop()


async def until(check: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_a_change_published_on_a_connection_redis_closed_arrives(
    pair: tuple[RedisBroker, RedisBroker, list[tuple[int, int]]], redis_url: str
) -> None:
    publisher, _listener, heard = pair
    await publisher.publish({7: 1})
    await until(lambda: (7, 1) in heard)
    # Redis closes every ordinary connection, as when it restarts; subscriptions stay.
    admin = redis.Redis.from_url(redis_url)
    try:
        assert await admin.client_kill_filter(_type="normal") >= 1
    finally:
        await admin.aclose()
    await publisher.publish({7: 2})
    await until(lambda: (7, 2) in heard)
    assert publisher.healthy


async def test_a_change_redis_refused_is_sent_when_it_takes_it_again(
    pair: tuple[RedisBroker, RedisBroker, list[tuple[int, int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, _listener, heard = pair
    real = publisher._client.publish
    refusals = 4  # both tries of both publishes below

    async def refusing(channel: str, message: str) -> int:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise RedisConnectionError("Error 111 connecting: Connection refused")
        return await real(channel, message)

    monkeypatch.setattr(publisher._client, "publish", refusing)
    await publisher.publish({9: 4, 10: 1})
    await publisher.publish({9: 5})  # also refused: both kept, the newest version of each
    assert not publisher.healthy  # its own pages look at the database meanwhile
    await until(lambda: (9, 5) in heard and (10, 1) in heard)
    assert (9, 4) not in heard  # only the newest was still to send
    await until(lambda: publisher.healthy)

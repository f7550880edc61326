"""Telling every web process which orders changed.

In-process by default (one process, nothing to run); Redis pub/sub when
ORDERSTATUS_REDIS_URL is set, so several `serve` processes or machines behind a load
balancer all push every update. Each process keeps ONE Redis subscription and fans out
locally. When Redis is away, publishing is skipped (logged), `/healthz` says so, and
open pages fall back to checking the database on a timer, so nothing errors to a
customer and nothing is missed for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Collection
from typing import Protocol

from orderstatus import metrics
from orderstatus.realtime.hub import Hub

log = logging.getLogger(__name__)


def channel_for(namespace: str) -> str:
    """One channel per database, so deployments that share a Redis never hear each other."""
    return "orderstatus:" + hashlib.sha256(namespace.encode()).hexdigest()[:12] + ":orders"


class Broker(Protocol):
    hub: Hub

    @property
    def healthy(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, changed: dict[int, int]) -> None: ...

    async def end(self, tags: Collection[str]) -> None:
        """End every process's streams of these tags (access withdrawn)."""


class LocalBroker:
    """Everything in one process: a publish is a local wake-up."""

    def __init__(self) -> None:
        self.hub = Hub()

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        metrics.broker_connected("local", True)

    async def stop(self) -> None:
        await self.hub.stop()

    async def publish(self, changed: dict[int, int]) -> None:
        for order_id, version in changed.items():
            self.hub.changed(order_id, version)

    async def end(self, tags: Collection[str]) -> None:
        self.hub.end(tags)


ENDED = "end"
"""Starts a message that names ended streams' tags instead of changed orders."""


def encode(changed: dict[int, int]) -> str:
    return " ".join(f"{order_id}:{version}" for order_id, version in changed.items())


def decode(message: str) -> dict[int, int]:
    changed: dict[int, int] = {}
    for part in message.split():
        order_id, _, version = part.partition(":")
        if order_id.isdigit() and version.isdigit():
            changed[int(order_id)] = int(version)
    return changed


class RedisBroker:
    """Redis pub/sub on one channel; reconnects with back-off while Redis is away.

    A change that could not be published is kept (order → newest version) and sent with
    the next publish, or by a retry in the background, until Redis takes it: a process
    whose subscription never broke would otherwise never hear of it, and its pages would
    stay behind. Versions only move forward, so a late or repeated one changes nothing."""

    RETRY_MAX_SECONDS = 5.0

    def __init__(self, url: str, *, namespace: str) -> None:
        import redis.asyncio as redis
        from redis.exceptions import ConnectionError as RedisConnectionError

        self._connection_error = RedisConnectionError
        self.hub = Hub()
        self.channel = channel_for(namespace)
        self._url = url
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15
        )
        self._task: asyncio.Task[None] | None = None
        self._is_connected = False
        self._unsent: dict[int, int] = {}
        """Changes not published yet, order → newest version."""
        self._retrying: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """Subscribed, with every change of this process published: while not, pages
        here look at the database on their heartbeat."""
        return self._connected and not self._unsent

    @property
    def _connected(self) -> bool:
        return self._is_connected

    @_connected.setter
    def _connected(self, value: bool) -> None:
        self._is_connected = value
        if self._task is not None:  # a process that only publishes (the worker) tells nothing
            metrics.broker_connected("redis", value)

    async def start(self) -> None:
        if self._task is None:
            metrics.broker_connected("redis", False)
            self._task = asyncio.create_task(self._listen(), name="redis-broker")

    async def stop(self) -> None:
        for task in (self._task, self._retrying):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._retrying = None
        await self.hub.stop()
        await self._client.aclose()

    async def publish(self, changed: dict[int, int]) -> None:
        # Here at once, so that this process's next request shows what it just changed
        # (its page caches move on now); the other processes through Redis. The echo
        # that comes back changes nothing more: versions only move forward.
        for order_id, version in changed.items():
            self.hub.changed(order_id, version)
        sending = self._unsent
        self._unsent = {}
        for order_id, version in changed.items():
            sending[order_id] = max(version, sending.get(order_id, 0))
        if not sending:
            return
        try:
            try:
                await self._client.publish(self.channel, encode(sending))
            except self._connection_error:
                # Often a pooled connection Redis closed when it restarted: a new one.
                await self._client.publish(self.channel, encode(sending))
        except Exception as exc:  # Redis away: kept, and pages here check on a timer
            for order_id, version in sending.items():
                self._unsent[order_id] = max(version, self._unsent.get(order_id, 0))
            log.warning("could not publish a change to Redis: %s", exc)
            if self._retrying is None or self._retrying.done():
                self._retrying = asyncio.create_task(self._retry(), name="redis-unsent")

    async def _retry(self) -> None:
        """Publish what could not be, with back-off, until Redis takes it."""
        delay = 0.5
        while self._unsent:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX_SECONDS)
            await self.publish({})

    async def end(self, tags: Collection[str]) -> None:
        # Here at once, whatever becomes of Redis; the other processes through it.
        self.hub.end(tags)
        try:
            await self._client.publish(self.channel, " ".join((ENDED, *tags)))
        except Exception as exc:  # streams elsewhere end when they next check the database
            self._connected = False
            log.warning("could not publish ended streams to Redis: %s", exc)

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if not self._connected:
                    self._connected = True
                    delay = 0.2
                    # Changes made while we were away were not heard: let pages look.
                    self.hub.wake_all()
                async for message in pubsub.listen():
                    data = message.get("data")
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    if text.startswith(ENDED + " "):
                        self.hub.end(text.split()[1:])
                        continue
                    for order_id, version in decode(text).items():
                        self.hub.changed(order_id, version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._connected:
                    log.warning("lost the Redis subscription: %s", exc)
                self._connected = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX_SECONDS)


def create_broker(redis_url: str | None, *, namespace: str) -> Broker:
    return RedisBroker(redis_url, namespace=namespace) if redis_url else LocalBroker()

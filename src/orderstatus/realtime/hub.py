"""Fan-out inside one process: the pages open here wait on the orders they show.

A subscriber holds no queue, only a wake-up flag: what it sends next is the order's
latest version, so a burst of changes costs one render, and ten thousand idle pages
cost ten thousand small objects.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable


class Subscription:
    __slots__ = ("_hub", "beaten", "order_id", "wake")

    def __init__(self, hub: Hub, order_id: int) -> None:
        self._hub = hub
        self.order_id = order_id
        self.wake = asyncio.Event()
        self.beaten = False
        """Woken by its heartbeat timer rather than by news."""

    def beat(self) -> None:
        self.beaten = True
        self.wake.set()

    def latest(self) -> int:
        return self._hub.latest.get(self.order_id, 0)

    def close(self) -> None:
        self._hub._unsubscribe(self)


class Hub:
    def __init__(self) -> None:
        self._subscribers: defaultdict[int, set[Subscription]] = defaultdict(set)
        self.latest: dict[int, int] = {}
        """The newest page version heard of per watched order."""
        self.listeners: list[Callable[[int, int], None]] = []
        """Told of every change heard, watched or not (caches of page versions)."""

    def subscribe(self, order_id: int) -> Subscription:
        subscription = Subscription(self, order_id)
        self._subscribers[order_id].add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        watchers = self._subscribers.get(subscription.order_id)
        if watchers is None:
            return
        watchers.discard(subscription)
        if not watchers:
            del self._subscribers[subscription.order_id]
            self.latest.pop(subscription.order_id, None)

    def changed(self, order_id: int, version: int) -> None:
        """An order's page moved to ``version``: wake whoever shows it here."""
        for listener in self.listeners:
            listener(order_id, version)
        watchers = self._subscribers.get(order_id)
        if not watchers:
            return
        if version > self.latest.get(order_id, 0):
            self.latest[order_id] = version
        for subscription in watchers:
            subscription.wake.set()

    def wake_all(self) -> None:
        """Let every page check for itself (after the broker was away for a while)."""
        for watchers in self._subscribers.values():
            for subscription in watchers:
                subscription.wake.set()

    @property
    def streams(self) -> int:
        return sum(len(w) for w in self._subscribers.values())

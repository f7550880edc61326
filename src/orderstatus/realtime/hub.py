"""Fan-out inside one process: the pages open here wait on the orders they show.

A subscriber holds no queue, only a callback: what it sends next is the order's latest
version, so a burst of changes costs one render, and ten thousand idle pages cost ten
thousand small objects.

Nothing waits per subscriber between changes (no future, no timer re-armed on every
update; one ticker beats every heartbeat): with ten thousand pages open, whatever each
update left alive until the next would be what the garbage collector walks in its young
generation, pausing every page while it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable

HEARTBEAT_SECONDS = 25.0
"""Often enough that proxies keep a stream open; also how often a page checks the
database itself while the broker is away."""
HEARTBEAT_SLOTS = 25
"""Streams are spread over this many slots, and the ticker beats one slot at a time, so
that heartbeats do not all fall in the same moment."""


Listener = Callable[[bool], None]
"""Called (in the event loop) when an order a listener follows may have changed;
``True`` when it is the listener's heartbeat instead."""


def share_tag(share_token: str) -> str:
    """What names the streams of one share link in the hub and on the broker: a digest,
    so the token itself never travels."""
    return "share-" + hashlib.sha256(share_token.encode()).hexdigest()[:32]


class Subscription:
    __slots__ = ("_ended", "_hub", "_listener", "_slot", "order_id", "tag")

    def __init__(
        self,
        hub: Hub,
        order_id: int,
        slot: int,
        listener: Listener,
        tag: str | None = None,
        ended: Callable[[], None] | None = None,
    ) -> None:
        self._hub = hub
        self._slot = slot
        self._listener = listener
        self.order_id = order_id
        self.tag = tag
        self._ended = ended

    def latest(self) -> int:
        return self._hub.latest.get(self.order_id, 0)

    def close(self) -> None:
        self._hub._unsubscribe(self)


class Hub:
    def __init__(self) -> None:
        self._subscribers: defaultdict[int, set[Subscription]] = defaultdict(set)
        self._slots: list[set[Subscription]] = [set() for _ in range(HEARTBEAT_SLOTS)]
        self._next_slot = 0
        self._ticker: asyncio.Task[None] | None = None
        self.heartbeat = HEARTBEAT_SECONDS
        """Seconds between two heartbeats of a stream."""
        self.latest: dict[int, int] = {}
        """The newest page version heard of per watched order."""
        self.listeners: list[Callable[[int, int], None]] = []
        """Told of every change heard, watched or not (caches of page versions)."""
        self._tagged: dict[str, set[Subscription]] = {}
        """The few subscriptions that access can be taken from (a share link's), by tag."""
        self.closing = False
        """The process is stopping: streams end, and their browsers come back elsewhere."""

    def subscribe(
        self,
        order_id: int,
        listener: Listener,
        *,
        tag: str | None = None,
        ended: Callable[[], None] | None = None,
    ) -> Subscription:
        """Call ``listener`` on changes of an order, and on its heartbeat (in a running
        event loop; the listener must not block). ``ended`` is called instead, once,
        when access by ``tag`` is withdrawn (:meth:`end`)."""
        slot = self._next_slot
        self._next_slot = (slot + 1) % HEARTBEAT_SLOTS
        subscription = Subscription(self, order_id, slot, listener, tag, ended)
        self._subscribers[order_id].add(subscription)
        self._slots[slot].add(subscription)
        if tag is not None:
            self._tagged.setdefault(tag, set()).add(subscription)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="heartbeats")
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._slots[subscription._slot].discard(subscription)
        if subscription.tag is not None:
            tagged = self._tagged.get(subscription.tag)
            if tagged is not None:
                tagged.discard(subscription)
                if not tagged:
                    del self._tagged[subscription.tag]
        watchers = self._subscribers.get(subscription.order_id)
        if watchers is None:
            return
        watchers.discard(subscription)
        if not watchers:
            del self._subscribers[subscription.order_id]
            self.latest.pop(subscription.order_id, None)

    async def _tick(self) -> None:
        """Beat one slot after another while anyone listens."""
        slot = 0
        while self._subscribers:
            await asyncio.sleep(self.heartbeat / HEARTBEAT_SLOTS)
            for subscription in list(self._slots[slot]):
                subscription._listener(True)
            slot = (slot + 1) % HEARTBEAT_SLOTS

    def changed(self, order_id: int, version: int) -> None:
        """An order's page moved to ``version``: wake whoever shows it here."""
        for listener in self.listeners:
            listener(order_id, version)
        watchers = self._subscribers.get(order_id)
        if not watchers:
            return
        if version > self.latest.get(order_id, 0):
            self.latest[order_id] = version
        for subscription in list(watchers):
            subscription._listener(False)

    def end(self, tags: Iterable[str]) -> None:
        """Access by these tags was withdrawn (a share link revoked): end their streams."""
        for tag in tags:
            for subscription in list(self._tagged.pop(tag, ())):
                if subscription._ended is not None:
                    subscription._ended()

    def close_all(self) -> None:
        """The process is stopping: every stream is woken to end (see :attr:`closing`)."""
        self.closing = True
        self.wake_all()

    def wake_all(self) -> None:
        """Let every page check for itself (after the broker was away for a while)."""
        for watchers in list(self._subscribers.values()):
            for subscription in list(watchers):
                subscription._listener(False)

    async def stop(self) -> None:
        """Stop the heartbeats (the process is shutting down)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    @property
    def streams(self) -> int:
        return sum(len(w) for w in self._subscribers.values())

"""Server-Sent Events to one browser, driven by a hub subscription.

Between changes a stream waits on one future for its whole life (the end of the
connection); a change or a heartbeat starts a short task that sends what is new and
ends. At most one such task runs per stream: a change heard while it runs makes it look
once more, so messages never overtake each other and a slow reader holds up its own
stream only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orderstatus import metrics
from orderstatus.realtime.hub import Hub, Subscription

RETRY_MS = 3000
"""How long a browser waits before it reconnects a dropped stream."""
PING = ": ping\n\n"
GONE = "event: gone\ndata: \n\n"
"""The last message of a stream whose access was withdrawn: the page is no longer there."""
CLOSING_RETRY_MS = 1000
CLOSING = f"retry: {CLOSING_RETRY_MS}\n: this server is stopping, come back\n\n"
"""The last message of a stream whose process is stopping: reconnect in a second (the load
balancer sends the browser to a process that stays), resuming from the last event id."""


class EventStream(Response):
    """``text/event-stream`` for one order's changes; subclasses say what to send."""

    media_type = "text/event-stream"

    def __init__(
        self, hub: Hub, order_id: int, headers: Mapping[str, str], *, tag: str | None = None
    ) -> None:
        self.hub = hub
        self.order_id = order_id
        self.tag = tag
        """Names the access this stream was opened with, when it can be withdrawn."""
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no", **headers})
        self.ended = False
        """Set by :meth:`update` when there is nothing more to follow."""
        self.gone = False
        """Set with :attr:`ended` when the page is no longer there: the browser is told."""
        self._send: Send | None = None
        self._subscription: Subscription | None = None
        self._done: asyncio.Future[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._again = False
        self._beat = False
        self._written_at = 0.0

    async def opening(self) -> str | None:
        """What to send at once (after the retry advice): the current state, if the
        browser does not have it yet."""
        raise NotImplementedError

    async def update(self, subscription: Subscription, beat: bool) -> str | None:
        """What to send on a wake-up (``beat``: the heartbeat woke it), or None (then a
        heartbeat sends a ping); sets :attr:`ended` to close the stream."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        self._done = done = loop.create_future()
        self._subscription = subscription = self.hub.subscribe(
            self.order_id, self._wake, tag=self.tag, ended=self._withdrawn
        )
        listener = loop.create_task(_disconnect(receive))
        listener.add_done_callback(lambda _: self._finish())
        metrics.stream_opened()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._write(send, f"retry: {RETRY_MS}\n\n")
            first = await self.opening()
            if first is not None:
                await self._write(send, first)
            self._send = send  # changes heard from now on are sent
            if self.hub.closing:
                self._again = True  # opened while the process stops: end it at once
            if self._again:
                self._start()
            await done  # the browser went away, the stream ended, or sending failed
        finally:
            metrics.stream_closed()
            subscription.close()
            listener.cancel()
            if self._sender is not None:
                self._sender.cancel()

    async def _write(self, send: Send, text: str) -> None:
        self._written_at = time.monotonic()
        await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

    def _wake(self, beat: bool) -> None:
        if beat and time.monotonic() - self._written_at < self.hub.heartbeat / 2:
            return  # the connection carried something lately: it needs no keeping alive
        self._again = True
        self._beat = self._beat or beat
        if self._send is not None and self._sender is None:
            self._start()

    def _withdrawn(self) -> None:
        """The access this stream was opened with is gone: say so, and end it."""
        self.ended = self.gone = True
        self._again = True
        if self._send is not None and self._sender is None:
            self._start()

    def _start(self) -> None:
        self._sender = asyncio.get_running_loop().create_task(self._send_news())

    def _finish(self, error: Exception | None = None) -> None:
        if self._done is None or self._done.done():
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)

    async def _send_news(self) -> None:
        send, subscription = self._send, self._subscription
        assert send is not None and subscription is not None and self._done is not None
        try:
            while self._again and not self._done.done():
                self._again = False
                beat, self._beat = self._beat, False
                if self.hub.closing and not self.ended:
                    await self._write(send, CLOSING)
                    self.ended = True
                text = None if self.ended else await self.update(subscription, beat)
                if self.ended:
                    if self.gone:
                        await self._write(send, GONE)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    self._finish()
                elif text is not None or beat:
                    await self._write(send, PING if text is None else text)
        except Exception as exc:
            self._finish(exc)  # the stream fails (and is logged) as a whole
        finally:
            self._sender = None


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

"""What a serving process does when it is told to stop (SIGTERM from systemd or the
supervisor, Ctrl-C): at once, before the server waits for open requests to finish.

The server (uvicorn) stops accepting connections and gives open requests a grace period.
Live streams never finish by themselves, so they are ended here with a hint to come back
soon (their browsers reconnect, through the load balancer, to a process that stays), and
``/readyz`` answers 503 so that a load balancer sends nobody new.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def on_stop_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` in the running event loop when the process gets a stop signal,
    then whatever handled it before (the server's own handler). Returns a function that
    puts the previous handlers back. Outside the main thread (an app served by a test in
    a thread) signals cannot be caught: nothing is done."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, signal.Handlers | Callable[[int, FrameType | None], object] | int | None]
    previous = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in STOP_SIGNALS:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)

    def restore() -> None:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handler and before is not None:
                signal.signal(signum, before)

    return restore

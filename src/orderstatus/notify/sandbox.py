"""Merchants' templates rendered in processes of their own, with a time and a memory budget.

The sandbox in :mod:`orderstatus.notify.templates` keeps a template from reaching what it
must not, caps ``range`` and the size of what it writes; but a loop can still spin for
ever, and Python cannot stop a thread that does. So a merchant's template renders in a
small helper process: the caller waits for it without blocking its event loop, and a
render that takes longer than the budget kills that process (a fresh one takes its place)
and fails with the reason. The package's own templates need none of this and render in
place.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from orderstatus.notify.templates import (
    RenderedEmail,
    RenderedSms,
    Renderer,
    TemplateError,
    TemplateSource,
)

RENDER_SECONDS = 1.0
"""How long one message's templates may take, all parts together."""
MEMORY_BYTES = 1024 * 1024 * 1024
"""Address space of a helper process: a template that builds huge values fails there."""
MAX_PROCESSES = 4
STARTUP_SECONDS = 30.0


def _serve(conn: Connection, memory: int, seconds: float) -> None:
    """A helper process: render what is asked, report each part as it starts. It stops
    a render itself a second after the caller gave up (in case the caller is gone)."""
    import resource
    import signal

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError("over the time budget")

    signal.signal(signal.SIGALRM, expire)
    # A stop signal sent to the whole group (systemd stops a service so) is the parent's
    # to act on: a render under way finishes, and the helper leaves when the parent
    # closes its end (or kills it), not half-way through a message.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    renderer = Renderer(cache_size=64, on_part=lambda part: conn.send(("part", part)))
    conn.send(("ready",))
    while True:
        try:
            what, source, context = conn.recv()
        except EOFError:
            return
        signal.setitimer(signal.ITIMER_REAL, seconds + 1)
        try:
            result: Any = (
                renderer.email(source, context)
                if what == "email"
                else renderer.sms(source, context)
            )
        except TemplateError as exc:
            conn.send(("error", exc.part, exc.reason))
        except MemoryError:
            conn.send(("error", None, "needs too much memory"))
        except Exception as exc:
            conn.send(("error", None, f"failed: {type(exc).__name__}"))
        else:
            conn.send(("done", result))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


@dataclass(slots=True)
class _Helper:
    process: subprocess.Popen[bytes]
    conn: Connection

    @classmethod
    def start(cls, memory: int, seconds: float) -> _Helper:
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(  # noqa: S603 (our interpreter, our module)
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(memory), str(seconds)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        return cls(process, Connection(ours.detach()))

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.conn.close()
        self.process.kill()
        self.process.wait(5)


class TemplateSandbox:
    """Renders merchants' templates in helper processes, at most :data:`RENDER_SECONDS`
    a message; usable from any event loop (the web app's, the worker's, each test's)."""

    def __init__(
        self,
        *,
        seconds: float = RENDER_SECONDS,
        memory: int = MEMORY_BYTES,
        processes: int = MAX_PROCESSES,
    ) -> None:
        self.seconds = seconds
        self.memory = memory
        self.processes = processes
        self._idle: list[_Helper] = []
        self._busy = 0

    async def email(self, source: TemplateSource, context: dict[str, Any]) -> RenderedEmail:
        result = await self._render("email", "subject", source, context)
        assert isinstance(result, RenderedEmail)
        return result

    async def sms(self, source: TemplateSource, context: dict[str, Any]) -> RenderedSms:
        result = await self._render("sms", "sms", source, context)
        assert isinstance(result, RenderedSms)
        return result

    async def _render(
        self, what: str, first: str, source: TemplateSource, context: dict[str, Any]
    ) -> Any:
        try:
            helper = await self._acquire()
        except OSError:
            raise TemplateError(first, "could not be rendered: no helper process started") from None
        part, healthy = first, False
        try:
            helper.conn.send((what, source, context))
            deadline = time.monotonic() + self.seconds
            while True:
                if not await _readable(helper.conn, deadline - time.monotonic()):
                    raise TemplateError(
                        part, f"takes longer than {_seconds(self.seconds)} to render"
                    )
                try:
                    message = helper.conn.recv()
                except (EOFError, OSError):
                    raise TemplateError(part, "needs too much memory or time") from None
                if message[0] == "part":
                    part = message[1]
                    continue
                healthy = True
                if message[0] == "error":
                    raise TemplateError(message[1] or part, message[2])
                return message[1]
        finally:
            await self._release(helper, healthy)

    async def _acquire(self) -> _Helper:
        # Polled, not an asyncio.Event: the sandbox serves several event loops.
        while not self._idle and self._busy >= self.processes:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self._busy += 1
        if self._idle:
            return self._idle.pop()
        try:
            helper = await asyncio.to_thread(_Helper.start, self.memory, self.seconds)
        except BaseException:
            self._busy -= 1
            raise
        try:
            if not await _readable(helper.conn, STARTUP_SECONDS) or helper.conn.recv() != (
                "ready",
            ):
                raise OSError("the template helper did not start")
        except BaseException:
            await self._release(helper, healthy=False)
            raise
        return helper

    async def _release(self, helper: _Helper, healthy: bool) -> None:
        self._busy -= 1
        if healthy and helper.alive():
            self._idle.append(helper)
        else:
            await asyncio.to_thread(helper.stop)

    def close(self) -> None:
        """Stop the idle helpers (busy ones stop when their render ends)."""
        idle, self._idle = self._idle, []
        for helper in idle:
            helper.stop()


async def _readable(conn: Connection, within: float) -> bool:
    """Whether the helper has written something within ``within`` seconds."""
    if conn.poll(0):
        return True
    if within <= 0:
        return False
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, within)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
    return True


def _seconds(value: float) -> str:
    return "1 second" if value == 1 else f"{value:g} seconds"


sandbox = TemplateSandbox()
"""The process's sandbox, shared by the admin's editor and the worker."""

if __name__ == "__main__":  # a helper process, started by _Helper.start
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]), float(sys.argv[3]))

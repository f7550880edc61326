"""A client that sends half a body and stalls gets 408 and loses the connection, on
every lane: the API, the webhooks and the HTML forms. A real server on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app
from tests.live import free_port

IDLE = 0.3
"""The test server's patience between two pieces of a body."""


@contextlib.asynccontextmanager
async def impatient_server(settings: Settings, database: Database) -> AsyncIterator[int]:
    port = free_port()
    app = create_app(settings, database, body_timeout=IDLE)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def exchange(port: int, head: str, pieces: list[bytes], pause: float) -> bytes:
    """Send the head and the body's pieces with a pause after each, reading all along;
    all the server says until it closes the connection (or five seconds pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def read_all() -> bytes:
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                answer += chunk
        return answer

    answered = asyncio.create_task(read_all())
    try:
        writer.write(head.encode())
        for piece in pieces:
            if answered.done():
                break
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({answered}, timeout=pause)
        return await asyncio.wait_for(answered, 5)
    except TimeoutError:
        return b"(no answer and the connection still open)"
    finally:
        writer.close()


def head(path: str, length: int, content_type: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: keep-alive\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/orders", "application/json"),
        ("/webhooks/easypost/acme", "application/json"),
        ("/shop/acme/order-status", "application/x-www-form-urlencoded"),
    ],
    ids=["api", "webhook", "form"],
)
async def test_a_stalled_body_is_answered_408_and_the_connection_closed(
    settings: Settings, database: Database, path: str, content_type: str
) -> None:
    async with impatient_server(settings, database) as port:
        started = time.monotonic()
        answer = await exchange(port, head(path, 100, content_type), [b'{"email": "k'], 3)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert time.monotonic() - started < 4.5


async def test_a_body_that_trickles_past_its_time_is_refused(
    settings: Settings, database: Database
) -> None:
    """Each piece in time, but the whole body never done: the total budget ends it."""
    async with impatient_server(settings, database) as port:
        started = time.monotonic()
        pieces = [b" "] * 100
        answer = await exchange(port, head("/api/v1/orders", 100, "application/json"), pieces, 0.1)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert time.monotonic() - started < 9


async def test_a_body_in_pieces_within_the_time_is_served(
    settings: Settings, database: Database
) -> None:
    body = b'{"not": "an order"}'
    async with impatient_server(settings, database) as port:
        answer = await exchange(
            port,
            head("/api/v1/orders", len(body), "application/json"),
            [body[:5], body[5:]],
            IDLE / 3,
        )
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]

"""The app served over real HTTP inside the test's event loop (streams need a real socket)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app
from tests.live import free_port


@contextlib.asynccontextmanager
async def serving(settings: Settings, database: Database) -> AsyncIterator[tuple[str, object]]:
    """Yield (base URL, app) while uvicorn serves the app on a free loopback port."""
    port = free_port()
    app = create_app(settings, database)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)

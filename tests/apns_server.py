"""A stand-in for APNs: an HTTP/2 server over TLS on 127.0.0.1 that records each push
and answers as APNs would (200, or an error for the tokens it is told to refuse)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config


@dataclass
class Push:
    http_version: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApns:
    url: str
    client_tls: ssl.SSLContext
    pushes: list[Push] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    """push token → (status, reason) to answer instead of 200."""

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.pushes.append(Push(scope["http_version"], scope["path"], headers, body))
        token = scope["path"].rsplit("/", 1)[-1]
        status, reason = self.refuse.get(token, (200, ""))
        answer = json.dumps({"reason": reason}).encode() if reason else b""
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"apns-id", b"00000000-0000-0000-0000-000000000001")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def fake_apns(folder: Path) -> AsyncIterator[FakeApns]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    cert, key = folder / "apns-server.pem", folder / "apns-server.key"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    port = _free_port()
    apns = FakeApns(f"https://127.0.0.1:{port}", client_tls)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.alpn_protocols = ["h2"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(apns.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(100):
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        await asyncio.sleep(0.05)
    try:
        yield apns
    finally:
        stop.set()
        await task

"""SIGTERM to a real `serve` process: live streams end at once with a hint to come back,
an open request still gets its answer, and new connections are refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.factories import order_payload
from tests.live import env_for, free_port, run


def _start(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = cwd / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orderstatus", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base, log
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


async def test_sigterm_ends_streams_and_lets_open_requests_finish(
    database_url: str, tmp_path: Path
) -> None:
    env = env_for(database_url)
    assert run("create-shop", "--handle", "shop", "--currency", "NOK", env=env).returncode == 0
    key = run("create-api-key", "--shop", "shop", env=env).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    process, base, log = _start(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            order = (await http.post("/api/v1/orders", json=order_payload(), headers=auth)).json()
            token = order["status_page_url"].rsplit("/", 1)[1]
            body = json.dumps(order_payload(number="2001")).encode()
            sent_half = asyncio.Event()

            async def slowly() -> AsyncIterator[bytes]:
                yield body[: len(body) // 2]
                sent_half.set()
                await asyncio.sleep(1.5)  # the signal comes while the body is on its way
                yield body[len(body) // 2 :]

            slow = asyncio.create_task(
                http.post(
                    "/api/v1/orders",
                    content=slowly(),
                    headers=auth | {"Content-Type": "application/json"},
                )
            )
            async with http.stream("GET", f"/orders/{token}/events") as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry: ")
                await sent_half.wait()
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                rest = [line async for line in lines]
                ended_after = time.monotonic() - signalled
            answer = await slow
        assert "retry: 1000" in rest, rest
        assert ended_after < 2, ended_after
        assert answer.status_code == 201, answer.text
        assert answer.json()["number"] == "2001"
        refused = False
        async with httpx.AsyncClient(base_url=base, timeout=0.5) as fresh:
            for _ in range(20):
                try:
                    await fresh.get("/healthz")
                except httpx.TransportError:
                    refused = True
                    break
                await asyncio.sleep(0.1)
        assert refused, "the stopping server still accepts connections"
        code = process.wait(timeout=15)
        assert code in (0, -signal.SIGTERM), log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

"""Running the real program: commands and servers in their own processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SECRET = "k" * 40


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
    env |= {"ORDERSTATUS_DATABASE_URL": database_url, "ORDERSTATUS_SECRET_KEY": SECRET, **extra}
    return env


def run(
    *args: str, env: dict[str, str], cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderstatus", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(*args: str, env: dict[str, str], cwd: Path | None = None) -> Iterator[tuple[str, Path]]:
    """Start a long-running command that serves HTTP; yield its base URL and its output file."""
    port = free_port()
    log = (cwd or Path(env.get("TMPDIR", "/tmp"))) / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orderstatus", *args, "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.read_text()}")
            time.sleep(0.1)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def two_servers(
    database_url: str, redis_url: str, cwd: Path, *, shop: str
) -> Iterator[tuple[str, str, str]]:
    """Two `serve` processes on one database and one Redis, with a shop made by the
    commands an operator runs: yield both base URLs and the shop's API key."""
    env = env_for(database_url, ORDERSTATUS_REDIS_URL=redis_url)
    made = run("create-shop", "--handle", shop, "--currency", "NOK", env=env)
    assert made.returncode == 0, made.stderr
    key = run("create-api-key", "--shop", shop, env=env).stdout.strip()
    with (
        server("serve", env=env, cwd=cwd) as (one, _),
        server("serve", env=env, cwd=cwd) as (two, _),
    ):
        yield one, two, key

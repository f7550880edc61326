"""Running orderstatus as it is deployed: nginx (configured from ``deploy/nginx``) in front
of ``orderstatus serve`` processes on a fresh PostgreSQL database, a Redis of its own,
``orderstatus worker`` processes, each started on a free port of 127.0.0.1, and stopped,
killed and started again on demand.

Shared by the system test (``tests/system/test_system.py``) and the scale benchmark
(``bench/scale.py``). Everything lives in one temporary folder; each process writes its
own log there, and :meth:`Cluster.logs` reads them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROXY_SNIPPET = DEPLOY / "nginx" / "orderstatus-proxy.conf"
SITE = DEPLOY / "nginx" / "orderstatus.conf"
WEB_DIR = ROOT / "src" / "orderstatus" / "web"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 40.0
STOP_GRACE = 15.0
HANDLE = "system"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def nginx_available() -> bool:
    return Path(NGINX).is_file() and os.access(NGINX, os.X_OK)


def leaflet_dir() -> Path:
    from xstatic.pkg import leaflet

    return Path(leaflet.BASE_DIR)


def upstream_block(servers: list[int]) -> str:
    """The site's ``upstream orderstatus`` block (deploy/nginx/orderstatus.conf) with its
    ``server`` lines pointing at ``servers``, their options kept."""
    site = SITE.read_text()
    match = re.search(r"^upstream orderstatus \{.*?^\}", site, re.S | re.M)
    if match is None:
        raise RuntimeError(f"no `upstream orderstatus` block in {SITE}")
    block = match.group(0)
    options = re.search(r"^\s*server 127\.0\.0\.1:\d+(.*);$", block, re.M)
    if options is None:
        raise RuntimeError(f"no server line in the upstream block of {SITE}")
    lines = "".join(f"    server 127.0.0.1:{port}{options.group(1)};\n" for port in servers)
    kept = [line for line in block.splitlines(keepends=True) if "server 127.0.0.1:" not in line]
    return kept[0] + lines + "".join(kept[1:])


def site_error_level() -> str:
    """The level of the site's error log (what nginx writes there is what operators keep)."""
    match = re.search(r"^\s*error_log \S+ (\w+);", SITE.read_text(), re.M)
    return match.group(1) if match else "error"


def nginx_conf(
    prefix: Path, port: int, servers: list[int], *, workers: int = 1, web_dir: Path = WEB_DIR
) -> str:
    """An nginx.conf for a foreground nginx in ``prefix``: the site's upstream and the
    deployed snippet, on plain HTTP at 127.0.0.1:``port`` (TLS is the one part left out)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    server_tokens off;
{upstream_block(servers)}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        error_log {prefix}/error.log {site_error_level()};
        set $orderstatus_web {web_dir};
        set $orderstatus_leaflet {leaflet_dir()};
        include {PROXY_SNIPPET};
    }}
}}
"""


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh database on the server of ``admin_url`` (its URL), dropped on the way out."""
    admin = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"orderstatus_system_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin, name)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Process:
    """One child process and its log file."""

    name: str
    argv: list[str]
    log: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, env: dict[str, str], cwd: Path) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=env,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    async def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (a graceful stop), then SIGKILL after ``grace`` seconds."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            await self.kill()

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""


class ClusterError(Exception):
    """The cluster could not be set up; the message says why (with the log's end)."""


@dataclass
class Cluster:
    """nginx, ``serves`` web processes, ``workers`` worker processes, a Redis of its own,
    on one fresh PostgreSQL database. Use :func:`running_cluster`."""

    workdir: Path
    database_url: str
    serves: int = 2
    workers: int = 2
    smtp_url: str | None = None
    nginx_workers: int = 1
    worker_lease: float = 30.0
    """Shorter than the default two minutes, so that a killed worker's messages go out
    within the test; long enough that a worker on a busy machine records what it sent
    before its claim runs out (with 10 s, one that sent near the end of its lease was
    seen to record too late, and another worker sent the same messages again)."""
    port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    api_key: str = ""
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    serve_procs: list[Process] = field(default_factory=list)
    worker_procs: list[Process] = field(default_factory=list)
    redis: Process | None = None
    nginx: Process | None = None
    _serve_ports: list[int] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The address clients use: nginx."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATUS_")}
        env |= {
            "ORDERSTATUS_DATABASE_URL": self.database_url,
            "ORDERSTATUS_SECRET_KEY": "s" * 48,
            "ORDERSTATUS_BASE_URL": self.base,
            "ORDERSTATUS_REDIS_URL": self.redis_url,
            "ORDERSTATUS_TRUSTED_PROXIES": "127.0.0.1",
            "ORDERSTATUS_VAR_DIR": str(self.workdir / "var"),
            "ORDERSTATUS_SMTP_FROM": "shop@status.example.com",
        }
        if self.smtp_url:
            env["ORDERSTATUS_SMTP_URL"] = self.smtp_url
        return env

    # --- set-up ------------------------------------------------------------------------

    async def command(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orderstatus",
            *args,
            env=self.env,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise ClusterError(f"orderstatus {' '.join(args)}: {err.decode().strip()}")
        return out.decode()

    async def prepare(self) -> None:
        """The schema, a shop, its API key and its EasyPost webhook secret."""
        await self.command("migrate")
        await self.command("create-shop", "--handle", HANDLE, "--currency", "NOK")
        self.api_key = (await self.command("create-api-key", "--shop", HANDLE)).strip()
        from orderstatus.config import Settings
        from orderstatus.db.engine import Database
        from orderstatus.services.orders import get_shop
        from orderstatus.services.webhooks import set_webhook_secret

        database = Database(Settings.from_env(self.env).database_url)
        try:
            async with database.write() as session:
                shop = await get_shop(session, HANDLE)
                await set_webhook_secret(
                    session, shop_id=shop.id, source="easypost", secret=self.webhook_secret
                )
        finally:
            await database.dispose()

    async def start(self) -> None:
        self.redis = Process(
            "redis",
            [
                REDIS,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            self.workdir / "redis.log",
        )
        await self.start_redis()
        await self.prepare()
        self._serve_ports = [free_port() for _ in range(self.serves)]
        for i, port in enumerate(self._serve_ports):
            self.serve_procs.append(
                Process(
                    f"serve-{i}",
                    [
                        sys.executable,
                        "-m",
                        "orderstatus",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    self.workdir / f"serve-{i}.log",
                )
            )
        await asyncio.gather(*(self.start_serve(i) for i in range(self.serves)))
        for i in range(self.workers):
            self.worker_procs.append(
                Process(
                    f"worker-{i}",
                    [
                        sys.executable,
                        "-m",
                        "orderstatus",
                        "worker",
                        "--lease",
                        str(self.worker_lease),
                        "--poll",
                        "0.1",
                    ],
                    self.workdir / f"worker-{i}.log",
                )
            )
            await self.start_worker(i)
        await self.start_nginx()

    async def start_nginx(self) -> None:
        prefix = self.workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(
            nginx_conf(prefix, self.port, self._serve_ports, workers=self.nginx_workers)
        )
        check = await asyncio.create_subprocess_exec(
            NGINX,
            "-t",
            "-q",
            "-p",
            str(prefix),
            "-e",
            str(prefix / "error.log"),
            "-c",
            str(conf),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await check.communicate()
        if check.returncode != 0:
            raise ClusterError(f"nginx -t: {out.decode()}")
        self.nginx = Process(
            "nginx",
            [
                NGINX,
                "-p",
                str(prefix),
                "-e",
                str(prefix / "error.log"),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            self.workdir / "nginx.log",
        )
        await self.nginx.start(self.env, self.workdir)
        await self._healthy(self.nginx, self.port)

    async def _healthy(self, process: Process, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        url = f"http://127.0.0.1:{port}/healthz"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not process.running:
                    raise ClusterError(f"{process.name} exited:\n{process.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise ClusterError(f"{process.name} did not answer /healthz:\n{process.tail()}")

    # --- processes ---------------------------------------------------------------------

    def serve_pid(self, i: int) -> int:
        return self.serve_procs[i].pid

    async def start_serve(self, i: int) -> None:
        process = self.serve_procs[i]
        await process.start(self.env, self.workdir)
        await self._healthy(process, self._serve_ports[i])

    async def kill_serve(self, i: int) -> None:
        await self.serve_procs[i].kill()

    async def start_worker(self, i: int) -> None:
        await self.worker_procs[i].start(self.env, self.workdir)

    async def kill_worker(self, i: int) -> None:
        await self.worker_procs[i].kill()

    async def start_redis(self) -> None:
        assert self.redis is not None
        await self.redis.start(self.env, self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.redis.running:
                raise ClusterError(f"redis exited:\n{self.redis.tail()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise ClusterError(f"redis did not start:\n{self.redis.tail()}")

    async def restart_redis(self, down: float = 2.0) -> None:
        """Stop Redis (its clients lose their connections), and start it again after
        ``down`` seconds, empty."""
        assert self.redis is not None
        await self.redis.stop()
        await asyncio.sleep(down)
        await self.start_redis()

    def all_processes(self) -> list[Process]:
        found = [*self.serve_procs, *self.worker_procs]
        return found + [p for p in (self.nginx, self.redis) if p is not None]

    async def stop(self) -> None:
        """Everything, the web processes and workers first (gracefully), then nginx and
        Redis."""
        await asyncio.gather(*(p.stop() for p in [*self.serve_procs, *self.worker_procs]))
        for process in (self.nginx, self.redis):
            if process is not None:
                await process.stop()

    def logs(self) -> dict[str, str]:
        """Each log's text: the processes' output and nginx's logs."""
        found = {
            p.name: p.log.read_text(errors="replace")
            for p in [*self.serve_procs, *self.worker_procs]
            if p.log.exists()
        }
        for name in ("error", "access"):
            path = self.workdir / "nginx" / f"{name}.log"
            if path.exists():
                found[f"nginx {name}"] = path.read_text(errors="replace")
        return found


def make_workdir() -> Path:
    """A new folder the nginx worker processes can read."""
    workdir = Path(tempfile.mkdtemp(prefix="orderstatus-cluster-"))
    workdir.chmod(0o755)
    return workdir


@contextlib.asynccontextmanager
async def running_cluster(
    pg_url: str,
    *,
    serves: int = 2,
    workers: int = 2,
    smtp_url: str | None = None,
    nginx_workers: int = 1,
    keep: bool = False,
) -> AsyncIterator[Cluster]:
    """A started :class:`Cluster` on a fresh database of ``pg_url``'s server; everything
    stopped, the database dropped and the folder removed on the way out (kept with
    ``keep``, or after an error)."""
    workdir = make_workdir()
    try:
        async with postgres_database(pg_url) as database_url:
            cluster = Cluster(
                workdir,
                database_url,
                serves=serves,
                workers=workers,
                smtp_url=smtp_url,
                nginx_workers=nginx_workers,
            )
            try:
                await cluster.start()
                yield cluster
            finally:
                await cluster.stop()
    except BaseException:
        keep = True  # its logs tell what went wrong
        print(f"the cluster's folder (logs) is kept: {workdir}", file=sys.stderr)
        raise
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

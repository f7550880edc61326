"""The files in deploy/ are what an operator installs: nginx must accept the whole site
(TLS included, which the system test leaves out), and the units must start the commands
that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import trustme

from orderstatus.cli import build_parser
from tests.system.cluster import DEPLOY, NGINX, PROXY_SNIPPET, SITE, nginx_available


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")
def test_nginx_accepts_the_site_with_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("status.example.com")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "fullchain.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "privkey.pem"))
    (tmp_path / "snippets").mkdir()
    shutil.copy(PROXY_SNIPPET, tmp_path / "snippets" / PROXY_SNIPPET.name)
    site = SITE.read_text()
    site = re.sub(r"/etc/letsencrypt/live/[^;]+/", f"{tmp_path}/", site)
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log off;\n"
        f" client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", "nginx.conf"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "[warn]" in line and "http2" not in line  # newer nginx: `http2 on;` instead
    ]
    assert not warnings, result.stderr


def test_the_units_run_commands_that_exist() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text()
        (start,) = re.findall(r"^ExecStart=(.*)$", text, re.M)
        argv = start.split()
        assert argv[0].endswith("/orderstatus"), unit.name
        assert argv[1] in commands, unit.name
        build_parser().parse_args([a.replace("%i", "8000") for a in argv[1:]])
        assert "EnvironmentFile=/etc/orderstatus/orderstatus.env" in text, unit.name
        assert "\nKillMode=mixed\n" in text, unit.name  # SIGTERM to the main process only
    env = (DEPLOY / "orderstatus.env.example").read_text()
    names = set(re.findall(r"^#? ?(ORDERSTATUS_[A-Z_]+)=", env, re.M))
    readme = (DEPLOY.parent / "README.md").read_text()
    assert names and all(f"`{name}`" in readme for name in names), names

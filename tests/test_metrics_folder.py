"""The shared metrics folder: what an ended process leaves is cleared, what a running
one (another unit's `serve` or `worker`) writes is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orderstatus import metrics


def _ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_the_files_of_ended_processes_go(tmp_path: Path) -> None:
    alive, ended = os.getpid(), _ended_pid()
    names = [
        f"{kind}_{pid}.db"
        for pid in (alive, ended)
        for kind in ("counter", "histogram", "gauge_livesum", "gauge_livemin")
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")

    metrics.remove_ended(tmp_path)  # at each scrape: the ended process's gauges
    left = {p.name for p in tmp_path.iterdir()}
    assert left == set(names) - {f"gauge_livesum_{ended}.db", f"gauge_livemin_{ended}.db"}

    metrics.remove_ended(tmp_path, live_only=False)  # when `serve` starts: all it left
    assert {p.name for p in tmp_path.iterdir()} == {n for n in names if f"_{alive}." in n}

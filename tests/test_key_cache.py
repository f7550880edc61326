"""The status pages' key cache under load: one database read per token at a time, and
no request waits for one while the key is known."""

from __future__ import annotations

import asyncio

import pytest

from orderstatus.services.status_pages import PageKey
from orderstatus.web.pages import KeyCache

KEY = PageKey(order_id=1, shop_id=1, order_version=3, shop_version=1, locale="en", shop_locale="en")


class SlowDatabase:
    def __init__(self, answer: PageKey | None) -> None:
        self.answer = answer
        self.reads = 0
        self.release = asyncio.Event()

    async def read(self) -> PageKey | None:
        self.reads += 1
        await self.release.wait()
        return self.answer


async def test_a_crowd_asking_for_an_unknown_token_makes_one_read() -> None:
    cache, db = KeyCache(), SlowDatabase(KEY)
    crowd = [asyncio.create_task(cache.read("t", db.read)) for _ in range(50)]
    await asyncio.sleep(0.01)
    db.release.set()
    assert await asyncio.gather(*crowd) == [KEY] * 50
    assert db.reads == 1
    assert await cache.read("t", db.read) == KEY
    assert db.reads == 1  # fresh now: from memory


async def test_an_expired_key_is_read_again_once_for_the_crowd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Never answered from an expired entry: a change no broker reported (a process that
    missed it while Redis was away) shows once the entry expires."""
    cache = KeyCache()
    monkeypatch.setattr(KeyCache, "TTL_SECONDS", -1.0)  # every entry expires at once
    cache.put("t", KEY)
    newer = PageKey(1, 1, 4, 1, "en", "en")
    db = SlowDatabase(newer)
    crowd = [asyncio.create_task(cache.read("t", db.read)) for _ in range(20)]
    await asyncio.sleep(0.01)
    db.release.set()
    assert await asyncio.gather(*crowd) == [newer] * 20
    assert db.reads == 1


async def test_a_token_that_is_not_there_is_not_kept() -> None:
    cache = KeyCache()
    db = SlowDatabase(None)
    db.release.set()
    assert await cache.read("t", db.read) is None
    assert await cache.read("t", db.read) is None
    assert db.reads == 2


async def test_a_key_due_for_a_look_answers_at_once_and_is_looked_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before it expires, a busy page's key is read again in the background: the crowd
    is answered from memory meanwhile, and the next request gets what the read found."""
    cache = KeyCache()
    monkeypatch.setattr(KeyCache, "REFRESH_SECONDS", -1.0)  # due for a look at once
    cache.put("t", KEY)
    newer = PageKey(1, 1, 4, 1, "en", "en")
    db = SlowDatabase(newer)
    answers = await asyncio.gather(*(cache.read("t", db.read) for _ in range(20)))
    assert answers == [KEY] * 20  # nobody waited for the read
    assert db.reads == 1
    db.release.set()
    await asyncio.sleep(0.01)
    assert cache.get("t") == newer


async def test_a_change_heard_during_a_look_is_not_undone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = KeyCache()
    monkeypatch.setattr(KeyCache, "REFRESH_SECONDS", -1.0)
    cache.put("t", KEY)
    db = SlowDatabase(KEY)  # read before the change was committed
    assert await cache.read("t", db.read) == KEY
    cache.changed(1, 5)
    db.release.set()
    await asyncio.sleep(0.01)
    key = cache.get("t")
    assert key is not None and key.order_version == 5


async def test_a_failed_look_leaves_the_key_to_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = KeyCache()
    monkeypatch.setattr(KeyCache, "REFRESH_SECONDS", -1.0)
    cache.put("t", KEY)

    async def broken() -> PageKey | None:
        raise ConnectionError("database away")

    assert await cache.read("t", broken) == KEY
    await asyncio.sleep(0.01)
    assert cache.get("t") == KEY  # still answering until it expires
    monkeypatch.setattr(KeyCache, "TTL_SECONDS", -1.0)
    cache.put("t", KEY)
    with pytest.raises(ConnectionError):
        await cache.read("t", broken)

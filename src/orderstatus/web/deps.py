"""Request dependencies: the app's settings and database, and the caller's shop."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orderstatus.carriers.geocode import Gazetteer
from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.domain.errors import Unauthorized
from orderstatus.domain.inputs import MAX_ID
from orderstatus.services.accounts import authenticate_api_key
from orderstatus.services.security import api_key_digest

API_KEY_CACHE_SECONDS = 10.0

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class TtlCache(Generic[Key, Value]):
    """Values kept for a few seconds: saves a database round trip on every request,
    while a change made in another process is seen within ``ttl`` seconds."""

    def __init__(self, ttl: float, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[Key, tuple[Value, float]] = {}

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: Key, value: Value) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


class ApiKeyCache(TtlCache[str, int]):
    """Recently checked keys (by digest) → shop id. A revoked key stops working in
    every process within :data:`API_KEY_CACHE_SECONDS` (at once in the process that
    revoked it, which calls :meth:`clear`)."""

    def __init__(self, ttl: float = API_KEY_CACHE_SECONDS, size: int = 1024) -> None:
        super().__init__(ttl, size)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_gazetteer(request: Request) -> Gazetteer:
    """The gazetteer, read (once per process) before it is first used."""
    gazetteer: Gazetteer = request.app.state.gazetteer
    await gazetteer.load()
    return gazetteer


SettingsDep = Annotated[Settings, Depends(get_settings)]
GazetteerDep = Annotated[Gazetteer, Depends(get_gazetteer)]
DatabaseDep = Annotated[Database, Depends(get_database)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `orderstatus create-api-key`")


async def api_shop_id(
    request: Request,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    cache: ApiKeyCache = request.app.state.api_keys
    key = credentials.credentials
    digest = api_key_digest(key)
    shop_id = cache.get(digest)
    if shop_id is None:
        async with database.read() as session:
            shop_id = await authenticate_api_key(session, key)
        cache.put(digest, shop_id)
    return shop_id


ApiShopId = Annotated[int, Depends(api_shop_id)]

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id")]
"""An id in a path: one no row can have (not a number, or beyond what the column holds) is a 404."""

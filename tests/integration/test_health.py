from __future__ import annotations

from pathlib import Path

import httpx

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app, stop_serving


async def test_healthz_reports_the_database(app_http: httpx.AsyncClient) -> None:
    response = await app_http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_healthz_is_503_when_the_database_is_down(settings: Settings) -> None:
    # Nothing listens on port 9 of the loopback address: the database is unreachable.
    down = Database("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    app = create_app(settings, down)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get("/healthz")
    await down.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"].startswith("error")


async def test_unknown_api_paths_answer_in_the_error_shape(app_http: httpx.AsyncClient) -> None:
    response = await app_http.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_readyz_says_ready_with_a_current_schema(app_http: httpx.AsyncClient) -> None:
    response = await app_http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "current", "broker": "ok"},
    }
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_is_503_on_an_old_schema_or_no_database(
    settings: Settings, tmp_path: Path
) -> None:
    # A database nobody migrated: a deployment that forgot `orderstatus migrate`.
    empty = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    down = Database("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    answers = []
    for database in (empty, down):
        app = create_app(settings, database)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            answers.append(await http.get("/readyz"))
        await database.dispose()
    outdated, unreachable = answers
    assert outdated.status_code == 503
    assert outdated.json()["checks"]["schema"].startswith("outdated: run `orderstatus migrate`")
    assert unreachable.status_code == 503
    assert unreachable.json()["checks"]["database"].startswith("error")


async def test_a_stopping_process_is_not_ready_but_still_healthy(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        assert (await http.get("/readyz")).status_code == 200
        stop_serving(app)
        stopping = await http.get("/readyz")
        assert stopping.status_code == 503
        assert stopping.json()["checks"]["process"] == "stopping"
        assert (await http.get("/healthz")).status_code == 200

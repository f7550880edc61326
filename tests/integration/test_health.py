from __future__ import annotations

import httpx

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.web.app import create_app


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

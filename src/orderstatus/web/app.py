"""The application factory: wires settings, storage and routes once at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from orderstatus import __version__, metrics
from orderstatus.carriers.geocode import Gazetteer
from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.notify.worker import start_in_background
from orderstatus.realtime.broker import create_broker
from orderstatus.runtime import tune_collector
from orderstatus.services.batching import EventBatcher
from orderstatus.services.insights import start_refresh
from orderstatus.services.polling import start_poller
from orderstatus.services.product_images import start_fetcher
from orderstatus.services.retention import start_retention
from orderstatus.services.stalls import start_stall_watch
from orderstatus.services.wallet import queue_pushes
from orderstatus.services.writeback import start_writer
from orderstatus.web import admin, docs, errors, favicon
from orderstatus.web.accesslog import AccessLog
from orderstatus.web.api.routes import router as api_router
from orderstatus.web.assets import StaticAssets, app_assets
from orderstatus.web.connect import ConnectIntake, ConnectLane
from orderstatus.web.connect import document as document_connect
from orderstatus.web.deps import ApiKeyCache
from orderstatus.web.headers import SecurityHeaders
from orderstatus.web.health import router as health_router
from orderstatus.web.live import Live
from orderstatus.web.live import router as live_router
from orderstatus.web.middleware import BODY_IDLE_SECONDS, BodyReadTimeout, BodySizeLimit, RefuseNul
from orderstatus.web.monitoring import router as monitoring_router
from orderstatus.web.pages import Pages
from orderstatus.web.shutdown import on_stop_signal
from orderstatus.web.storefront.shop import router as shop_router
from orderstatus.web.storefront.status import router as status_router
from orderstatus.web.storefront.wallet import router as wallet_router
from orderstatus.web.webhooks import WebhookIntake, WebhookLane, document


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    run_worker: bool = False,
    body_timeout: float = BODY_IDLE_SECONDS,
) -> FastAPI:
    """The ASGI app. A given database is the caller's to close; otherwise the app's.
    ``run_worker``: deliver notifications in this process too (one process on SQLite).
    ``body_timeout``: how long a request body may pause (the whole body gets six times it)."""
    owned = database is None
    db = database or Database(settings.database_url)

    gazetteer = Gazetteer.shared()
    broker = create_broker(settings.redis_url, namespace=settings.database_url)
    db.on_commit = broker.publish
    if settings.wallet_enabled:
        db.before_commit = queue_pushes
    db.on_end = broker.end

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Read the gazetteer while the server starts, not on the first carrier event.
        loading = asyncio.ensure_future(gazetteer.load())
        await broker.start()
        restore_signals = on_stop_signal(lambda: stop_serving(_app))
        worker = start_in_background(db, settings) if run_worker else None
        stop_polling = asyncio.Event()
        poller = start_poller(db, stop_polling) if run_worker else None
        images = start_fetcher(db, settings, stop_polling) if run_worker else None
        retention = start_retention(db, settings, stop_polling) if run_worker else None
        writer = start_writer(db, settings, stop_polling) if run_worker else None
        stalls = start_stall_watch(db, stop_polling) if run_worker else None
        insights = start_refresh(db, stop_polling) if run_worker else None
        counts = asyncio.create_task(_app.state.pages.counter.run(db, stop_polling))
        yield
        restore_signals()
        stop_polling.set()
        if poller is not None:
            await poller
        if images is not None:
            await images
        if retention is not None:
            await retention
        if writer is not None:
            await writer
        if stalls is not None:
            await stalls
        if insights is not None:
            await insights
        await counts
        if worker is not None:
            await worker.stop()
        loading.cancel()
        await broker.stop()
        if owned:
            await db.dispose()

    app = FastAPI(
        title="orderstatus",
        version=__version__,
        summary="Order status pages with live shipment tracking",
        openapi_url="/api/openapi.json",
        docs_url=None,  # web.docs: served without a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stopping = False
    app.state.database = db
    app.state.api_keys = ApiKeyCache()
    app.state.pages = Pages(settings)
    app.state.broker = broker
    app.state.live = Live(app.state.pages, db, broker)
    broker.hub.listeners.append(app.state.pages.keys.changed)
    app.state.gazetteer = gazetteer
    app.state.event_batcher = EventBatcher(db, gazetteer)
    app.state.webhooks = WebhookIntake(db, gazetteer)
    app.state.connect = ConnectIntake(db, allow_private=settings.webhooks_allow_private)
    errors.install(app)
    # Matched in this order: the busiest routes first (the API; webhooks never get here).
    app.include_router(api_router)
    app.include_router(health_router)
    app.include_router(monitoring_router)
    app.include_router(status_router)
    app.include_router(wallet_router)
    app.include_router(shop_router)
    app.include_router(live_router)
    app.include_router(docs.router)
    app.include_router(favicon.router)
    admin.install(app)
    app.mount(docs.ASSETS, docs.assets(), name="docs")
    app.add_middleware(WebhookLane, intake=app.state.webhooks)
    app.add_middleware(ConnectLane, intake=app.state.connect)
    app.add_middleware(RefuseNul)
    app.add_middleware(BodySizeLimit, larger=admin.BODY_LIMITS)  # outside: the lane's limit too
    app.add_middleware(BodyReadTimeout, idle=body_timeout)
    app.add_middleware(StaticAssets, assets=app_assets())  # before the body checks: no body
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
    app.add_middleware(AccessLog, trusted_proxies=settings.trusted_proxies)
    document(app)
    document_connect(app)
    return app


def stop_serving(app: FastAPI) -> None:
    """The process is about to stop: not ready any more, and live streams end now."""
    app.state.stopping = True
    app.state.broker.hub.close_all()


def app_factory() -> FastAPI:
    """For ``uvicorn --factory`` in each worker process: settings from the environment."""
    settings = Settings.from_env()
    metrics.configure(settings.metrics_folder)  # the parent `serve` has cleaned it
    app = create_app(settings)
    tune_collector()
    return app

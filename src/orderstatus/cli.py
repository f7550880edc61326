"""The `orderstatus` command: serve, migrate, demo and account set-up."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from orderstatus import __version__, logs, metrics
from orderstatus.config import Settings, SettingsError
from orderstatus.db import migrate as migrations
from orderstatus.db.engine import Database
from orderstatus.domain.errors import DomainError
from orderstatus.realtime.broker import create_broker
from orderstatus.runtime import tune_collector
from orderstatus.services.insights import start_refresh
from orderstatus.services.polling import start_poller
from orderstatus.services.product_images import start_fetcher
from orderstatus.services.retention import start_retention
from orderstatus.services.stalls import start_stall_watch
from orderstatus.services.wallet import queue_pushes
from orderstatus.services.writeback import start_writer

GRACEFUL_SHUTDOWN_SECONDS = 5
"""Live pages hold their connection open: on shutdown, give requests this long, then
close the streams (browsers reconnect to another process by themselves)."""


def _log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging, with our access log (paths without tokens) in place of its own,
    as text or JSON lines (ORDERSTATUS_LOG_FORMAT)."""
    return logs.log_config(settings.log_format)


SERVER_OPTIONS: dict[str, Any] = {
    # The app decides which X-Forwarded-For to believe (ORDERSTATUS_TRUSTED_PROXIES).
    "proxy_headers": False,
    # uvicorn's access log writes raw paths (status-page tokens, webhook secrets).
    "access_log": False,
    # asyncio's own loop, not uvloop: libuv, under uvloop, takes in one new connection per
    # turn of the loop, so on a busy process a new visitor's first request waited one turn
    # for every connection that came before it (64 at once: up to a second, a p99 13-22x
    # the median). asyncio's loop takes in all that wait; it answers as many pages per CPU
    # second here (bench/page_tail.py).
    "loop": "asyncio",
}


class CommandError(Exception):
    """Stops the command with a one-line message and exit status ``code`` (1)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _database(settings: Settings) -> Database:
    settings.prepare_storage()
    return Database(settings.database_url)


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    database = _database(settings)
    try:
        return await work(database)
    finally:
        await database.dispose()


async def _require_current_schema(database: Database) -> None:
    if not await migrations.is_current(database):
        raise CommandError("the database schema is not up to date: run `orderstatus migrate`")


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    asyncio.run(_with_database(settings, migrations.upgrade))
    print("database is up to date", file=sys.stderr)


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    if workers > 1:
        if settings.is_sqlite:
            raise CommandError("SQLite allows one writer process: use --workers 1 or PostgreSQL")
        # Each worker process builds its own app from the same environment; the keys
        # kept in the var folder are made now, before they could race to make them.
        settings.resolved_secret_key()
        settings.resolved_vapid_key()
        uvicorn.run(
            "orderstatus.web.app:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **SERVER_OPTIONS,
            log_config=_log_config(settings),
            log_level="info",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        return
    from orderstatus.web.app import create_app

    # On SQLite this one process is the writer, so it delivers notifications too.
    app = create_app(settings, run_worker=settings.is_sqlite)
    tune_collector()
    uvicorn.run(
        app,
        host=host,
        port=port,
        **SERVER_OPTIONS,
        log_config=_log_config(settings),
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    # This process and the workers it starts count into the shared folder; the files of
    # processes that have ended go (never those of others running, e.g. `worker`).
    metrics.configure(settings.metrics_folder, clean=True)
    asyncio.run(_with_database(settings, _require_current_schema))
    _serve(settings, args.host, args.port, args.workers)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.carriers.simulator import Simulator
    from orderstatus.domain.links import expiry, page_link
    from orderstatus.services.demo import place_live_order, seed

    secret = settings.resolved_secret_key()
    base = f"http://{args.host}:{args.port}"
    if settings.base_url != base and "ORDERSTATUS_BASE_URL" not in os.environ:
        settings = settings.model_copy(update={"base_url": base})
    expires = expiry(datetime.now(UTC), settings.link_days)

    def link(token: str) -> str:
        """As the link in the order's e-mail: it opens the full page in any browser."""
        return page_link(settings.base_url, token, secret_key=secret, expires_at=expires)

    async def prepare(database: Database) -> tuple[Any, tuple[int, str] | None]:
        await migrations.upgrade(database)
        demo = await seed(database, secret_key=secret, base_url=settings.base_url)
        live = None
        if not args.no_carrier:
            live = await place_live_order(database, base_url=settings.base_url)
        return demo, live

    metrics.configure(settings.metrics_folder, clean=True)
    demo, live = asyncio.run(_with_database(settings, prepare))
    opens = (
        f"each link opens the order's full page, like the link in its e-mail, for "
        f"{settings.link_days} days"
        if expires
        else "the public view; sign in with the order's e-mail or phone"
    )
    lines = [
        "",
        f"orderstatus demo: shop '{demo.shop_handle}' on {settings.database_url}",
        f"API key: {demo.api_key}",
        f"Staff login: {demo.staff_email} / {demo.staff_password}  ({settings.base_url}/admin)",
        f"API docs: {settings.base_url}/api/docs",
        f"Storefront: {settings.base_url}/shop/{demo.shop_handle}/",
        f"Status pages ({opens}):",
        *(f"  {name:6} {shows:50} {link(token)}" for name, shows, token in demo.orders),
    ]
    if live is not None:
        lines += [
            "",
            "A demo carrier is moving a new order through Oslo, Trondheim and Bergen"
            " (about 4 minutes, with a failed delivery attempt):",
            f"  {link(live[1])}",
        ]
    print("\n".join([*lines, ""]), flush=True)
    simulator = None
    if live is not None:
        simulator = Simulator(
            base_url=base,
            shop_handle=demo.shop_handle,
            api_key=demo.api_key,
            webhook_secret=demo.webhook_secret,
            order_id=live[0],
        )
        simulator.start()
    try:
        _serve(settings.model_copy(update={"secret_key": secret}), args.host, args.port)
    finally:
        if simulator is not None:
            simulator.stop.set()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    """Deliver the notification outbox until SIGTERM or Ctrl-C. Several may run on
    PostgreSQL; on SQLite `serve` and `demo` already run one, so run none there."""
    import logging
    import logging.config
    import signal

    from orderstatus.notify.worker import Worker, WorkerConfig

    try:
        config = WorkerConfig(
            batch_size=args.batch,
            concurrency=args.concurrency,
            lease=args.lease,
            send_timeout=min(30.0, args.lease / 3),
            poll_interval=args.poll,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None

    metrics.configure(settings.metrics_folder)

    async def work(database: Database) -> str:
        await _require_current_schema(database)
        if settings.log_format == "json":
            logging.config.dictConfig(logs.log_config("json"))
        else:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
            for handler in logging.getLogger().handlers:
                handler.addFilter(logs.RequestContext())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # Changes this process makes (carrier polls) reach open pages through the broker.
        broker = create_broker(settings.redis_url, namespace=settings.database_url)
        database.on_commit = broker.publish
        if settings.wallet_enabled:
            database.before_commit = queue_pushes
        poller = start_poller(database, stop)
        images = start_fetcher(database, settings, stop)
        retention = start_retention(database, settings, stop)
        writer = start_writer(database, settings, stop)
        stalls = start_stall_watch(database, stop)
        insights = start_refresh(database, stop)
        worker = Worker(database, settings, config)
        await worker.run(stop)
        if poller is not None:
            await poller
        await images
        await writer
        if retention is not None:
            await retention
        await stalls
        await insights
        await broker.stop()
        return worker.summary()

    summary = asyncio.run(_with_database(settings, work))
    print(f"worker stopped: {summary}", file=sys.stderr)


def cmd_create_shop(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.services.accounts import create_shop

    async def work(database: Database) -> None:
        await _require_current_schema(database)
        async with database.write() as session:
            await create_shop(
                session=session,
                handle=args.handle,
                name=args.name or args.handle,
                currency=args.currency,
                locale=args.locale,
                timezone=args.timezone,
            )

    asyncio.run(_with_database(settings, work))
    print(f"shop '{args.handle}' created", file=sys.stderr)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise CommandError("the passwords differ")
    return first


def cmd_create_staff(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.services.accounts import create_staff
    from orderstatus.services.orders import get_shop

    password = _read_password(args)

    async def work(database: Database) -> None:
        await _require_current_schema(database)
        async with database.write() as session:
            shop = await get_shop(session, args.shop)
            await create_staff(
                session=session, shop=shop, email=args.email, password=password, name=args.name
            )

    asyncio.run(_with_database(settings, work))
    print(f"staff account {args.email} created for shop '{args.shop}'", file=sys.stderr)


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.services.accounts import create_api_key
    from orderstatus.services.orders import get_shop

    async def work(database: Database) -> str:
        await _require_current_schema(database)
        async with database.write() as session:
            shop = await get_shop(session, args.shop)
            _row, key = await create_api_key(session=session, shop=shop, name=args.name)
        return key

    key = asyncio.run(_with_database(settings, work))
    print(key)


def cmd_create_connection(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.services.connections import create_connection, write_back_credentials
    from orderstatus.services.orders import get_shop

    credentials = write_back_credentials(
        api_key=args.api_key, api_secret=args.api_secret, api_token=args.api_token
    )

    async def work(database: Database) -> tuple[str, str]:
        await _require_current_schema(database)
        async with database.write() as session:
            shop = await get_shop(session, args.shop)
            made = await create_connection(
                session,
                shop=shop,
                platform=args.platform,
                secret=args.secret,
                shop_url=args.shop_url,
                credentials=credentials,
            )
        return made.path, made.secret

    path, secret = asyncio.run(_with_database(settings, work))
    print(f"url: {settings.base_url.rstrip('/')}{path}")
    print(f"secret: {secret}")


CLI_ACTOR = "command line"
"""Who did it, in the shop's history, for changes made with this command."""


def cmd_erase(settings: Settings, args: argparse.Namespace) -> None:
    from orderstatus.services.orders import get_shop
    from orderstatus.services.retention import erase_customer

    async def work(database: Database) -> int:
        await _require_current_schema(database)
        async with database.write() as session:
            shop = await get_shop(session, args.shop)
            return await erase_customer(
                session=session,
                shop_id=shop.id,
                actor=CLI_ACTOR,
                email=args.email,
                phone=args.phone,
            )

    count = asyncio.run(_with_database(settings, work))
    print(f"customer data removed from {count} order{'s' if count != 1 else ''}", file=sys.stderr)


def cmd_export_customer(settings: Settings, args: argparse.Namespace) -> None:
    import json

    from orderstatus.services.orders import get_shop
    from orderstatus.services.retention import export_customer

    async def work(database: Database) -> dict[str, Any]:
        await _require_current_schema(database)
        async with database.read() as session:
            shop = await get_shop(session, args.shop)
            return await export_customer(
                session, shop_id=shop.id, email=args.email, phone=args.phone
            )

    data = asyncio.run(_with_database(settings, work))
    print(json.dumps({"shop": args.shop, **data}, ensure_ascii=False, indent=2))


def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    """A copy of the SQLite database, the media folder and the secret key in a new folder."""
    import shutil
    from pathlib import Path

    from orderstatus.db.backup import backup_sqlite, sqlite_file

    source = sqlite_file(settings.database_url)
    if source is None:
        raise CommandError(
            "backup copies a SQLite database; for PostgreSQL use pg_dump (see the README)",
            code=2,
        )
    target = Path(args.path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CommandError(f"{target} exists and is not an empty folder")
    target.mkdir(parents=True, exist_ok=True)
    backup_sqlite(source, target / source.name)
    media = settings.var_dir / "media"
    if media.is_dir():
        shutil.copytree(media, target / "media")
    for name in ("secret_key", "vapid_private_key"):
        kept = settings.var_dir / name
        if kept.is_file():
            shutil.copy2(kept, target / name)
    print(f"backup written to {target}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orderstatus",
        description="Order status pages with live shipment tracking. "
        "Settings come from ORDERSTATUS_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"orderstatus {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the web app and API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="web processes (PostgreSQL only)")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        handler=cmd_migrate
    )

    worker = commands.add_parser(
        "worker", help="send the notification e-mails and text messages (runs until stopped)"
    )
    worker.add_argument("--batch", type=int, default=50, help="rows claimed at a time")
    worker.add_argument("--concurrency", type=int, default=8, help="messages in flight at once")
    worker.add_argument(
        "--lease", type=float, default=120.0, help="seconds before a dead worker's rows are retaken"
    )
    worker.add_argument("--poll", type=float, default=0.25, help="seconds between looks when idle")
    worker.set_defaults(handler=cmd_worker)

    demo = commands.add_parser("demo", help="seed a demo shop on SQLite and serve it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--no-carrier", action="store_true", help="do not run the simulated carrier")
    demo.set_defaults(handler=cmd_demo)

    shop = commands.add_parser("create-shop", help="add a shop")
    shop.add_argument("--handle", required=True, help="short name used in URLs, e.g. myshop")
    shop.add_argument("--name", help="the name customers see")
    shop.add_argument("--currency", required=True, help="ISO 4217 code, e.g. NOK")
    shop.add_argument("--locale", default="en", help="default language, e.g. en or nb")
    shop.add_argument(
        "--timezone", default="UTC", help="IANA time zone of the shop, e.g. Europe/Oslo"
    )
    shop.set_defaults(handler=cmd_create_shop)

    staff = commands.add_parser("create-staff", help="add a staff account to a shop")
    staff.add_argument("--shop", required=True, help="shop handle")
    staff.add_argument("--email", required=True)
    staff.add_argument("--name")
    staff.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    staff.set_defaults(handler=cmd_create_staff)

    key = commands.add_parser(
        "create-api-key", help="make an API key for a shop (printed once, alone, on stdout)"
    )
    key.add_argument("--shop", required=True, help="shop handle")
    key.add_argument("--name", default="api", help="a label to tell keys apart")
    key.set_defaults(handler=cmd_create_api_key)

    connection = commands.add_parser(
        "create-connection",
        help="connect a shop platform; prints the webhook URL and secret to give it",
    )
    connection.add_argument("--shop", required=True, help="shop handle")
    connection.add_argument(
        "--platform", required=True, choices=["woocommerce", "shopify", "saleor"]
    )
    connection.add_argument(
        "--secret", help="the platform's webhook secret (default: a new random one)"
    )
    connection.add_argument(
        "--shop-url",
        help="the shop's own address (Saleor: its API URL, required); "
        "where the page link is written back",
    )
    connection.add_argument("--api-key", help="WooCommerce REST API consumer key (write-back)")
    connection.add_argument(
        "--api-secret", help="WooCommerce REST API consumer secret (write-back)"
    )
    connection.add_argument(
        "--api-token", help="Shopify Admin API or Saleor app token (write-back)"
    )
    connection.set_defaults(handler=cmd_create_connection)

    erase = commands.add_parser(
        "erase", help="remove a customer's personal data from all their orders in a shop"
    )
    _customer_options(erase)
    erase.set_defaults(handler=cmd_erase)

    export = commands.add_parser(
        "export-customer", help="print what is kept about a customer, as JSON"
    )
    _customer_options(export)
    export.set_defaults(handler=cmd_export_customer)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database and the media folder into a new folder"
    )
    backup.add_argument("path", help="the folder to create")
    backup.set_defaults(handler=cmd_backup)
    return parser


def _customer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shop", required=True, help="shop handle")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the e-mail address of the customer's orders")
    who.add_argument("--phone", help="the phone number of the customer's orders")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        args.handler(settings, args)
    except CommandError as exc:
        print(f"orderstatus: {exc}", file=sys.stderr)
        return exc.code
    except (SettingsError, DomainError) as exc:
        print(f"orderstatus: {exc}", file=sys.stderr)
        return 1
    except (OSError, DBAPIError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        print(f"orderstatus: cannot use the database: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

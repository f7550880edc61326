"""Insights: how fast the admin's Insights page answers over ``--orders`` orders on
PostgreSQL, and how long the worker's refresh of the daily figures takes.

Seeds a fresh database in SQL: orders spread over the last year, a shipment each, a
delivery for most (some late against the first estimate), an exception for some, a
message each, and page views. Then it sums the daily figures as a first run does (the
whole history) and as every later run does (the last 7 days), and asks for the page
over 30 and 365 days through the app itself (signed in as staff, in this process).

Target: the page over 100,000 orders in < 500 ms. Run it from the project folder::

    .venv/bin/python bench/insights.py
    .venv/bin/python bench/insights.py --orders 20000 --requests 5
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

import _common as common

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.migrate import upgrade
from orderstatus.services.accounts import create_staff
from orderstatus.services.insights import refresh_daily
from orderstatus.services.orders import get_shop
from orderstatus.web.app import create_app

TAG = "insights"
TARGET_MS = 500.0
PASSWORD = "bench password 123"
VAR_DIR = str(Path(__file__).resolve().parents[1] / "var" / "bench-insights")

SEED = [
    """
    INSERT INTO shops (handle, name, default_locale, currency, timezone, accent_color,
                       next_order_number, version, created_at, notification_kinds_off,
                       notification_kinds_on, sms_confirmation_with_email, taxes_included,
                       storefront_enabled)
    VALUES ('bench', 'Bench', 'en', 'NOK', 'UTC', '#1f6f5c', 1, 1, now(), '[]', '[]',
            false, false, false)
    """,
    """
    INSERT INTO orders (id, shop_id, number, status_token, currency, customer_first_name,
                        email, shipping_address, payment_method, subtotal, shipping_total,
                        discount_total, tax_total, taxes_included, total, fulfillment_status,
                        delivery_status, version, created_at, updated_at)
    SELECT i, 1, i::text, md5(i::text) || md5('t' || i), 'NOK', 'Bench', 'bench@example.com',
           json_build_object('country_code', (ARRAY['NO','SE','DK'])[1 + i % 3],
                             'zip', lpad((i % 9000)::text, 4, '0')),
           'card', 0, 0, 0, 0, false, 0, 'fulfilled', 'delivered', 1,
           now() - (i % 365) * interval '1 day' - (i % 24) * interval '1 hour',
           now() - (i % 365) * interval '1 day'
    FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO fulfillments (id, shop_id, order_id, carrier_code, tracking_number, status,
                              first_estimated_delivery, estimated_delivery, last_event_at,
                              last_event_status, notify_customer, created_at, updated_at,
                              poll_failures)
    SELECT o.id, 1, o.id, (ARRAY['bring','postnord','ups'])[1 + o.id % 3], 'T' || o.id,
           CASE WHEN o.id % 10 = 0 THEN 'in_transit' ELSE 'delivered' END,
           o.created_at + interval '4 days', o.created_at + interval '4 days',
           LEAST(o.created_at + (1 + o.id % 6) * interval '1 day', now()),
           'delivered', true, o.created_at + interval '3 hours', o.created_at, 0
    FROM orders o
    """,
    """
    INSERT INTO tracking_events (shop_id, fulfillment_id, status, occurred_at,
                                 occurred_at_guessed, received_at, source, content_key)
    SELECT 1, f.id, CASE WHEN f.id % 20 = 0 THEN 'delayed' ELSE f.status END,
           f.last_event_at, false, f.last_event_at, 'api', 'k' || f.id
    FROM fulfillments f
    """,
    """
    INSERT INTO notifications (shop_id, order_id, fulfillment_id, kind, channel, recipient,
                               idempotency_key, state, attempts, next_attempt_at, created_at)
    SELECT 1, o.id, NULL, 'order_confirmation', CASE WHEN o.id % 7 = 0 THEN 'sms' ELSE 'email' END,
           'bench@example.com', 'o' || o.id, CASE WHEN o.id % 50 = 0 THEN 'failed' ELSE 'sent' END,
           1, o.created_at, o.created_at
    FROM orders o
    """,
    """
    INSERT INTO page_counts (order_id, day, kind, shop_id, count)
    SELECT o.id, (o.created_at + interval '1 day')::date, 'view', 1, 1 + o.id % 3
    FROM orders o WHERE o.id % 4 <> 0
    UNION ALL
    SELECT o.id, (o.created_at + interval '1 day')::date, 'click_email', 1, 1
    FROM orders o WHERE o.id % 3 = 0
    """,
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--pg-url", default=common.DEFAULT_PG_URL)
    parser.add_argument("--orders", type=common.positive(int), default=100_000)
    parser.add_argument("--requests", type=common.positive(int), default=10)
    return parser.parse_args(argv)


async def timed_pages(http: httpx.AsyncClient, days: int, count: int) -> list[float]:
    times = []
    for _ in range(count + 1):
        started = time.perf_counter()
        page = await http.get("/admin/insights", params={"days": str(days)})
        elapsed = time.perf_counter() - started
        if page.status_code != 200:
            raise common.BenchError(f"the page answered {page.status_code}")
        times.append(elapsed * 1000)
    return times[1:]  # the first warms the templates


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    async with common.postgres_database(args.pg_url, TAG) as url:
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        database = Database(url)
        try:
            await upgrade(database)
            common.progress(TAG, f"seeding {args.orders:,} orders over a year")
            async with database.write() as session:
                for statement in SEED:
                    await session.execute(text(statement), {"n": args.orders})
                shop = await get_shop(session, "bench")
                await create_staff(
                    session=session, shop=shop, email="bench@example.com", password=PASSWORD
                )
            async with database.write() as session:
                await session.execute(text("ANALYZE"))

            started = time.perf_counter()
            figures = await refresh_daily(database)
            first = time.perf_counter() - started
            started = time.perf_counter()
            await refresh_daily(database)
            later = time.perf_counter() - started

            settings = Settings.from_env(
                {},
                database_url=url,
                base_url="http://bench.test",
                secret_key="b" * 40,
                var_dir=VAR_DIR,
            )
            app = create_app(settings, database)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
                form = await http.get("/admin/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                if token is None:
                    raise common.BenchError("no sign-in form")
                signed = await http.post(
                    "/admin/login",
                    data={
                        "csrf_token": token[1],
                        "email": "bench@example.com",
                        "password": PASSWORD,
                    },
                )
                if signed.status_code != 303:
                    raise common.BenchError(f"cannot sign in: {signed.status_code}")
                month = await timed_pages(http, 30, args.requests)
                year = await timed_pages(http, 365, args.requests)
        finally:
            await database.dispose()

    def line(label: str, times: list[float]) -> str:
        return (
            f"  {label:24} median {statistics.median(times):7.1f} ms  "
            f"max {max(times):7.1f} ms  ({len(times)} requests)"
        )

    worst = max(statistics.median(month), statistics.median(year))
    print(
        "\n".join(
            [
                f"Insights over {args.orders:,} orders on PostgreSQL",
                f"  first refresh (a year)   {first * 1000:8.1f} ms  ({figures:,} daily figures)",
                f"  later refresh (7 days)   {later * 1000:8.1f} ms",
                line("page, last 30 days", month),
                line("page, last 365 days", year),
                f"  target < {TARGET_MS:.0f} ms: " + ("met" if worst < TARGET_MS else "NOT MET"),
            ]
        )
    )


if __name__ == "__main__":
    common.run(main(parse_args()))

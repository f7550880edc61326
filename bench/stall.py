"""Stall pass: how long the worker takes to find the shipments whose carrier went quiet,
over ``--shipments`` open shipments on PostgreSQL.

Seeds a fresh database in SQL (one order and one shipment per row of ``generate_series``,
two carrier events each: a pickup, then an in-transit or out-for-delivery scan from 0 to
70 hours ago, and ``--stalled`` per cent of them silent for 4 days), then measures:

- learning the allowed silences (the hourly aggregate query with ``percentile_cont``);
- the first pass, which finds the stalled shipments and marks them (one event each,
  through the same service the API uses);
- a second pass, which finds nothing new: the pass the worker runs every few minutes.

Target: a pass over 100,000 open shipments in < 2 s. Run it from the project folder::

    .venv/bin/python bench/stall.py
    .venv/bin/python bench/stall.py --shipments 20000 --stalled 5
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import _common as common

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text

from orderstatus.db.engine import Database
from orderstatus.db.migrate import upgrade
from orderstatus.services.stalls import learn_silences, stall_pass, stalled_query

TAG = "stall"
TARGET_SECONDS = 2.0

SEED = """
WITH shop AS (
    INSERT INTO shops (handle, name, default_locale, currency, timezone, accent_color,
                       next_order_number, version, created_at, notification_kinds_off,
                       notification_kinds_on, sms_confirmation_with_email, taxes_included,
                       storefront_enabled)
    VALUES ('bench', 'Bench', 'en', 'NOK', 'UTC', '#1f6f5c', 1, 1, now(), '[]', '[]',
            false, false, false)
    RETURNING id
)
INSERT INTO orders (id, shop_id, number, status_token, currency, customer_first_name,
                    email, shipping_address, payment_method, subtotal, shipping_total,
                    discount_total, tax_total, taxes_included, total, fulfillment_status,
                    delivery_status, version, created_at, updated_at)
SELECT i, shop.id, i::text, md5(i::text) || md5('t' || i), 'NOK', 'Bench',
       'bench@example.com', '{"country_code": "NO", "zip": "0150"}', 'card', 0, 0, 0, 0,
       false, 0, 'fulfilled', 'in_transit', 1, now() - interval '5 days',
       now() - interval '5 days'
FROM shop, generate_series(1, :n) AS i
"""

SHIPMENTS = """
INSERT INTO fulfillments (id, shop_id, order_id, carrier_code, tracking_number, status,
                          last_event_at, last_event_status, notify_customer, created_at,
                          updated_at, poll_failures)
SELECT i, o.shop_id, i, CASE WHEN i % 3 = 0 THEN 'postnord' ELSE 'bring' END,
       'T' || i, s.status, s.at, s.status, true, s.at - interval '80 hours',
       s.at, 0
FROM generate_series(1, :n) AS i
JOIN orders o ON o.id = i
CROSS JOIN LATERAL (
    SELECT CASE WHEN i % 10 = 0 THEN 'out_for_delivery' ELSE 'in_transit' END AS status,
           CASE WHEN i % 100 < :stalled THEN now() - interval '4 days'
                WHEN i % 10 = 0 THEN now() - (i % 20) * interval '1 hour'
                ELSE now() - (i % 70) * interval '1 hour' END AS at
) s
"""

EVENTS = """
INSERT INTO tracking_events (shop_id, fulfillment_id, status, occurred_at,
                             occurred_at_guessed, received_at, source, content_key)
SELECT f.shop_id, f.id, e.status, e.at, false, e.at, 'api', f.id || '-' || e.n
FROM fulfillments f
CROSS JOIN LATERAL (
    VALUES (1, 'carrier_picked_up', f.last_event_at - (f.id * 7 % 76) * interval '1 hour'),
           (2, f.status, f.last_event_at)
) AS e(n, status, at)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--pg-url", default=common.DEFAULT_PG_URL)
    parser.add_argument("--shipments", type=common.positive(int), default=100_000)
    parser.add_argument("--stalled", type=int, default=1, help="per cent silent for 4 days")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    common.cancel_on_sigterm()
    async with common.postgres_database(args.pg_url, TAG) as url:
        database = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            await upgrade(database)
            common.progress(TAG, f"seeding {args.shipments:,} open shipments")
            async with database.write() as session:
                values = {"n": args.shipments, "stalled": args.stalled}
                await session.execute(text(SEED), values)
                await session.execute(text(SHIPMENTS), values)
                await session.execute(text(EVENTS))
            async with database.write() as session:
                await session.execute(text("ANALYZE"))

            started = time.perf_counter()
            rules = await learn_silences(database)
            learned = time.perf_counter() - started

            started = time.perf_counter()
            first = await stall_pass(database, rules)
            first_seconds = time.perf_counter() - started

            started = time.perf_counter()
            second = await stall_pass(database, rules)
            second_seconds = time.perf_counter() - started

            async with database.read() as session:
                query = stalled_query(rules, datetime.now(UTC))
                compiled = query.compile(
                    dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
                )
                plan = (await session.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
        finally:
            await database.dispose()
    limits = ", ".join(
        f"{carrier}/{stage}: {allowed.total_seconds() / 3600:.1f} h"
        for (carrier, stage), allowed in sorted(rules.learned.items())
    )
    uses_index = any("ix_fulfillments_status_last_event_at" in line for line in plan)
    print(
        "\n".join(
            [
                f"stall pass over {args.shipments:,} open shipments on PostgreSQL",
                f"  learn allowed silences   {learned * 1000:8.1f} ms  ({limits or 'defaults'})",
                f"  first pass               {first_seconds * 1000:8.1f} ms  "
                f"found {first.found:,}, marked {first.marked:,}",
                f"  steady pass (none new)   {second_seconds * 1000:8.1f} ms  "
                f"found {second.found:,}",
                f"  query uses the (status, last_event_at) index: {'yes' if uses_index else 'no'}",
                f"  target < {TARGET_SECONDS:.0f} s a pass: "
                + ("met" if max(first_seconds, second_seconds) < TARGET_SECONDS else "NOT MET"),
            ]
        )
    )


if __name__ == "__main__":
    common.run(main(parse_args()))
